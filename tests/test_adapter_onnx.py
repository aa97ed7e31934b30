"""The adapters that run ONNX's LSTM operator (onnxruntime, onnx-reference) over every golden case, and
the behaviours pinned in their modules (ONNX Runtime's empty rows, the reference evaluator's ignored
sequence_lens, ONNX Runtime's refusals).

A missing framework skips these tests, except under LSTM_REQUIRE_THIRDPARTY=1, where it fails.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from tests.conftest import GOLDEN_VARIANTS

from lstm_conformance.run.runner import case_arrays, run_conformance


def _require(*frameworks: str) -> None:
    """Skip unless every one of `frameworks` is installed; fail instead under LSTM_REQUIRE_THIRDPARTY=1."""
    for framework in frameworks:
        if importlib.util.find_spec(framework) is None:
            if os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":
                pytest.fail(f"{framework} is not installed, but LSTM_REQUIRE_THIRDPARTY=1 requires every adapter")
            pytest.skip(f"{framework} is not installed (pip install onnx onnxruntime)")


def _flags(golden_cases) -> dict[str, list[str]]:
    return {c.id: list(c.flags) for c in golden_cases}


def _zeros_skip(spec, case_id: str, flags: list[str]) -> bool:
    """Whether an adapter declaring empty_rows=zeros is skipped on the case: a canonical golden that a row of
    length 0 decides (the `zero_length_row` flag the spec names)."""
    feature = spec.data["features"]["empty_rows"]
    return "empty_rows" not in GOLDEN_VARIANTS[case_id] and feature["flag"] in flags


def _check(result, expected: dict[str, tuple[str, str]]) -> None:
    """`expected`: case id -> (status, words its first reason contains) for every golden case."""
    got = {c.id: (c.status, c.reasons[0] if c.reasons else "") for c in result.cases}
    assert sorted(got) == sorted(GOLDEN_VARIANTS), "run_conformance did not run every golden case"
    wrong = {cid: got[cid] for cid, (status, words) in expected.items()
             if got[cid][0] != status or words not in got[cid][1]}
    assert not wrong, f"{len(wrong)} case(s) differ from what is expected, e.g. {dict(list(wrong.items())[:4])}"


# ---------------------------------------------------------------- onnxruntime

def _ort_expected(spec, golden_cases, dtype: str) -> dict[str, tuple[str, str]]:
    """In the runner's order: the declared convention, supports() (what the model encodes), the dtype, then
    the deviation ONNX Runtime has (clip under the operator text's convention)."""
    from lstm_adapters.onnx_model import OnnxOperatorAdapter

    flags = _flags(golden_cases)
    out = {}
    for cid, variant in GOLDEN_VARIANTS.items():
        if _zeros_skip(spec, cid, flags[cid]):
            out[cid] = ("skipped", "follows empty_rows=zeros")
        elif OnnxOperatorAdapter.not_encoded(None, variant):
            out[cid] = ("skipped", "does not support variant")
        elif dtype == "float64":
            out[cid] = ("skipped", "LSTM operator does not support double")
        elif variant.get("clip", {}).get("convention") == "activation_inputs":
            out[cid] = ("skipped", "deviation: ONNX Runtime clips only the gate pre-activations")
        else:
            out[cid] = ("passed", "")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_onnxruntime_against_every_golden_case(spec, golden_cases, dtype):
    _require("onnx", "onnxruntime")
    result = run_conformance("onnxruntime", dtype=dtype, spec=spec)
    expected = _ort_expected(spec, golden_cases, dtype)
    _check(result, expected)
    zero_length = sum(_zeros_skip(spec, cid, f) for cid, f in _flags(golden_cases).items())
    assert zero_length == 2, "the goldens hold len0-T4-B3-I2-H3 and bidir-len0-T4-B3-I2-H3"
    passed = sum(status == "passed" for status, _ in expected.values())
    not_onnx = sum(bool({"proj_size", "layer_norm"} & set(v)) for v in GOLDEN_VARIANTS.values())  # ONNX has neither
    assert not_onnx == 8
    # 2 length-0, 3 cifg/cell clip, 1 deviation, 8 projection or layer norm
    assert passed == (0 if dtype == "float64" else len(GOLDEN_VARIANTS) - 6 - not_onnx)
    assert result.summary() == {"passed": passed, "failed": 0, "skipped": len(GOLDEN_VARIANTS) - passed,
                                "errors": 0}, result.summary()


def test_onnxruntime_declares_its_empty_rows_and_supports_every_structure(spec):
    _require("onnx", "onnxruntime")
    from lstm_adapters.onnxruntime_lstm import OnnxRuntimeLSTMAdapter

    adapter = OnnxRuntimeLSTMAdapter()
    assert adapter.conventions == {"empty_rows": "zeros"}
    for variant in GOLDEN_VARIANTS.values():
        encoded = variant.get("coupling") != "cifg" and variant.get("clip", {}).get("convention") != "cell_state" \
            and not {"proj_size", "layer_norm"} & set(variant)
        assert adapter.supports(variant) == encoded, variant  # ONNX has no CIFG, cell-state clip, projection, layer norm
    assert not adapter.supports({"peepholes": True})  # a feature the model does not encode is refused


def test_onnxruntime_returns_zeros_for_a_row_of_length_0(spec, golden_cases):
    """Pins the convention declared: len0-T4-B3-I2-H3 (lengths [4, 0, 2]) has h_n[1] = h0[1] in the canonical
    golden; ONNX Runtime gives exactly 0 for the empty row's h_n and c_n, and y = 0 for it at every step."""
    _require("onnx", "onnxruntime")
    from lstm_adapters.onnxruntime_lstm import OnnxRuntimeLSTMAdapter

    for cid, empty in (("len0-T4-B3-I2-H3", [1]), ("bidir-len0-T4-B3-I2-H3", [0])):
        (case,) = [c for c in golden_cases if c.id == cid]
        inputs, params = case_arrays(spec, case, "float32")
        assert np.flatnonzero(inputs["seq_lengths"] == 0).tolist() == empty
        out = OnnxRuntimeLSTMAdapter().compute(inputs, params, case.variant)
        b = empty[0]
        assert np.all(out["h_n"][..., b, :] == 0) and np.all(out["c_n"][..., b, :] == 0), out["h_n"]
        assert np.all(out["y"][:, b] == 0)
        assert np.abs(inputs["h0"][..., b, :]).max() > 0.4  # the canonical answer is far from 0
        others = [r for r in range(inputs["x"].shape[1]) if r != b]
        expected = np.asarray(case.record["expected"]["h_n"])
        assert np.allclose(out["h_n"][..., others, :], expected[..., others, :], atol=1e-5)


def test_onnxruntime_batch_first_skips_every_case_with_its_own_words(spec):
    """onnxruntime-batch-first builds the same models with layout=1; ONNX Runtime refuses them, so every case is
    skipped with its words (and, should it stop refusing, they are judged under layout=batch_first)."""
    _require("onnx", "onnxruntime")
    result = run_conformance("onnxruntime-batch-first", dtype="float32", spec=spec, patterns=["base-T3-*", "bidir-T5-*"])
    assert [c.status for c in result.cases] == ["skipped", "skipped"]
    for c in result.cases:
        assert c.reasons[0].startswith("onnxruntime refuses layout=1: layout_ == 0 was false. Batchwise recurrent "
                                       "operations (layout == 1) are not supported"), c.reasons
    assert result.verdict == "NOT RUN"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_onnx_reference_runs_layout_1_under_the_declared_batch_first(spec, dtype):
    """The reference evaluator runs layout=1 (x [B, T, I], Y [B, T, D, H]): the same cases pass as with
    layout=0, judged under layout=batch_first; the layout=1 graph itself is what is checked here."""
    _require("onnx")
    adapter = _reference()
    ids = [c for c, v in GOLDEN_VARIANTS.items() if v and adapter.why_not(v) is None] + ["base-T4-B6-I2-H3-rows",
                                                                                       "base-T3-B2-I4-H5"]
    result = run_conformance("onnx-reference-batch-first", dtype=dtype, spec=spec, patterns=ids)
    assert {c.status for c in result.cases} == {"passed"}, {c.id: c.reasons[:1] for c in result.cases}
    assert {tuple(c.judged_under) for c in result.cases} == {("layout=batch_first",)}
    assert any(GOLDEN_VARIANTS[c.id].get("direction") == "bidirectional" and GOLDEN_VARIANTS[c.id].get("num_layers")
               for c in result.cases)


def test_onnxruntime_refuses_batch_first(spec):
    """ONNX Runtime refuses layout=1 when the session is built, in a one-node model of its own (no adapter)."""
    _require("onnx", "onnxruntime")
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((1, 4, 1), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 4, 1), np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=1, layout=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [2, 3, 1])],
                              [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)], initializer=[w, r])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    with pytest.raises(Exception, match=r"Batchwise recurrent operations \(layout == 1\) are not supported"):
        onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------- onnx-reference

