"""Broken cell features (tests/broken_adapters.py CELL): each computes a cell feature the way some runtime or
converter does, not the way the case says. The runner fails it on cases of the feature that can show the
difference and passes it where the two agree; diagnosis names exactly its convention (spec/conventions.yaml)."""
from __future__ import annotations

import pytest

from lstm_conformance.diagnosis.conventions import load_conventions
from lstm_conformance.diagnosis.search import diagnose
from lstm_conformance.run.runner import run_conformance
from tests import broken_adapters as B
from tests.conftest import ALL_IDS, GOLDEN_VARIANTS

IDS = [a.__name__ for a in B.CELL]


def _convention_of(variant: dict, feature: str):
    value = variant.get(feature)
    return value.get("convention") if isinstance(value, dict) else value


def agrees(adapter: type, cid: str) -> bool:
    """Whether the case itself follows the adapter's convention (so it must pass there)."""
    v = GOLDEN_VARIANTS[cid]
    if issubclass(adapter, B._ClipAs):
        return _convention_of(v, "clip") == adapter.as_convention
    return False


@pytest.fixture(scope="module")
def runs(spec):
    return {a.__name__: run_conformance(a(), dtype="float64", spec=spec, isolate=False) for a in B.CELL}


@pytest.fixture(scope="module")
def diagnoses(spec):
    hypotheses = load_conventions(spec)
    return {a.__name__: diagnose(a(), dtype="float64", spec=spec, hypotheses=hypotheses, isolate=False)
            for a in B.CELL}


def test_the_catalog_has_a_cell_adapter_for_each_cell_hypothesis(spec):
    cell = {h.id for h in load_conventions(spec) if h.id.split(":")[0] in B.CELL_FEATURES}
    assert cell and {a.convention for a in B.CELL} == cell
    for adapter in B.CELL:
        assert adapter.__doc__ and len(adapter.__doc__.split()) > 10, adapter


@pytest.mark.parametrize("adapter", B.CELL, ids=IDS)
def test_the_runner_fails_the_cases_that_show_the_bug_and_passes_the_rest(runs, adapter):
    run = runs[adapter.__name__]
    status = {c.id: c.status for c in run.cases}
    supported = {cid for cid in ALL_IDS if adapter().supports(dict(GOLDEN_VARIANTS[cid]))}
    assert {c for c, s in status.items() if s == "skipped"} == set(ALL_IDS) - supported
    failed = {c for c, s in status.items() if s == "failed"}
    assert failed, "the goldens must show the bug"
    assert not {c for c in failed if agrees(adapter, c)}, "a case that follows the adapter's convention failed"
    assert all(status[c] == "passed" for c in supported if agrees(adapter, c))
    assert run.summary()["errors"] == 0 and not run.ok


@pytest.mark.parametrize("adapter", B.CELL, ids=IDS)
def test_diagnosis_names_exactly_its_convention(diagnoses, runs, adapter):
    result = diagnoses[adapter.__name__]
    text = "\n".join(result.lines())
    failed = {c.id for c in runs[adapter.__name__].cases if c.status == "failed"}
    assert set(result.failing) == failed, text
    assert [f.hypothesis.id for f in result.explained_by] == [adapter.convention], text
