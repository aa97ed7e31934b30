"""Derived conventions an adapter declares (spec/lstm.yaml derived_conventions, lstm_conformance/judge/declared.py):
the harness feeds the declared layout and undoes it on the outputs; an adapter that follows a convention
passes only with its declaration, and one that declares a convention it does not follow fails. The
adapters here are lstm_impl (through the numpy adapter) made to follow each convention."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from lstm_adapters.numpy_lstm import NumpyLSTMAdapter
from lstm_conformance.run.adapters import AdapterError
from lstm_conformance.judge.declared import derived_conventions, resolve
from lstm_conformance.run.runner import run_conformance
from lstm_conformance.spec.loader import SpecError, spec_from_data
from tests.conftest import ALL_IDS, GOLDEN_VARIANTS


def ids(**want) -> list[str]:
    """The golden cases whose variant holds every FEATURE=VALUE given (VALUE None: the feature is absent)."""
    return [c for c in ALL_IDS if all(GOLDEN_VARIANTS[c].get(f) == v for f, v in want.items())]


class BatchFirst(NumpyLSTMAdapter):
    """Reads x as (B, T, I), returns y as (B, T, D * H); states as the spec has them."""

    conventions = {"layout": "batch_first"}

    def compute(self, inputs, params, variant):
        out = super().compute({**inputs, "x": inputs["x"].transpose(1, 0, 2)}, params, variant)
        return {**out, "y": np.ascontiguousarray(out["y"].transpose(1, 0, 2))}


class BatchFirstIgnored(NumpyLSTMAdapter):
    """Declares batch-first but reads x as time-major and returns y time-major: a broken claim."""

    conventions = {"layout": "batch_first"}

    def compute(self, inputs, params, variant):
        return super().compute({**inputs, "x": np.ascontiguousarray(inputs["x"].transpose(1, 0, 2))}, params, variant)


class ProcessingOrder(NumpyLSTMAdapter):
    """A reverse-only LSTM that returns y over all T steps in the order it computed it (Keras go_backwards)."""

    conventions = {"reverse_output": "processing_order"}

    def compute(self, inputs, params, variant):
        out = super().compute(inputs, params, variant)
        if variant.get("direction") == "reverse":
            out["y"] = np.ascontiguousarray(out["y"][::-1])
        return out


class RepeatLast(NumpyLSTMAdapter):
    """Past a row's length y repeats the row's last valid output (Keras masking, zero_output_for_mask=False)."""

    conventions = {"lengths": "repeat_last"}

    def compute(self, inputs, params, variant):
        out = super().compute(inputs, params, variant)
        for b, n in enumerate(inputs.get("seq_lengths", [])):
            if n:
                out["y"][n:, b] = out["y"][n - 1, b]
        return out


class ValidSteps(NumpyLSTMAdapter):
    """Past a row's length y holds anything (flax's padded steps): here 7."""

    conventions = {"lengths": "valid_steps"}

    def compute(self, inputs, params, variant):
        out = super().compute(inputs, params, variant)
        for b, n in enumerate(inputs.get("seq_lengths", [])):
            out["y"][n:, b] = 7.0
        return out


def undeclared(cls: type) -> NumpyLSTMAdapter:
    adapter = cls()
    adapter.conventions = {}
    return adapter


def statuses(result) -> dict[str, str]:
    return {c.id: c.status for c in result.cases}


CASES = {  # adapter -> the cases its convention changes (where it fails undeclared), and others it must pass
    BatchFirst: ([c for c in ALL_IDS if c.startswith(("base-T3", "bidir-T5", "stack2-bidir-len", "rev-len", "len0-"))],
                 []),
    ProcessingOrder: (ids(direction="reverse"), ids(direction="bidirectional")[:2] + ["base-T3-B2-I4-H5"]),
    RepeatLast: (ids(lengths="zero_fill", empty_rows=None), ["base-T3-B2-I4-H5"]),
    ValidSteps: (ids(lengths="zero_fill", empty_rows=None), ["base-T3-B2-I4-H5"]),
}


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_an_adapter_following_a_convention_passes_with_its_declaration_and_fails_without(spec, cls):
    changed, others = CASES[cls]
    assert changed, "the goldens must hold cases the convention changes"
    declared = run_conformance(cls(), dtype="float64", spec=spec, patterns=changed + others)
    assert set(statuses(declared).values()) == {"passed"}, {c.id: c.reasons[:1] for c in declared.cases}
    label = "=".join(next(iter(cls.conventions.items())))
    for c in declared.cases:
        assert c.judged_under == ([label] if c.id in changed else []), (c.id, c.judged_under)
    plain = run_conformance(undeclared(cls), dtype="float64", spec=spec, patterns=changed)
    if cls is BatchFirst:  # T = B = 1 would not show it; these cases all have T != B
        assert all(c.status in ("failed", "error") for c in plain.cases), statuses(plain)
    else:
        assert set(statuses(plain).values()) == {"failed"}, statuses(plain)


def test_a_declared_convention_the_adapter_does_not_follow_fails(spec):
    result = run_conformance(BatchFirstIgnored(), dtype="float64", spec=spec, patterns=["base-T3-B2-I4-H5", "bidir-T5-*"])
    assert set(statuses(result).values()) <= {"failed", "error"} and result.verdict == "FAIL", statuses(result)


def test_repeat_last_is_judged_exactly(spec):
    """A zero-filling implementation that declares repeat_last fails: the repetition is checked, not ignored."""
    class ZeroFillClaimsRepeat(NumpyLSTMAdapter):
        conventions = {"lengths": "repeat_last"}

    result = run_conformance(ZeroFillClaimsRepeat(), dtype="float64", spec=spec, patterns=["len-T6-B4-I3-H5"])
    assert statuses(result) == {"len-T6-B4-I3-H5": "failed"}
    assert any(r.startswith("y") for r in result.cases[0].reasons), result.cases[0].reasons


def test_valid_steps_still_judges_the_valid_steps_and_the_state(spec):
    class WrongState(ValidSteps):
        def compute(self, inputs, params, variant):
            out = super().compute(inputs, params, variant)
            out["h_n"] = out["h_n"] + 1e-3
            return out

    result = run_conformance(WrongState(), dtype="float64", spec=spec, patterns=["len-T6-B4-I3-H5"])
    assert statuses(result) == {"len-T6-B4-I3-H5": "failed"}


def test_carry_over_feeds_and_reads_through_the_declared_layout(spec):
    result = run_conformance(BatchFirst(), dtype="float64", spec=spec, patterns=["base-T12-B4-I8-H8"])
    assert [c.status for c in result.carry_over] == ["passed"] * 3, [c.reasons[:1] for c in result.carry_over]
    broken = run_conformance(BatchFirstIgnored(), dtype="float64", spec=spec, patterns=["base-T12-B4-I8-H8"])
    assert broken.carry_over == []  # the case itself failed: nothing to carry over


@pytest.mark.parametrize("conventions, words", [
    ({"layout": "batch_major"}, "the spec has no such convention"),
    ({"layuot": "batch_first"}, "the spec has no such convention"),
    ({"layout": "time_major"}, "which is the default: leave it out"),
])
def test_an_unknown_or_default_declaration_is_refused(spec, conventions, words):
    with pytest.raises(AdapterError, match=words):
        resolve(spec, conventions)

    class Declares(NumpyLSTMAdapter):
        pass

    Declares.conventions = conventions
    result = run_conformance(Declares(), dtype="float64", spec=spec, patterns=["base-T3-B2-I4-H5"])
    assert statuses(result) == {"base-T3-B2-I4-H5": "error"} and words in result.cases[0].reasons[0]


def test_the_order_of_declarations_is_the_specs(spec):
    """Outputs are undone in the spec's order (layout before reverse_output), whatever the adapter's dict order."""
    declared = resolve(spec, {"reverse_output": "processing_order", "layout": "batch_first"})
    assert [d.name for d in declared.derived] == ["layout", "reverse_output"]

    class Both(NumpyLSTMAdapter):
        conventions = {"reverse_output": "processing_order", "layout": "batch_first"}

        def compute(self, inputs, params, variant):
            out = super().compute({**inputs, "x": inputs["x"].transpose(1, 0, 2)}, params, variant)
            y = out["y"][::-1] if variant.get("direction") == "reverse" else out["y"]  # (T, B, H), processing order
            return {**out, "y": np.ascontiguousarray(y.transpose(1, 0, 2))}

    result = run_conformance(Both(), dtype="float64", spec=spec, patterns=["rev-*", "base-T3-B2-I4-H5"])
    assert set(statuses(result).values()) == {"passed"}, {c.id: c.reasons[:1] for c in result.cases}


def test_every_derived_convention_of_the_spec_loads(spec):
    derived = derived_conventions(spec)
    assert {n: sorted(v) for n, v in derived.items()} == {
        "layout": ["batch_first"], "reverse_output": ["processing_order"], "lengths": ["repeat_last", "valid_steps"]}


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["derived_conventions"]["layout"]["values"]["batch_first"]["read"].update({"transpose": [0]}),
     "unknown transforms ['transpose']"),
    (lambda d: d["derived_conventions"]["layout"]["values"]["batch_first"]["feed"].update({"gate_order": "f,i,g,o"}),
     "unknown transforms ['gate_order']"),
    (lambda d: d["derived_conventions"].update({"empty_rows": {"default": "kept", "changes": "x", "values": {
        "zeros": {"description": "x", "source": "x", "read": {"zero_past_lengths": ["y"]}}}}}),
     "is also a value of features.empty_rows"),
    (lambda d: d["derived_conventions"]["lengths"]["values"].update(
        {"zero_fill": {"description": "x", "source": "x", "read": {"zero_past_lengths": ["y"]}}}),
     "is the default"),
    (lambda d: d["derived_conventions"]["reverse_output"]["values"]["processing_order"].update(
        {"applies_when": ["direction=sideways"]}), "applies_when"),
    (lambda d: d["derived_conventions"]["layout"]["values"]["batch_first"]["read"].update({"swap_axes": {"z": [0, 1]}}),
     "'z' is not an output"),
    (lambda d: d["derived_conventions"]["layout"]["values"]["batch_first"]["feed"].update({"swap_axes": {"x": [0, 3]}}),
     "should be two different axes"),
])
def test_a_broken_derived_convention_is_refused_where_it_is(spec, mutate, words):
    data = copy.deepcopy(spec.data)
    mutate(data)
    with pytest.raises(SpecError, match="derived_conventions") as info:
        spec_from_data(yaml.safe_load(yaml.safe_dump(data)), "mutated.yaml")
    assert words in str(info.value), str(info.value)