def _reference():
    from lstm_adapters.onnx_reference_lstm import OnnxReferenceLSTMAdapter

    return OnnxReferenceLSTMAdapter()


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_onnx_reference_against_every_golden_case(spec, dtype):
    _require("onnx")
    adapter = _reference()
    result = run_conformance("onnx-reference", dtype=dtype, spec=spec)
    expected = {cid: ("passed", "") if adapter.why_not(v) is None else
                ("skipped", "does not support variant") if not adapter.supports(v) else
                ("skipped", adapter.refused(v)) for cid, v in GOLDEN_VARIANTS.items()}
    _check(result, expected)
    refused = sum(adapter.why_not(v) is not None for v in GOLDEN_VARIANTS.values())
    if adapter.version == "1.23.2":  # pinned: it ignores sequence_lens, input_forget, clip and activations
        ignored = [v for v in GOLDEN_VARIANTS.values() if {"lengths", "coupling", "clip", "activations"} & set(v)]
        not_onnx = [v for v in GOLDEN_VARIANTS.values() if {"proj_size", "layer_norm"} & set(v) and v not in ignored]
        assert refused == len(ignored) + len(not_onnx) == 25 + 7
    assert result.summary() == {"passed": len(GOLDEN_VARIANTS) - refused, "failed": 0, "skipped": refused,
                                "errors": 0}, result.summary()


