"""Diagnosis names the convention a broken adapter mixed up, and nothing for plain bugs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.diagnosis.conventions import load_conventions
from lstm_conformance.diagnosis.search import diagnose
from lstm_conformance.spec.loader import SpecError
from tests import broken_adapters as B
from lstm_conformance.cases.golden import load_golden
from tests.conftest import BASE_IDS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hypotheses(spec):
    return load_conventions(spec)


def test_gate_orders_are_expanded_from_the_spec(spec, hypotheses):
    ids = [h.id for h in hypotheses if h.id.startswith("gate_order:")]
    assert len(ids) == 23 and "gate_order:ifgo" not in ids  # every ordering but the spec's own
    onnx = next(h for h in hypotheses if h.id == "gate_order:iofg")
    assert "packing onnx: i,o,f,c" in onnx.explains


@pytest.mark.parametrize("adapter", B.BROKEN, ids=lambda a: a.__name__)
def test_each_broken_adapter_is_diagnosed(spec, hypotheses, adapter):
    dtype = "float64"
    result = diagnose(adapter(), dtype=dtype, spec=spec, hypotheses=hypotheses)
    assert result.failing, "a broken adapter must fail some case"
    found = [f.hypothesis.id for f in result.explained_by]
    text = "\n".join(result.lines())
    if adapter.convention:
        assert found == [adapter.convention], text
        assert "Matches the spec if" in text and adapter.convention in text
    else:
        assert found == [], text
        assert "No known convention explains this." in text


def test_the_correct_adapter_has_nothing_to_diagnose(spec, hypotheses):
    result = diagnose(B.CorrectAdapter(), dtype="float32", spec=spec, hypotheses=hypotheses)
    assert result.conforms and result.tried == 0
    assert "nothing to diagnose" in result.lines()[0]


class ReverseDirection(B._Base):
    """ONNX direction='reverse': runs t = T-1 .. 0 and returns y aligned with the input's time axis."""

    name = "reverse direction"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x[::-1], h0, c0, params)
        return np.ascontiguousarray(y[::-1]), h_n, c_n


def test_a_new_hypothesis_is_data_only(spec, project_copy):
    """Adding a hypothesis to conventions.yaml, and nothing else, lets diagnosis name a new convention."""
    before = diagnose(ReverseDirection(), dtype="float64", spec=spec)
    assert before.failing and not before.explained_by
    path = project_copy / "spec" / "conventions.yaml"
    path.write_text(path.read_text() + (
        '\n  - id: "time:reverse_direction"\n'
        "    explains: it is a reverse-direction LSTM (ONNX direction=reverse) with y in input time order\n"
        "    feed: {reverse_time: [x]}\n"
        "    read: {reverse_time: [y]}\n"))
    after = diagnose(ReverseDirection(), dtype="float64", spec=spec, hypotheses=load_conventions(spec, path))
    assert [f.hypothesis.id for f in after.explained_by] == ["time:reverse_direction"]


BROKEN_FILES = [
    ("unknown-packing", "read: concatenated_per_gate}", "read: concatenated_per_gat}",
     ["hypotheses[2]", "repack.read: unknown packing 'concatenated_per_gat'"]),
    ("unknown-parameter", "scale: {b_i: 0.5,", "scale: {b_x: 0.5,", ["hypotheses[4]", "unknown parameter 'b_x'"]),
    ("not-a-matrix", "transposed_reads: [W_i,", "transposed_reads: [b_i,", ["hypotheses[1]", "'b_i' is not a matrix"]),
    ("unknown-key", "feed: {reverse_time: [x]}", "feed: {reverse_tme: [x]}", ["hypotheses[5].feed", "reverse_tme"]),
    ("duplicate-id", "id: weights_transposed", 'id: "time:reversed_output"', ["id 'time:reversed_output' is used twice"]),
    ("bad-model", "gates: {i: keras2_hard_sigmoid,", "gates: {i: keras2_hard_sigmoidd,", ["hypotheses[8]", "keras2_hard_sigmoidd"]),
    ("not-an-output", "read: {reverse_time: [y]}", "read: {reverse_time: [h_n]}", ["'h_n' is not an output with a time axis"]),
    ("repack-of-different-tensors", "read: concatenated_per_gate}", "read: torch}",
     ["hypotheses[2]", "must hold the same tensors with the same shapes"]),
    ("unknown-placeholder", "stacked in the spec's order {spec_order}", "stacked {in braces} in {spec_order}",
     ["hypotheses[0]", "cannot fill in", "'in braces'", "write a literal brace as {{"]),
    ("swap-axes-out-of-range", "read: {swap_axes: {y: [0, 1]}}", "read: {swap_axes: {y: [0, 3]}}",
     ["hypotheses[9]", "read.swap_axes.y: [0, 3] should be two different axes of its 3"]),
    ("swap-axes-not-an-output", "read: {swap_axes: {y: [0, 1]}}", "read: {swap_axes: {x: [0, 1]}}",
     ["hypotheses[9]", "read.swap_axes: 'x' is not an output"]),
]


