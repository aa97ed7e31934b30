"""The keras and flax adapters on every golden case: the base LSTM and the sequence structure (issue 9).

keras and keras-jax run bidirectional, stacked, reverse-only (LSTM(go_backwards=True), whose y comes in
processing order: declared as reverse_output=processing_order, which the harness undoes) and rows with
lengths (masks). They do not run a stacked reverse-only LSTM (a chain of go_backwards layers alternates
direction), and on the torch backend the float64 cases with lengths are skipped as the deviation they
are (a masked Keras LSTM computes its matmuls in float32). flax and flax-optimized run every structure,
with lengths declared as lengths=valid_steps (flax leaves the padded steps' states in y); rows of length
0 are skipped as flax's deviation. Every case of a variant an adapter supports must pass, every other
must be skipped with the expected reason; the counts come from the goldens (tests/conftest.py).
keras-jax at float64 computes partly in float32 (README: Third-party frameworks): every supported case
fails, all within float32's tolerance.

A missing framework skips these tests, except under tox -e thirdparty (LSTM_REQUIRE_THIRDPARTY=1),
where it fails. Adapters run in the harness's worker process, each in a fresh interpreter: Keras
picks its backend once per process and flax turns on jax_enable_x64.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ALL_IDS, GOLDEN_FLAGS, GOLDEN_VARIANTS

from lstm_adapters.flax_lstm import FlaxLSTMCellAdapter
from lstm_adapters.keras_lstm import KerasLSTMAdapter
from lstm_conformance.run.runner import run_conformance

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK = {"keras": "keras", "keras-jax": "keras", "flax": "flax", "flax-optimized": "flax"}
RUNS_FEATURES = {"direction", "num_layers", "lengths"}  # empty_rows only at its canonical default


def _require(framework: str) -> None:
    """Skip unless `framework` is installed; under tox -e thirdparty (LSTM_REQUIRE_THIRDPARTY=1) fail instead."""
    if importlib.util.find_spec(framework) is None:
        if os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":
            pytest.fail(f"{framework} is not installed, but tox -e thirdparty must run every adapter")
        pytest.skip(f"{framework} is not installed (tox -e thirdparty installs it)")


# The activations Keras runs, written out independently: act-keras-T6-B3-I3-H4 (recurrent_activation
# "hard_sigmoid", x / 6 + 0.5, and activation "relu").
KERAS_RUNS_ACTIVATIONS = [{"gate": {"name": "HardSigmoid", "alpha": 0.16666666666666666, "beta": 0.5},
                           "cell_input": {"name": "Relu", "alpha": 0, "beta": 0},
                           "cell_output": {"name": "Relu", "alpha": 0, "beta": 0}}]


def supported(impl: str, variant: dict) -> bool:
    """What the adapter runs (its supports(), written out independently)."""
    if FRAMEWORK[impl] == "keras" and variant.get("activations") in KERAS_RUNS_ACTIVATIONS:
        variant = {k: v for k, v in variant.items() if k != "activations"}
    if not set(variant) <= RUNS_FEATURES:
        return False
    if FRAMEWORK[impl] == "keras" and variant.get("direction") == "reverse" and "num_layers" in variant:
        return False  # a chain of go_backwards layers alternates direction
    return True


def skip_reason(impl: str, case: str, dtype: str) -> str | None:
    """The start of the reason `impl` skips `case` at `dtype` with, or None if it runs it."""
    variant = GOLDEN_VARIANTS[case]
    if not supported(impl, variant):
        return "the implementation does not support variant"
    if impl == "keras" and "lengths" in variant and dtype == "float64":
        return "deviation: Keras 3.15.1 (torch backend) runs a masked LSTM"
    if FRAMEWORK[impl] == "flax" and "zero_length_row" in GOLDEN_FLAGS[case]:
        return "deviation: flax nn.RNN(seq_lengths=...) gives a row of length 0"
    return None


def expected_ids(impl: str, dtype: str = "float32") -> tuple[list[str], list[str]]:
    """(the golden cases `impl` runs, the ones it skips), from the goldens' variants and flags."""
    run = [c for c in ALL_IDS if skip_reason(impl, c, dtype) is None]
    return run, [c for c in ALL_IDS if c not in run]


