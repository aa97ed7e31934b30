"""Diagnosis names the convention a broken adapter mixed up, and nothing for plain bugs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.conventions import load_conventions
from lstm_conformance.diagnosis import diagnose
from lstm_conformance.spec_loader import SpecError
from tests import broken_adapters as B

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hypotheses(spec):
    return load_conventions(spec)


def test_gate_orders_are_expanded_from_the_spec(spec, hypotheses):
    ids = [h.id for h in hypotheses if h.id.startswith("gate_order:")]
    assert len(ids) == 23 and "gate_order:ifgo" not in ids  # every ordering but the spec's own
    onnx = next(h for h in hypotheses if h.id == "gate_order:iofg")
    assert "layout onnx: i,o,f,c" in onnx.explains


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
    ("unknown-layout", "read: concatenated_per_gate}", "read: concatenated_per_gat}",
     ["hypotheses[2]", "relayout.read: unknown layout 'concatenated_per_gat'"]),
    ("unknown-parameter", "scale: {b_i: 0.5,", "scale: {b_x: 0.5,", ["hypotheses[4]", "unknown parameter 'b_x'"]),
    ("not-a-matrix", "transposed_reads: [W_i,", "transposed_reads: [b_i,", ["hypotheses[1]", "'b_i' is not a matrix"]),
    ("unknown-key", "feed: {reverse_time: [x]}", "feed: {reverse_tme: [x]}", ["hypotheses[5].feed", "reverse_tme"]),
    ("duplicate-id", "id: weights_transposed", 'id: "time:reversed_output"', ["id 'time:reversed_output' is used twice"]),
    ("bad-model", "gates: {i: hard_sigmoid,", "gates: {i: hard_sigmoidd,", ["hypotheses[8]", "hard_sigmoidd"]),
    ("not-an-output", "read: {reverse_time: [y]}", "read: {reverse_time: [h_n]}", ["'h_n' is not an output with a time axis"]),
    ("relayout-of-different-tensors", "read: concatenated_per_gate}", "read: torch}",
     ["hypotheses[2]", "must hold the same tensors with the same shapes"]),
    ("unknown-placeholder", "stacked in the spec's order {spec_order}", "stacked {in braces} in {spec_order}",
     ["hypotheses[0]", "cannot fill in", "'in braces'", "write a literal brace as {{"]),
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
    assert "its gate order is i,g,f,o" in proc.stdout and "layout tf1: i,j,f,o" in proc.stdout


def test_diagnose_tool_json_and_a_conforming_implementation():
    proc = _tool("--impl", "numpy", "--cases", "base-T3-*", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["failing"] == [] and doc["explained_by"] == []


def test_diagnose_tool_usage_error():
    proc = _tool("--impl", "nosuch")
    assert proc.returncode == 2 and "diagnose.py: error: --impl='nosuch'" in proc.stderr


def test_conformance_diagnose_adds_the_diagnosis(capsys):
    from lstm_conformance import conformance_cli

    code = conformance_cli.main(["--impl", "tests.broken_adapters:ReversedOutput", "--diagnose", "--no-isolation",
                                 "--cases", "base-T3-*", "--cases", "base-T5-*", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [f["id"] for f in doc["diagnosis"]["explained_by"]] == ["time:reversed_output"]


def test_conformance_diagnose_reports_a_broken_conventions_file(project_copy, monkeypatch, capsys):
    from lstm_conformance import conformance_cli

    path = project_copy / "spec" / "conventions.yaml"
    path.write_text(path.read_text().replace("scale: {b_i: 0.5,", "scale: {b_x: 0.5,"))
    monkeypatch.setenv("LSTM_CONFORMANCE_ROOT", str(project_copy))
    code = conformance_cli.main(["--impl", "tests.broken_adapters:DoubledBias", "--diagnose", "--no-isolation",
                                 "--cases", "base-T3-*"])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}:" in err and "unknown parameter 'b_x'" in err, err


def test_a_packing_side_gate_order_names_the_layout(hypotheses):
    igof = next(h for h in hypotheses if h.id == "gate_order:igof")
    assert "blocks packed in layout onnx's (i,o,f,c) order and read in the spec's" in igof.explains
