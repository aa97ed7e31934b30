"""Broken sequence structure (tests/broken_adapters.py STRUCTURE): the runner flags each adapter on exactly
the golden cases its variants cover and that can show its bug, and diagnosis names exactly its convention
(spec/conventions.yaml), or says "No known convention explains this." with a localization that points at
the structure (runs, layers, lengths)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.diagnosis.conventions import Hypothesis, case_context, load_conventions, read
from lstm_conformance.diagnosis.search import diagnose
from lstm_conformance.run.runner import run_conformance
from tests import broken_adapters as B
from tests.conftest import ALL_IDS, GOLDEN_VARIANTS

ROOT = Path(__file__).resolve().parent.parent
_RECORDS = {cid: json.loads((ROOT / "golden" / "cases" / f"{cid}.json").read_text(encoding="utf-8"))
            for cid in ALL_IDS}
DIMS = {cid: r["dims"] for cid, r in _RECORDS.items()}
LENGTHS = {cid: r["inputs"].get("seq_lengths") for cid, r in _RECORDS.items()}


def _has_empty_row(cid: str) -> bool:
    return LENGTHS[cid] is not None and 0 in LENGTHS[cid]


# adapter -> which of the cases it supports cannot show its bug (default: none)
CANNOT_SHOW = {
    # a row of length 0 is what it gets wrong; under empty_rows=zeros it is right
    "EmptyRowsZeros": lambda cid: not _has_empty_row(cid) or "empty_rows" in GOLDEN_VARIANTS[cid],
    # T = B = 1: (B, T, D * H) is (T, B, D * H)
    "BatchFirstOutputAnyVariant": lambda cid: DIMS[cid]["T"] == 1 and DIMS[cid]["B"] == 1,
}
IDS = [a.__name__ for a in B.STRUCTURE]


def expected_failing(adapter: type) -> set[str]:
    """The golden cases whose variant the adapter supports and that can show its bug."""
    cannot = CANNOT_SHOW.get(adapter.__name__, lambda cid: False)
    return {cid for cid, v in GOLDEN_VARIANTS.items() if adapter().supports(dict(v)) and not cannot(cid)}


@pytest.fixture(scope="module")
def hypotheses(spec):
    return load_conventions(spec)


def test_the_catalog_is_at_least_ten_compute_adapters_with_docstrings(hypotheses):
    ids = {h.id for h in hypotheses}
    assert len(B.STRUCTURE) >= 10 and not set(B.STRUCTURE) & set(B.BROKEN)
    for adapter in B.STRUCTURE:
        assert callable(getattr(adapter, "compute", None)) and not hasattr(adapter, "forward"), adapter
        assert adapter.__doc__ and len(adapter.__doc__.split()) > 10, adapter
        assert adapter.convention is None or adapter.convention in ids, adapter
        assert not adapter().supports({}) or adapter is B.BatchFirstOutputAnyVariant, adapter
    assert sum(a.convention is not None for a in B.STRUCTURE) >= 7


def test_each_new_structure_hypothesis_has_a_broken_adapter(hypotheses):
    named = {a.convention for a in B.STRUCTURE + B.CELL}  # tests/test_broken_cells.py has the cell ones
    for hyp in hypotheses:
        if hyp.applies_when:
            assert hyp.id in named, hyp.id


@pytest.mark.parametrize("adapter", B.STRUCTURE, ids=IDS)
def test_the_runner_flags_exactly_the_cases_that_show_the_bug(spec, adapter):
    run = run_conformance(adapter(), dtype="float64", spec=spec, timeout=60)
    failed = {c.id for c in run.cases if c.status == "failed"}
    supported = {cid for cid, v in GOLDEN_VARIANTS.items() if adapter().supports(dict(v))}
    want = expected_failing(adapter)
    assert want, "the golden cases must be able to show the bug"
    assert failed == want
    assert {c.id for c in run.cases if c.status == "passed"} == supported - want
    assert {c.id for c in run.cases if c.status == "skipped"} == set(ALL_IDS) - supported
    assert not run.ok and run.summary()["errors"] == 0


@pytest.fixture(scope="module")
def diagnoses(spec, hypotheses):
    return {a.__name__: diagnose(a(), dtype="float64", spec=spec, hypotheses=hypotheses, isolate=False)
            for a in B.STRUCTURE}


@pytest.mark.parametrize("adapter", B.STRUCTURE, ids=IDS)
def test_diagnosis_names_exactly_its_convention(diagnoses, adapter):
    result = diagnoses[adapter.__name__]
    text = "\n".join(result.lines())
    assert set(result.failing) == expected_failing(adapter), text
    found = [f.hypothesis.id for f in result.explained_by]
    if adapter.convention:
        assert found == [adapter.convention], text
        assert "Matches the spec if" in text and f"[{adapter.convention};" in text.replace("\n    ", " ")
    else:
        assert found == [], text
        assert "No known convention explains this." in text
    assert result.localization is not None
    new = result.lines()[1:]  # the head line is the old format; every line after it fits 100 columns
    assert all(len(line) <= 100 for line in new), [line for line in new if len(line) > 100]


def test_a_hypothesis_that_applies_to_some_cases_counts_the_others_as_they_are(diagnoses):
    finding = diagnoses["EmptyRowsZeros"].explained_by[0]
    zeros_variants = [c for c, v in GOLDEN_VARIANTS.items() if v.get("empty_rows") == "zeros"]
    assert finding.others == len(zeros_variants) > 0  # judged as they are: the declared zeros rule is right there
    supported = [v for v in GOLDEN_VARIANTS.values() if set(v) <= B.SEQUENCE_FEATURES]  # no cell features
    assert finding.cases == sum("lengths" in v for v in supported) - len(zeros_variants)
    assert "the 2 others as they are" in " ".join(diagnoses["EmptyRowsZeros"].lines()).replace("\n", " ")


def test_hypotheses_that_mean_nothing_in_the_failing_cases_are_not_tried(spec, diagnoses, hypotheses):
    base = len([h for h in hypotheses if not h.applies_when])
    assert diagnoses["IgnoresSecondLayerState"].tried == base  # stack3 and stack2 fail: no structure one fits all
    for name, result in diagnoses.items():  # tried: those that mean something in every failing case
        fits = [h for h in hypotheses if all(h.applies(spec, GOLDEN_VARIANTS[c]) for c in result.failing)]
        assert result.tried == len(fits), name
    lengths_only = [h.id for h in hypotheses if h.applies_when and "lengths" in h.applies_when]
    cell = [h.id for h in hypotheses if h.id.split(":")[0] in B.CELL_FEATURES]  # no cell feature in those cases
    assert lengths_only and cell
    assert diagnoses["HnDirectionMajor"].tried == len(hypotheses) - len(lengths_only) - len(cell)


# ---------------------------------------------------------------- localization for the unexplained ones

def test_shared_weights_localize_to_the_reverse_run(diagnoses):
    loc = diagnoses["BidirSharedWeights"].localization
    runs = loc.finding("runs").data["runs"]
    assert len(runs["reverse"]["outputs"]) == len(diagnoses["BidirSharedWeights"].failing)
    one_layer = [c for c in runs["reverse"]["outputs"] if "num_layers" not in GOLDEN_VARIANTS[c]]
    assert one_layer and not set(one_layer) & set(runs["forward"]["outputs"])  # one layer: forward right


def test_upper_layer_bugs_localize_to_layer_1(diagnoses):
    for name in ("IgnoresSecondLayerState", "ReadsPaddingInLayer2"):
        layers = diagnoses[name].localization.finding("layers")
        assert layers.data["right_layers"][:1] == [0] and layers.data["failing_by_layer"][1], name
        assert "Layer 0 is right" in layers.text


def test_ignored_lengths_localize_to_the_short_rows(diagnoses):
    lengths = diagnoses["IgnoresLengths"].localization.finding("lengths")
    assert lengths.data["full_rows"] == [] and lengths.data["short_rows"]
    assert len(lengths.data["past"]) == len(diagnoses["IgnoresLengths"].failing)
    assert "Rows that use every step are right" in lengths.text


def test_padding_repeated_localizes_to_the_padding(diagnoses):
    lengths = diagnoses["PaddingRepeated"].localization.finding("lengths")
    assert lengths.data["within"] == [] and "Only the padding is wrong in y" in lengths.text


# ---------------------------------------------------------------- the primitives on their own

def _ctx(spec, variant, lengths=None, B=2, H=3, L=1):
    D = 2 if variant.get("direction") == "bidirectional" else 1
    shape = (L * D, B, H) if L * D > 1 else (B, H)
    inputs = {"x": np.zeros((4, B, 1)), "h0": np.ones(shape), "c0": np.full(shape, 2.0)}
    if lengths is not None:
        inputs["seq_lengths"] = np.asarray(lengths, dtype=np.int64)
    return case_context(spec, variant, inputs)


def test_processing_order_flips_the_reverse_half_within_each_rows_length(spec):
    hyp = Hypothesis("t", "t", read={"processing_order": {"y": ["reverse"]}})
    y = np.arange(4 * 2 * 2, dtype=float).reshape(4, 2, 2)  # H = 1, D = 2
    out = read(hyp, {"y": y}, _ctx(spec, {"direction": "bidirectional", "lengths": "zero_fill"}, [4, 2], H=1))["y"]
    assert (out[:, :, 0] == y[:, :, 0]).all()  # the forward half is left alone
    assert out[:, 0, 1].tolist() == y[::-1, 0, 1].tolist()
    assert out[:, 1, 1].tolist() == [y[1, 1, 1], y[0, 1, 1], y[2, 1, 1], y[3, 1, 1]]


def test_state_index_puts_direction_major_states_back(spec):
    hyp = Hypothesis("t", "t", read={"state_index": {"h_n": "run * L + layer"}})
    h = np.arange(4.0)[:, None, None] * np.ones((4, 1, 1))  # direction-major: l0f, l1f, l0r, l1r
    out = read(hyp, {"h_n": h}, _ctx(spec, {"direction": "bidirectional", "num_layers": 2}, B=1, H=1, L=2))["h_n"]
    assert out[:, 0, 0].tolist() == [0.0, 2.0, 1.0, 3.0]  # layer * D + run: l0f, l0r, l1f, l1r


def test_empty_rows_primitive_refuses_a_row_that_is_not_zero(spec):
    hyp = Hypothesis("t", "t", read={"initial_state_for_empty_rows": {"h_n": "h0"}})
    ctx = _ctx(spec, {"lengths": "zero_fill"}, [0, 3])
    fixed = read(hyp, {"h_n": np.array([[0.0, 0, 0], [5, 5, 5]])}, ctx)["h_n"]
    assert fixed.tolist() == [[1, 1, 1], [5, 5, 5]]
    with pytest.raises(ValueError, match="not zero in the rows of length 0"):
        read(hyp, {"h_n": np.array([[0.5, 0, 0], [5, 5, 5]])}, ctx)


def test_units_major_undoes_the_permuted_direction_axis(spec):
    hyp = Hypothesis("t", "t", read={"units_major": ["y"]})
    y = np.random.default_rng(0).normal(size=(3, 2, 8))  # D = 2, H = 4
    bad = y.reshape(3, 2, 2, 4).transpose(0, 1, 3, 2).reshape(3, 2, 8)
    assert np.array_equal(read(hyp, {"y": bad}, _ctx(spec, {"direction": "bidirectional"}))["y"], y)


BROKEN_FILES = [
    ("unknown-feature", "applies_when: [direction=bidirectional, num_layers]",
     "applies_when: [direction=bidirectional, num_layer]", "applies_when: unknown feature 'num_layer'"),
    ("unknown-value", "applies_when: [direction=bidirectional]\n    read: {reversed_runs",
     "applies_when: [direction=bidirektional]\n    read: {reversed_runs", "but direction is one of"),
    ("not-a-permutation", 'read: {state_index: {h_n: "run * L + layer"', 'read: {state_index: {h_n: "run * L"',
     "does not number the 2 * 2 states"),
    ("unknown-run", "read: {processing_order: {y: [reverse]}}", "read: {processing_order: {y: [backward]}}",
     "should be runs of the spec"),
    ("not-an-initial-state", "read: {initial_state_for_empty_rows: {h_n: h0,", "read: {initial_state_for_empty_rows: {h_n: x,",
     "'x' is not an initial state"),
    ("unmasked-unknown-feature", "model: {unmasked_runs: {runs: [reverse], ignores: lengths}}",
     "model: {unmasked_runs: {runs: [reverse], ignores: length}}", "unknown feature 'length'"),
]


@pytest.mark.parametrize("old,new,words", [b[1:] for b in BROKEN_FILES], ids=[b[0] for b in BROKEN_FILES])
def test_a_broken_structure_hypothesis_is_reported(spec, project_copy, old, new, words):
    from lstm_conformance.spec.loader import SpecError

    path = project_copy / "spec" / "conventions.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecError) as info:
        load_conventions(spec, path)
    assert str(info.value).startswith(f"{path}:") and words in str(info.value), str(info.value)