def test_onnx_reference_version_is_pinned():
    """A new onnx must be pinned (its DEPARTURES entry) before its reference runs more than the base LSTM."""
    _require("onnx")
    from lstm_adapters.onnx_reference_lstm import DEPARTURES

    adapter = _reference()
    if adapter.version not in DEPARTURES:
        message = (f"onnx {adapter.version} is not in DEPARTURES: run the goldens through it and record what "
                   f"its reference LSTM does (only the base LSTM runs until then)")
        if os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_onnx_reference_refuses_what_it_ignores(spec, golden_cases):
    """On a pinned version every departure is refused by supports() and by a direct call; on onnx 1.23.2,
    sequence_lens changes nothing at all (the evidence behind its DEPARTURES entry)."""
    _require("onnx")
    from lstm_adapters import onnx_model
    from lstm_adapters.onnx_reference_lstm import DEPARTURES

    adapter = _reference()
    departures = DEPARTURES.get(adapter.version)
    if departures is None:
        pytest.skip(f"onnx {adapter.version} is not pinned")
    (case,) = [c for c in golden_cases if c.id == "len-T6-B4-I3-H5"]
    inputs, params = case_arrays(spec, case, "float64")
    if "lengths" in departures:
        assert "sequence_lens" in adapter.why_not(case.variant)
        assert adapter.why_not({"lengths": "zero_fill", "empty_rows": "zeros"})
        with pytest.raises(ValueError, match="sequence_lens"):
            adapter.compute(inputs, params, case.variant)
        # the model with sequence_lens, evaluated anyway, equals the model without it, bit for bit
        with_lengths = onnx_model.build(spec, inputs, params, case.variant)
        without = onnx_model.build(spec, {k: v for k, v in inputs.items() if k != "seq_lengths"}, params, {})
        a, b = adapter.evaluate(with_lengths), adapter.evaluate(without)
        assert all(np.array_equal(p, q) for p, q in zip(a, b))
    for variant in ({"direction": "reverse"}, {"direction": "bidirectional", "num_layers": 2}, {"peephole": True}):
        assert (adapter.why_not(variant) is None) == (not set(variant) & set(departures))
    # input_forget and clip, likewise: the model with the attribute equals the model without it, bit for bit
    for cid, attribute in (("ifg-T5-B3-I3-H4", "coupling"), ("clip-gates-T6-B3-I3-H4", "clip"),
                           ("act-hardsig-T6-B3-I3-H4", "activations")):
        if attribute not in departures:
            continue
        (case,) = [c for c in golden_cases if c.id == cid]
        inputs, params = case_arrays(spec, case, "float64")
        assert attribute in case.variant and adapter.why_not(case.variant) == departures[attribute]
        with_attr = onnx_model.build(spec, inputs, params, case.variant)
        assert any(a.name in ("input_forget", "clip", "activations") for n in with_attr.model.graph.node
                   for a in n.attribute)
        without = onnx_model.build(spec, inputs, params, {})
        a, b = adapter.evaluate(with_attr), adapter.evaluate(without)
        assert all(np.array_equal(p, q) for p, q in zip(a, b)), cid


