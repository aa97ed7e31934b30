"""lstm_impl against the goldens (float64 and float32) and against the scalar reference (hypothesis)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

from lstm_conformance.judge.compare import judge_case
from lstm_conformance.reference import run_reference
from lstm_conformance.run.runner import case_arrays, run_conformance
from lstm_impl import LSTM

GOLDEN_IDS = sorted(p.stem for p in __import__("pathlib").Path(__file__).resolve().parent.parent.joinpath("golden", "cases").glob("*.json"))


def _run_impl(inputs, params, variant=None):
    model = LSTM.from_params(params, dtype=inputs["x"].dtype, variant=variant or None)
    y, (h_n, c_n) = model.forward_sequence(inputs["x"], inputs["h0"], inputs["c0"], return_state=True,
                                           lengths=inputs.get("seq_lengths"))
    return {"y": y, "h_n": h_n, "c_n": c_n}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case_id", GOLDEN_IDS)
def test_lstm_impl_matches_every_golden_case(spec, golden_cases, case_id, dtype):
    case = next(c for c in golden_cases if c.id == case_id)
    inputs, params = case_arrays(spec, case, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid warning at any finite input
        result = _run_impl(inputs, params, case.variant)
    judgement = judge_case(spec, case.record, dtype, result)
    assert judgement.passed, "\n".join(judgement.reasons)
    for out in judgement.outputs:
        assert out.shape_ok and out.dtype_ok and out.values_ok, out
    assert all(r.ok for r in judgement.ranges)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_runner_passes_lstm_impl_in_process(dtype):
    result = run_conformance("numpy", dtype=dtype, isolate=False)
    assert result.summary() == {"passed": len(GOLDEN_IDS), "failed": 0, "skipped": 0, "errors": 0}
    worst = max(c.worst("max_abs_err") for c in result.cases)
    assert worst < {"float64": 1e-13, "float32": 1e-4}[dtype]


# ---------------------------------------------------------------- hypothesis: lstm_impl against the reference

EXTREMES = [-900.0, -60.0, -1e-300, 0.0, 1e-300, 60.0, 900.0]
value = st.one_of(st.floats(-3.0, 3.0, allow_nan=False), st.sampled_from(EXTREMES))


@st.composite
def lstm_problem(draw):
    T, B, I, H = (draw(st.integers(1, n)) for n in (5, 3, 4, 4))

    def array(*shape):
        n = int(np.prod(shape))
        return np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=np.float64).reshape(shape)

    inputs = {"x": array(T, B, I), "h0": array(B, H) / 1000.0, "c0": array(B, H)}
    inputs["h0"] = np.clip(inputs["h0"], -1.0, 1.0)
    params = {}
    for g in "ifgo":
        params[f"W_{g}"], params[f"U_{g}"], params[f"b_{g}"] = array(H, I), array(H, H), array(H)
    return inputs, params


@given(lstm_problem())
def test_lstm_impl_agrees_with_the_reference_float_mode(spec, problem):
    inputs, params = problem
    atol, rtol = spec.tolerance("float64")
    expected = run_reference(spec, {k: v.tolist() for k, v in inputs.items()},
                             {k: v.tolist() for k, v in params.items()}, mode="float")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _run_impl(inputs, params)
    for name, want in expected.items():
        np.testing.assert_allclose(got[name], np.array(want), atol=atol * 10, rtol=rtol * 10, err_msg=name)


@given(lstm_problem())
def test_lstm_impl_keeps_the_spec_range_invariants(spec, problem):
    from lstm_conformance.judge.compare import check_invariants
    inputs, params = problem
    outputs = _run_impl(inputs, params)
    h_n = outputs["h_n"]
    T, B, I = inputs["x"].shape
    env = {**inputs, "T": T, "B": B, "I": I, "H": h_n.shape[1]}
    atol, rtol = spec.tolerance("float64")
    checks = check_invariants(spec, outputs, env, atol, rtol)
    assert {c.quantity for c in checks} == {inv["quantity"] for inv in spec.invariants() if inv["quantity"] in outputs}
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert all(np.all(np.isfinite(v)) for v in outputs.values())


def test_float16_runs_every_case_but_those_the_spec_skips(spec, golden_cases):
    result = run_conformance("numpy", dtype="float16", isolate=False)
    skip_flags = set(spec.data["tolerances"]["float16"]["skip_flags"])
    should_skip = {c.id for c in golden_cases if skip_flags & set(c.flags)}
    assert should_skip, "no golden case carries float16's skip flags: the skip is dead"
    assert {c.id for c in result.cases if c.status == "skipped"} == should_skip
    assert {c.id for c in result.cases if c.status == "passed"} == {c.id for c in golden_cases} - should_skip
    assert all(c.reasons[0].startswith("spec: float16 skips cases flagged") for c in result.cases if c.status == "skipped")
