"""tools/conformance.py --all: one comparison table over every built-in implementation."""
from __future__ import annotations

import json

import pytest

from lstm_conformance.run import adapters

from lstm_conformance.cli import conformance as conformance_cli

SMALL = {
    "numpy": "lstm_adapters.numpy_lstm:NumpyLSTMAdapter",
    "swapped": "tests.broken_adapters:SwappedInputForgetGates",
    "float32inside": "tests.broken_adapters:Float32Internally",
    "nonexistent": "no_such_module_anywhere:Adapter",
}


@pytest.fixture()
def small_builtin(monkeypatch):
    monkeypatch.setattr(adapters, "BUILTIN", SMALL)
    monkeypatch.setattr(conformance_cli, "BUILTIN", SMALL)


def _run(tmp_path, *extra):
    out = tmp_path / "all.json"
    code = conformance_cli.main(["--all", "--no-isolation", "--cases", "base-T3-*", "--cases", "base-T5-*",
                                 "--format", "json", "--output", str(out), *extra])
    return code, json.loads(out.read_text())


def test_all_runs_every_builtin_at_both_dtypes(small_builtin, tmp_path):
    code, doc = _run(tmp_path)
    rows = {(r["impl"], r["dtype"]): r for r in doc["summary"]}
    assert sorted(rows) == sorted((i, d) for i in SMALL for d in ("float64", "float32"))
    assert code == 1  # the broken ones fail
    assert rows["numpy", "float64"]["verdict"] == "PASS" and rows["numpy", "float64"]["passed"] == 2
    assert 0 < rows["numpy", "float64"]["worst_err_over_tol"] <= 1
    assert rows["swapped", "float32"]["verdict"] == "FAIL" and rows["swapped", "float32"]["failed"] == 2
    assert rows["swapped", "float32"]["worst_err_over_tol"] > 1
    assert "values off by more than" in rows["swapped", "float32"]["note"]
    # a float64 run that is float32-accurate says so
    assert rows["float32inside", "float64"]["verdict"] == "FAIL"
    assert "within the float32 tolerance" in rows["float32inside", "float64"]["note"]
    assert rows["float32inside", "float32"]["verdict"] == "PASS"
    # an implementation that cannot even be loaded is a row, and the others still ran
    assert rows["nonexistent", "float64"]["verdict"] == "ERROR"
    assert "no_such_module_anywhere" in rows["nonexistent", "float64"]["note"]
    assert len(doc["runs"]) == 6


def test_expected_failures_do_not_fail_the_exit_code_but_unexpected_passes_do(small_builtin, tmp_path):
    known = ["--expect-fail", "swapped:float64", "--expect-fail", "swapped:float32",
             "--expect-fail", "float32inside:float64", "--expect-fail", "nonexistent:float64",
             "--expect-fail", "nonexistent:float32"]
    code, doc = _run(tmp_path, *known)
    assert code == 1  # nonexistent is an ERROR, not a FAIL: not excused
    rows = {(r["impl"], r["dtype"]): r["verdict"] for r in doc["summary"]}
    assert rows["swapped", "float64"] == "FAIL (expected)"
    code, doc = _run(tmp_path, "--dtype", "float64", "--expect-fail", "swapped:float64", "--expect-fail",
                     "float32inside:float64", "--cases", "base-T3-*")
    assert code == 1, doc["summary"]  # nonexistent errors
    code, doc = _run(tmp_path, "--dtype", "float32", "--expect-fail", "numpy:float32")
    assert {(r["impl"], r["verdict"]) for r in doc["summary"]} >= {("numpy", "PASS (expected FAIL)")}
    assert code == 1


def test_table_format_names_the_implementations(small_builtin, capsys):
    code = conformance_cli.main(["--all", "--no-isolation", "--cases", "base-T3-*", "--dtype", "float64"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Comparison: every implementation against the goldens" in out
    assert "- numpy: numpy (lstm_impl)" in out and "err/tol" in out
    assert max(map(len, out.splitlines())) <= 100, out


@pytest.mark.parametrize("value", ["numpy", "numpy:float128", "mxnet:float32", "numpy:float16"])
def test_bad_expect_fail_is_a_usage_error(value, capsys):
    assert conformance_cli.main(["--all", "--expect-fail", value]) == 2
    assert f"--expect-fail={value!r}" in capsys.readouterr().err


def test_expect_fail_without_all_is_a_usage_error(capsys):
    assert conformance_cli.main(["--expect-fail", "numpy:float64"]) == 2
    assert "go with --all" in capsys.readouterr().err


def test_only_expected_failures_exit_0(monkeypatch, tmp_path):
    small = {k: v for k, v in SMALL.items() if k != "nonexistent"}
    monkeypatch.setattr(adapters, "BUILTIN", small)
    monkeypatch.setattr(conformance_cli, "BUILTIN", small)
    code, doc = _run(tmp_path, "--expect-fail", "swapped:float64", "--expect-fail", "swapped:float32",
                     "--expect-fail", "float32inside:float64")
    assert code == 0, doc["summary"]
    assert {r["verdict"] for r in doc["summary"]} == {"PASS", "FAIL (expected)"}


@pytest.mark.parametrize("argv,words", [
    (["--all", "--impl", "numpy"], "takes neither --impl nor --diagnose"),
    (["--all", "--diagnose"], "takes neither --impl nor --diagnose"),
    (["--all", "--dtype", "float64", "--expect-fail", "numpy:float32"], "one of the dtypes run, ['float64']"),
])
def test_all_usage_errors(argv, words, capsys):
    assert conformance_cli.main(argv) == 2
    assert words in capsys.readouterr().err


def test_no_precision_hint_for_a_shape_failure(spec):
    from lstm_conformance.report import tables as report
    from lstm_conformance.run.runner import run_conformance
    from tests import broken_adapters as B

    result = run_conformance(B.TorchStateShape(), dtype="float64", spec=spec, patterns=["base-T3-*"])
    assert not result.ok
    assert "tolerance" not in report.run_note(result), report.run_note(result)