def test_onnx_reference_on_an_unpinned_version_runs_only_the_base_lstm(spec):
    _require("onnx")
    adapter = _reference()
    adapter.version = "0.0.0"
    assert adapter.supports({}) and adapter.why_not({}) is None
    for variant in GOLDEN_VARIANTS.values():
        if variant and adapter.supports(variant):  # what the model encodes, refused until pinned
            assert "not pinned" in adapter.why_not(variant)
            assert "not pinned" in adapter.skip_reason(variant, "float64")


# ---------------------------------------------------------------- the model, and what the tests catch

def test_the_model_chains_one_lstm_node_per_layer(spec, golden_cases):
    _require("onnx")
    from lstm_adapters import onnx_model

    (case,) = [c for c in golden_cases if c.id == "stack2-bidir-len-T5-B3-I3-H4"]
    inputs, params = case_arrays(spec, case, "float32")
    built = onnx_model.build(spec, inputs, params, case.variant)
    ops = [n.op_type for n in built.model.graph.node]
    assert ops == ["LSTM", "Transpose", "Reshape"] * 2 + ["Concat", "Concat"], ops
    lstm = [n for n in built.model.graph.node if n.op_type == "LSTM"]
    assert [list(n.input) for n in lstm][1][0] == "X_l1"  # layer 1 reads layer 0's y
    assert all({a.name: a for a in n.attribute}["direction"].s == b"bidirectional" for n in lstm)
    init = {t.name: tuple(t.dims) for t in built.model.graph.initializer}
    assert init["W_l0"] == (2, 16, 3) and init["W_l1"] == (2, 16, 8) and init["B_l1"] == (2, 32)
    assert built.feeds["sequence_lens"].dtype == np.int32
    assert {k: v.shape for k, v in built.feeds.items() if k.startswith("initial_")} == \
        {f"initial_{s}_l{k}": (2, 3, 4) for s in "hc" for k in (0, 1)}