def test_the_goldens_hold_every_structure_the_adapters_run():
    """Else the tests below would pass vacuously on the structures they are about."""
    for impl in FRAMEWORK:
        variants = [GOLDEN_VARIANTS[c] for c in expected_ids(impl)[0]]
        for want in ({"direction": "bidirectional"}, {"direction": "reverse"}, {"num_layers": 2},
                     {"direction": "bidirectional", "num_layers": 2}, {"lengths": "zero_fill"},
                     {"direction": "reverse", "lengths": "zero_fill"},
                     {"direction": "bidirectional", "lengths": "zero_fill", "num_layers": 2}):
            assert any(want.items() <= v.items() for v in variants), (impl, want)
    assert any(GOLDEN_VARIANTS[c] == {"direction": "reverse", "num_layers": 2} for c in expected_ids("keras")[1])


def _check_run(spec, impl: str, dtype: str, result) -> None:
    run, skipped = expected_ids(impl, dtype)
    statuses = {c.id: c.status for c in result.cases}
    assert sorted(statuses) == ALL_IDS, "every golden case is reported"
    got_skipped = sorted(c for c, s in statuses.items() if s == "skipped")
    assert got_skipped == skipped, (f"{impl} at {dtype}: skipped {len(got_skipped)} case(s), expected {len(skipped)}; "
                                    f"unexpected {sorted(set(got_skipped) ^ set(skipped))}")
    for c in result.cases:
        if c.status == "skipped":
            assert c.reasons and c.reasons[0].startswith(skip_reason(impl, c.id, dtype)), (c.id, c.reasons)
    judged = [c for c in result.cases if c.id in run]
    if (impl, dtype) == ("keras-jax", "float64"):  # README: Keras on jax computes tanh of float64 in float32
        # act-keras-T6-B3-I3-H4 calls neither tanh nor sigmoid (hard_sigmoid and relu): float64-exact
        assert {c.id for c in judged if c.status == "passed"} == {"act-keras-T6-B3-I3-H4"}, \
            {c.id: c.status for c in judged}
        judged = [c for c in judged if c.status != "passed"]
        assert {c.status for c in judged} == {"failed"}, {c.id: c.status for c in judged}
        worst = max(c.worst("max_abs_err") for c in judged)
        atol, _ = spec.tolerance("float32")
        assert 1e-9 < worst < atol * 100, worst  # far above float64 rounding, at float32's
        return
    bad = {c.id: c.reasons[0] if c.reasons else c.status for c in judged if c.status != "passed"}
    assert not bad, (f"{impl} at {dtype}: {len(bad)} of {len(run)} case(s) did not pass, "
                     f"e.g. {dict(list(bad.items())[:3])}")
    assert len(judged) == len(run)
    for c in judged:  # the declared derived conventions are the ones applied, exactly where they apply
        v = GOLDEN_VARIANTS[c.id]
        want = []
        if FRAMEWORK[impl] == "keras" and v.get("direction") == "reverse":
            want.append("reverse_output=processing_order")
        if FRAMEWORK[impl] == "flax" and "lengths" in v:
            want.append("lengths=valid_steps")
        assert sorted(c.judged_under) == sorted(want), (c.id, c.judged_under)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", sorted(FRAMEWORK))
def test_every_golden_case_passes_or_is_skipped_with_a_reason(spec, impl, dtype):
    _require(FRAMEWORK[impl])
    result = run_conformance(impl, dtype=dtype, spec=spec)  # all golden cases, in the adapter's worker process
    _check_run(spec, impl, dtype, result)


# ------------------------------------------------------- a broken adapter is caught (the tests can fail)

def _swap_runs(spec, params):
    """The forward and reverse runs' parameters exchanged (W_i <-> W_i_reverse, W_i_l1 <-> W_i_l1_reverse)."""
    suffix = spec.data["structure"]["names"]["run"]["reverse"]
    out = dict(params)
    for name in params:
        if name.endswith(suffix):
            out[name], out[name.removesuffix(suffix)] = params[name.removesuffix(suffix)], params[name]
    return out


class KerasSwappedRuns(KerasLSTMAdapter):
    """Loads each layer's reverse parameters into Keras's forward layer and the other way round."""

    def run_variant(self, inputs, params, variant):
        return super().run_variant(inputs, _swap_runs(self.spec, params), variant)


class FlaxSwappedRuns(FlaxLSTMCellAdapter):
    """Loads each layer's reverse parameters into flax's forward RNN and the other way round."""

    def run_variant(self, inputs, params, variant):
        return super().run_variant(inputs, _swap_runs(self.spec, params), variant)


@pytest.mark.parametrize("ref, framework", [("tests.test_adapter_keras_flax:KerasSwappedRuns", "keras"),
                                            ("tests.test_adapter_keras_flax:FlaxSwappedRuns", "flax")])