@pytest.mark.parametrize("old,new,words", [b[1:] for b in BROKEN_FILES], ids=[b[0] for b in BROKEN_FILES])
def test_a_broken_conventions_file_is_reported_with_location(spec, project_copy, old, new, words):
    path = project_copy / "spec" / "conventions.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecError) as info:
        load_conventions(spec, path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    for word in words:
        assert word in message, message


def _tool(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "diagnose.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_diagnose_tool_names_the_convention_and_exits_1():
    proc = _tool("--impl", "tests.broken_adapters:Tf1GateOrderRead", "--dtype", "float32", "--cases", "base-*")
    assert proc.returncode == 1, proc.stderr
    assert "its gate order is i,g,f,o" in proc.stdout and "packing tf1: i,j,f,o" in proc.stdout


def test_diagnose_tool_json_and_a_conforming_implementation():
    proc = _tool("--impl", "numpy", "--cases", "base-T3-*", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["failing"] == [] and doc["explained_by"] == []


def test_diagnose_tool_usage_error():
    proc = _tool("--impl", "nosuch")
    assert proc.returncode == 2 and "diagnose.py: error: --impl='nosuch'" in proc.stderr


def test_conformance_diagnose_adds_the_diagnosis(capsys):
    from lstm_conformance.cli import conformance as conformance_cli

    code = conformance_cli.main(["--impl", "tests.broken_adapters:ReversedOutput", "--diagnose", "--no-isolation",
                                 "--cases", "base-T3-*", "--cases", "base-T5-*", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [f["id"] for f in doc["diagnosis"]["explained_by"]] == ["time:reversed_output"]


def test_conformance_diagnose_reports_a_broken_conventions_file(project_copy, monkeypatch, capsys):
    from lstm_conformance.cli import conformance as conformance_cli

    path = project_copy / "spec" / "conventions.yaml"
    path.write_text(path.read_text().replace("scale: {b_i: 0.5,", "scale: {b_x: 0.5,"))
    monkeypatch.setenv("LSTM_CONFORMANCE_ROOT", str(project_copy))
    code = conformance_cli.main(["--impl", "tests.broken_adapters:DoubledBias", "--diagnose", "--no-isolation",
                                 "--cases", "base-T3-*"])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}:" in err and "unknown parameter 'b_x'" in err, err


def test_a_packing_side_gate_order_names_the_packing(hypotheses):
    igof = next(h for h in hypotheses if h.id == "gate_order:igof")
    assert "blocks packed in packing onnx's (i,o,f,c) order and read in the spec's" in igof.explains


# ---------------------------------------------------------------- localization: what the data shows

def _localized(spec, hypotheses, adapter, patterns=None):
    """Diagnose one catalog adapter (forward only: the base cases, unless `patterns` says otherwise)."""
    result = diagnose(adapter(), dtype="float64", spec=spec, hypotheses=hypotheses, patterns=patterns or BASE_IDS)
    assert result.localization is not None, result.lines()
    return result, result.localization


def test_h_from_the_previous_cell_points_at_the_h_equation(spec, hypotheses):
    """T = 1: c_n passes while y and h_n fail, so the error is in h = o * tanh(a_h) or what h reads."""
    result, loc = _localized(spec, hypotheses, B.HFromPreviousCell, ["base-T1-*"])
    assert result.failing == ["base-T1-B1-I1-H1"] and not result.explained_by
    assert loc.outputs["c_n"] == {"fails": [], "passes": ["base-T1-B1-I1-H1"], "wrong_shape": []}
    assert loc.outputs["y"]["fails"] == loc.outputs["h_n"]["fails"] == ["base-T1-B1-I1-H1"]
    state = loc.finding("state")
    assert (state.data["right"], state.data["wrong"]) == ("c", "h")
    assert (state.data["passing_outputs"], state.data["failing_outputs"]) == (["c_n"], ["y", "h_n"])
    text = " ".join(" ".join(result.lines()).split())  # the lines unwrapped
    assert "c_n passes in every failing case while y and h_n fail: c is right and the error is in the h " \
           "equation (h = o * tanh(a_h)) or in what h reads." in text
    doc = result.to_json()["localization"]
    assert [f["wrong"] for f in doc["findings"] if f["kind"] == "state"] == ["h"]


def test_h_from_the_previous_cell_over_every_case_names_the_one_step_cases(spec, hypotheses):
    result, loc = _localized(spec, hypotheses, B.HFromPreviousCell)
    state = loc.finding("state")
    assert (state.data["right"], state.data["wrong"]) == ("c", "h")
    assert "base-T1-B1-I1-H1" in state.data["cases"] and len(state.data["cases"]) < len(result.failing)
    assert "every failing case with T = 1 among them" in state.text
    assert loc.finding("first_failure").data["t"] == 0


def test_a_state_reset_at_each_step_is_right_at_step_0_and_drifts_after(spec, hypotheses):
    result, loc = _localized(spec, hypotheses, B.StateResetEachStep)
    first = loc.finding("first_failure").data
    assert first["t"] == 1 and set(first["first_step"].values()) == {1}
    drift = loc.finding("drift")
    assert drift.data["first_wrong_step"] == 1 and drift.data["later_steps_failing"] == drift.data["later_steps"] > 0
    assert sorted(drift.data["cases"]) == sorted(result.failing)
    assert "step 0 is right, steps from 1 on are wrong: the state is carried wrong between steps" in drift.text
    assert loc.finding("rows").data["pattern"] == "all_rows"


def test_a_bug_in_one_batch_row_is_localized_to_that_row(spec, hypotheses, golden_cases):
    result, loc = _localized(spec, hypotheses, B.LastRowZeroState)
    rows = loc.finding("rows")
    batch = {c.id: c.dims["B"] for c in golden_cases}
    assert rows.data["pattern"] == "one_row" and len(rows.data["failing_rows"]) >= 10
    assert all(r == [batch[i] - 1] for i, r in rows.data["failing_rows"].items())
    assert "Only one batch row fails in each of the" in rows.text and "the last row (b = B-1)" in rows.text
    assert loc.finding("drift") is None  # it fails from step 0


def test_an_error_that_grows_with_t_is_measured(spec, hypotheses):
    patterns = ["base-T100-*", "base-T64-*", "base-T70-*"]
    _, loc = _localized(spec, hypotheses, B.DriftingCell, patterns)
    growth = loc.finding("growth").data
    assert growth["case"] == "base-T100-B1-I3-H4" and growth["grows"]
    assert growth["spearman"] > 0.9 and growth["half_ratio"] > 1.5
    assert sorted(growth["grows_in"]) == ["base-T100-B1-I3-H4", "base-T64-B2-I5-H6", "base-T70-B1-I1-H1"]
    _, flat = _localized(spec, hypotheses, B.HFromPreviousCell, patterns)  # wrong from the start, but not growing
    assert not flat.finding("growth").data["grows"] and abs(flat.finding("growth").data["spearman"]) < 0.5


def test_batch_first_output_is_named_and_its_shape_localized(spec, hypotheses):
    result, loc = _localized(spec, hypotheses, B.BatchFirstOutput)
    assert [f.hypothesis.id for f in result.explained_by] == [B.BatchFirstOutput.convention]
    one_step_one_row = [c for c in BASE_IDS if c.startswith("base-T1-B1-")]  # T = B = 1 cannot show it
    assert len(result.failing) == len(BASE_IDS) - len(one_step_one_row) and result.judged == len(BASE_IDS)
    dims = {c.id: c.dims for c in load_golden(spec=spec)}
    assert loc.outputs["y"]["wrong_shape"] == [c for c in result.failing if dims[c]["T"] != dims[c]["B"]]
    assert loc.outputs["h_n"]["passes"] == loc.outputs["c_n"]["passes"] == result.failing
    assert loc.finding("shape").data["as_dims"] == ["B", "T", "H"]
    assert "it returns y batch-first, (B, T, H)" in "\n".join(result.lines())


@pytest.mark.parametrize("adapter", B.LOCALIZE, ids=lambda a: a.__name__)
def test_localization_lines_fit_100_columns(spec, hypotheses, adapter):
    result, loc = _localized(spec, hypotheses, adapter)
    lines = loc.lines()
    assert len(lines) >= 3 and all(len(line) <= 100 for line in lines), lines
    assert all(line in result.lines() for line in lines)


def test_diagnose_tool_json_has_the_localization():
    proc = _tool("--impl", "tests.broken_adapters:HFromPreviousCell", "--cases", "base-T1-*", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    loc = json.loads(proc.stdout)["localization"]
    assert loc["outputs"]["c_n"]["passes"] == ["base-T1-B1-I1-H1"] and loc["outputs"]["y"]["fails"] == ["base-T1-B1-I1-H1"]
    assert [(f["right"], f["wrong"]) for f in loc["findings"] if f["kind"] == "state"] == [("c", "h")]