@pytest.mark.parametrize("impl", ["onnxruntime", "onnx-reference"])
def test_a_wrong_y_transpose_fails_the_bidirectional_cases(spec, monkeypatch, impl):
    """Broken on purpose: Y [T, D, B, H] transposed to [T, B, H, D] (pytorch#10838's interleaving) leaves one
    direction right and fails every bidirectional golden."""
    _require("onnx", *(["onnxruntime"] if impl == "onnxruntime" else []))
    from lstm_adapters import onnx_model
    from lstm_conformance.run.adapters import load_adapter

    monkeypatch.setattr(onnx_model, "Y_PERM", (0, 2, 3, 1))
    adapter = load_adapter(impl)  # in-process, so the patch applies
    bidir = sorted(c for c, v in GOLDEN_VARIANTS.items() if v.get("direction") == "bidirectional")
    others = ["base-T3-B2-I4-H5", "rev-T5-B3-I4-H6", "stack2-T4-B2-I3-H5"]
    result = run_conformance(adapter, dtype="float32", spec=spec, patterns=bidir + others)
    status = {c.id: c.status for c in result.cases}
    judged_bidir = [c for c in bidir if status[c] != "skipped"]
    assert len(judged_bidir) >= 2 and all(status[c] == "failed" for c in judged_bidir), status
    assert all(status[c] == "passed" for c in others), status


def test_the_reference_fails_the_length_goldens_if_it_claims_sequence_lens(spec, monkeypatch):
    """Broken on purpose: without its DEPARTURES entry the reference evaluator runs every golden with lengths,
    ignores sequence_lens, and fails them all: the goldens catch what supports() refuses."""
    _require("onnx")
    from lstm_adapters import onnx_reference_lstm

    adapter = _reference()
    if "lengths" not in onnx_reference_lstm.DEPARTURES.get(adapter.version, {}):
        pytest.skip(f"onnx {adapter.version}'s reference is not known to ignore sequence_lens")
    monkeypatch.setitem(onnx_reference_lstm.DEPARTURES, adapter.version, {})
    with_lengths = sorted(c for c, v in GOLDEN_VARIANTS.items() if "lengths" in v)
    result = run_conformance(adapter, dtype="float64", spec=spec, patterns=with_lengths)
    assert {c.status for c in result.cases} == {"failed"}, {c.id: c.status for c in result.cases}


def test_onnxruntime_clip_is_the_gate_preactivations_not_the_operator_text(spec, golden_cases):
    """The deviation ONNX Runtime's adapter skips with (README, Deviations): on clip-act-T6-B3-I3-H4 (the
    operator text's clip, activation_inputs) ONNX Runtime matches the reference under gate_preactivations to
    float32 accuracy and is far from the case's golden."""
    _require("onnx", "onnxruntime")
    from lstm_adapters import onnx_model
    from lstm_adapters.onnxruntime_lstm import OnnxRuntimeLSTMAdapter
    from lstm_conformance.reference.lstm import run_reference

    (case,) = [c for c in golden_cases if c.id == "clip-act-T6-B3-I3-H4"]
    assert case.variant["clip"]["convention"] == "activation_inputs"
    adapter = OnnxRuntimeLSTMAdapter()
    assert adapter.skip_reason(case.variant, "float32").startswith("deviation: ONNX Runtime clips only")
    inputs, params = case_arrays(spec, case, "float32")
    y, h_n, c_n = adapter.evaluate(onnx_model.build(spec, inputs, params, case.variant))  # the skip bypassed
    gates_only = {**case.variant, "clip": {**case.variant["clip"], "convention": "gate_preactivations"}}
    other = run_reference(spec, case.record["inputs"], case.record["params"], variant=gates_only, mode="float")
    for name, got in (("y", y), ("h_n", h_n[0]), ("c_n", c_n[0])):
        assert np.abs(got - np.asarray(other[name])).max() < 5e-7, name
    assert np.abs(y - np.asarray(case.record["expected"]["y"])).max() > 0.05