def test_an_adapter_that_swaps_the_runs_fails_every_bidirectional_case(spec, ref, framework):
    _require(framework)
    structured = [c for c in expected_ids(framework)[0] if GOLDEN_VARIANTS[c]]
    result = run_conformance(ref, dtype="float32", spec=spec, patterns=structured)
    assert sorted(c.id for c in result.cases) == structured
    for c in result.cases:
        bidirectional = GOLDEN_VARIANTS[c.id].get("direction") == "bidirectional"
        want = ("failed",) if bidirectional else ("passed", "skipped")  # one run per layer: nothing to swap
        assert c.status in want, (c.id, c.status, c.reasons[:1])
    assert any(c.status == "failed" for c in result.cases)


def test_swap_runs_exchanges_the_reverse_parameters(spec):
    params = {"W_i": np.zeros(1), "W_i_reverse": np.ones(1),
              "W_i_l1": np.full(1, 2.0), "W_i_l1_reverse": np.full(1, 3.0)}
    assert {k: float(v[0]) for k, v in _swap_runs(spec, params).items()} == \
        {"W_i": 1.0, "W_i_reverse": 0.0, "W_i_l1": 3.0, "W_i_l1_reverse": 2.0}


LEAK_CHECK = """
import os
from lstm_adapters.keras_lstm import KerasJaxLSTMAdapter
from lstm_conformance.run.runner import run_conformance
KerasJaxLSTMAdapter()  # imports keras on jax in this process
print("KERAS_BACKEND after:", os.environ.get("KERAS_BACKEND"))
run = run_conformance("keras", dtype="float64", patterns=["base-T3-B2-I4-H5"])  # a fresh worker
print(run.impl, run.verdict)
"""


def test_the_keras_jax_adapter_does_not_leak_its_backend_into_later_workers():
    """Found in CI: keras-jax set KERAS_BACKEND=jax in the harness process, so the next `keras` worker ran on jax
    (and failed at float64 with jax's float32 tanh)."""
    _require("keras")
    _require("jax")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", LEAK_CHECK], capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "KERAS_BACKEND after: None" in proc.stdout, proc.stdout
    assert "(torch backend) PASS" in proc.stdout, proc.stdout


# ------------------------------------------------- the declared conventions matter (the tests can fail)

class KerasUndeclared(KerasLSTMAdapter):
    """Keras as it is, without declaring that go_backwards returns y in processing order."""

    conventions: dict = {}


class FlaxUndeclared(FlaxLSTMCellAdapter):
    """flax as it is, without declaring that y past a row's length holds the padded steps."""

    conventions: dict = {}


@pytest.mark.parametrize("ref, framework, family", [
    ("tests.test_adapter_keras_flax:KerasUndeclared", "keras", {"direction": "reverse"}),
    ("tests.test_adapter_keras_flax:FlaxUndeclared", "flax", {"lengths": "zero_fill"})])
def test_without_its_declared_convention_the_adapter_fails_those_cases(spec, ref, framework, family):
    _require(framework)
    cases = [c for c in expected_ids(framework)[0] if family.items() <= GOLDEN_VARIANTS[c].items()]
    result = run_conformance(ref, dtype="float32", spec=spec, patterns=cases)
    assert cases and sorted(c.id for c in result.cases) == sorted(cases)
    assert {c.status for c in result.cases} == {"failed"}, {c.id: c.status for c in result.cases}
    assert all(c.judged_under == [] for c in result.cases)


KERAS_MASKING = """
import json, os
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, keras
rng = np.random.default_rng(0)
B, T, I, H = 3, 5, 2, 2
x = rng.normal(size=(B, T, I)); h0 = rng.normal(size=(B, H)); c0 = rng.normal(size=(B, H))
lens = np.array([5, 3, 0])
post = np.arange(T)[None, :] < lens[:, None]          # (B, T) valid steps first
pre = np.arange(T)[None, :] >= T - lens[:, None]      # valid steps last
xpre = np.full_like(x, 99.0)
for b, n in enumerate(lens):
    xpre[b, T - n:] = x[b, :n]
weights = None
def run(x, mask, **kw):
    global weights
    layer = keras.layers.LSTM(H, return_sequences=True, return_state=True, dtype="float64", **kw)
    layer.build((B, T, I))
    if weights is None:
        weights = [rng.normal(size=w.shape) * 0.5 for w in layer.weights]
    for w, v in zip(layer.weights, weights):
        w.assign(v)
    return [keras.ops.convert_to_numpy(a).tolist() for a in layer(x, initial_state=[h0, c0], mask=mask)]
out = {"h0": h0.tolist(), "default": run(x, post), "zero": run(x, post, zero_output_for_mask=True),
       "pre": run(xpre, pre), "backwards": run(x, post, go_backwards=True),
       "row1_alone": run(x[:, :3], None), "row1_backwards": run(x[:, :3], None, go_backwards=True)}
print(json.dumps(out))
"""