def _ort_with(spec, case, attributes: dict):
    """ONNX Runtime's outputs for the case's model at float32 with the LSTM node's activation_alpha and
    activation_beta replaced by `attributes` (a value None removes the attribute)."""
    from onnx import helper

    from lstm_adapters import onnx_model
    from lstm_adapters.onnxruntime_lstm import OnnxRuntimeLSTMAdapter

    inputs, params = case_arrays(spec, case, "float32")
    built = onnx_model.build(spec, inputs, params, case.variant)
    (node,) = [n for n in built.model.graph.node if n.op_type == "LSTM"]
    kept = [a for a in node.attribute if a.name not in attributes]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(k, v) for k, v in attributes.items() if v is not None])
    return built.outputs(*OnnxRuntimeLSTMAdapter().evaluate(built))


def _reference_with(spec, case, functions: dict):
    """The reference's outputs for the case with some of its functions replaced: role -> (name, alpha, beta)."""
    from lstm_conformance.reference.lstm import run_reference

    acts = dict(case.variant["activations"])
    for role, (name, alpha, beta) in functions.items():
        acts[role] = {"name": name, "alpha": alpha, "beta": beta}
    return run_reference(spec, case.record["inputs"], case.record["params"],
                         variant={**case.variant, "activations": acts}, mode="float")


def _close(got: dict, want: dict, tol: float = 5e-6) -> bool:
    return all(np.abs(np.asarray(got[k], dtype=np.float64) - np.asarray(want[k])).max() < tol for k in want)


def test_onnxruntime_reads_alpha_and_beta_only_for_functions_that_take_them(spec, golden_cases):
    """ONNX Runtime 1.32.0 consumes activation_alpha (and activation_beta) left to right, one entry per function
    that takes one; a list with one entry per function (0 for Sigmoid), as the operator text can be read, shifts
    every later value. The model builder writes ONNX Runtime's form."""
    _require("onnx", "onnxruntime")
    from lstm_adapters import onnx_model

    (case,) = [c for c in golden_cases if c.id == "act-leaky-elu-T6-B3-I3-H4"]  # Sigmoid, LeakyRelu 0.1, Elu 1.5
    assert onnx_model.activation_lists(spec, case.variant) == {
        "activations": ["Sigmoid", "LeakyRelu", "Elu"], "activation_alpha": [0.1, 1.5]}
    golden = case.record["expected"]
    assert _close(_ort_with(spec, case, {}), golden)
    per_function = _ort_with(spec, case, {"activation_alpha": [0.0, 0.1, 1.5]})
    shifted = _reference_with(spec, case, {"cell_input": ("LeakyRelu", 0.0, 0), "cell_output": ("Elu", 0.1, 0)})
    assert _close(per_function, shifted) and not _close(per_function, golden)


def test_onnxruntime_defaults_for_omitted_alpha_and_beta_are_pinned(spec, golden_cases):
    """With activation_alpha and activation_beta omitted, ONNX Runtime 1.32.0 uses LeakyRelu 0.01, Elu 1.0 and
    HardSigmoid (0.2, 0.5), as the operator text, but ThresholdedRelu 0 where the ONNX operator ThresholdedRelu
    defaults to 1.0 (README, Deviations)."""
    _require("onnx", "onnxruntime")
    cases = {c.id: c for c in golden_cases}
    omitted = {"activation_alpha": None, "activation_beta": None}
    leaky_elu = cases["act-leaky-elu-T6-B3-I3-H4"]
    assert _close(_ort_with(spec, leaky_elu, omitted),
                  _reference_with(spec, leaky_elu, {"cell_input": ("LeakyRelu", 0.01, 0), "cell_output": ("Elu", 1.0, 0)}))
    hard = cases["act-hardsig-T6-B3-I3-H4"]  # HardSigmoid(0.2, 0.5): the defaults themselves
    assert _close(_ort_with(spec, hard, omitted), hard.record["expected"])
    thresholded = cases["act-thresh-softsign-T6-B3-I3-H4"]  # ThresholdedRelu 0.5
    got = _ort_with(spec, thresholded, omitted)
    assert _close(got, _reference_with(spec, thresholded, {"cell_input": ("ThresholdedRelu", 0.0, 0)}))
    assert not _close(got, _reference_with(spec, thresholded, {"cell_input": ("ThresholdedRelu", 1.0, 0)}))