def test_keras_masking_is_pinned_post_and_pre_padding():
    """What Keras 3.15.1 does with a mask (keras_lstm's docstring, spec lengths=repeat_last): the state is held,
    a masked output repeats the previous one (0 before any) unless zero_output_for_mask, pre-padding gives the
    same state and outputs shifted, go_backwards over a mask puts the padding first."""
    _require("keras")
    _require("torch")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", KERAS_MASKING], capture_output=True, text=True, timeout=300,
                          env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = {k: [np.asarray(a) for a in v] if k != "h0" else np.asarray(v) for k, v in json.loads(proc.stdout).items()}
    y, h, c = out["default"]                  # y (B, T, H)
    y1, h1, c1 = out["row1_alone"]            # every row run for 3 steps, unmasked: row 1's truth
    np.testing.assert_allclose(y[1, :3], y1[1], atol=1e-6)   # float64 masked: float32-accurate (see docstring)
    np.testing.assert_allclose(h[1], h1[1], atol=1e-6)
    assert (y[1, 3:] == y[1, 2]).all()        # repeat_last: the masked steps repeat the last valid output
    assert (y[2] == 0).all()                  # a row of length 0: no previous output, 0
    np.testing.assert_array_equal(h[2], out["h0"][2])   # ... and it keeps h0 (canonical empty_rows)
    yz, hz, _ = out["zero"]
    assert (yz[1, 3:] == 0).all() and (yz[2] == 0).all()  # zero_output_for_mask=True: zero_fill
    np.testing.assert_array_equal(yz[1, :3], y[1, :3])
    yp, hp, _ = out["pre"]
    np.testing.assert_allclose(yp[1, 2:], y[1, :3], atol=1e-12)  # pre-padding: the same outputs, at the end
    assert (yp[1, :2] == 0).all()
    np.testing.assert_allclose(hp, h, atol=1e-12)            # and the same final state
    yb, hb, _ = out["backwards"]
    yb1, hb1, _ = out["row1_backwards"]
    assert (yb[1, :2] == 0).all()             # go_backwards over a mask: the padding first, 0 ...
    np.testing.assert_allclose(yb[1, 2:], yb1[1], atol=1e-6)  # ... then x[2], x[1], x[0]
    np.testing.assert_allclose(hb[1], hb1[1], atol=1e-6)


FLAX_EMPTY_ROW = """
import json
import numpy as np
from lstm_adapters.flax_lstm import FlaxLSTMCellAdapter
from lstm_conformance.cases.golden import load_golden
from lstm_conformance.run.runner import case_arrays
from lstm_conformance.spec.loader import load_spec
spec = load_spec()
case = load_golden(None, ["len0-T4-B3-I2-H3"], spec)[0]
inputs, params = case_arrays(spec, case, "float64")
a = FlaxLSTMCellAdapter()
out = a.compute(inputs, params, case.variant)
full = a.compute({k: v for k, v in inputs.items() if k != "seq_lengths"}, params, {})  # every row over all T steps
print(json.dumps({"lengths": inputs["seq_lengths"].tolist(), "h_n": out["h_n"].tolist(), "full_h_n": full["h_n"].tolist(),
                  "h0": inputs["h0"].tolist(), "expected": case.record["expected"]["h_n"]}))
"""


def test_flax_empty_row_deviation_is_pinned():
    """flax 0.12.8 gives a row of length 0 the state after all T padded steps (README, Deviations): if flax
    changes, this fails and the skip in flax_lstm.py must go."""
    _require("flax")
    proc = subprocess.run([sys.executable, "-c", FLAX_EMPTY_ROW], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = {k: np.asarray(v) for k, v in json.loads(proc.stdout).items()}
    empty = int(np.flatnonzero(out["lengths"] == 0)[0])
    np.testing.assert_allclose(out["h_n"][empty], out["full_h_n"][empty], atol=1e-12)
    assert np.abs(out["h_n"][empty] - out["expected"][empty]).max() > 0.1   # not h0 (the golden) ...
    np.testing.assert_array_equal(out["expected"][empty], out["h0"][empty])
    others = [b for b in range(len(out["lengths"])) if b != empty]            # ... while the other rows conform
    np.testing.assert_allclose(out["h_n"][others], out["expected"][others], atol=1e-12)
