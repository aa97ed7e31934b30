"""The harness flags every deliberately broken LSTM in tests/broken_adapters.py, and passes the control.

Each broken adapter is run over every golden case. The expected verdicts are exact:
which cases fail (a bug cannot show in some cases, e.g. a time reversal when T = 1),
and which outputs the reasons name (a y shifted in time leaves h_n and c_n right).
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.run.runner import case_arrays, run_conformance
from tests import broken_adapters as ba

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.broken_adapters"
OUTPUTS = frozenset({"y", "h_n", "c_n"})

# The catalog's adapters speak forward(x, h0, c0, params, variant): the base LSTM (variant {}) only.
_RECORDS = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "golden" / "cases").glob("*.json")}
DIMS = {cid: r["dims"] for cid, r in _RECORDS.items() if r["variant"] == {}}
BASE = sorted(DIMS)  # as --cases / patterns: exactly the base cases
N = len(BASE)
ALL = frozenset(DIMS)
T1 = frozenset(c for c, d in DIMS.items() if d["T"] == 1)   # one step: time order cannot matter
B1 = frozenset(c for c, d in DIMS.items() if d["B"] == 1)   # one batch row: rows cannot be mixed up
H1 = frozenset(c for c, d in DIMS.items() if d["H"] == 1)   # one unit: a (1, A) weight reshaped is itself
# Every |b| >= 60 while |W x + U h| <= 4: each gate is pinned at 0 or 1 (and g at +-1) to float64
# precision, so x, h0 and the weights do not reach the outputs, only c0 and the biases' signs do.
SATURATED = frozenset({"sat-T6-B2-I3-H4-bias60", "sat-T6-B2-I3-H4-bias900"})
# bias900 also has the same h at every step (its f = 1 units have i = 0), so y reversed is y.
CONSTANT_Y = frozenset({"sat-T6-B2-I3-H4-bias900"})
# |x| of 200 to 300 pins every forget gate: +1 on its pre-activation moves the outputs by ~1e-13.
FORGET_PINNED = frozenset({"sat-T5-B3-I4-H3-input900"})
NONE: frozenset[str] = frozenset()

# name -> (cases that cannot show the bug, outputs named in the reasons, cases flagged at float64)
EXPECTED: dict[str, tuple[frozenset[str], frozenset[str], int]] = {
    "SwappedInputForgetGates": (NONE, OUTPUTS, N),
    "SwappedCandidateOutputGates": (NONE, OUTPUTS, N),
    "OnnxGateOrderRead": (NONE, OUTPUTS, N),
    "Tf1GateOrderRead": (NONE, OUTPUTS, N),
    "SigmoidCandidate": (NONE, OUTPUTS, N),
    "TanhOutputGate": (NONE, OUTPUTS, N),
    "HardSigmoidGates": (SATURATED, OUTPUTS, 19),
    "MissingOutputTanh": (NONE, OUTPUTS, N),
    "ReshapedWeights": (H1 | SATURATED, OUTPUTS, 15),
    "ConcatenationOrder": (SATURATED, OUTPUTS, 19),
    "ForgetBiasPlusOne": (SATURATED | FORGET_PINNED, OUTPUTS, 18),
    "DoubledBias": (SATURATED, OUTPUTS, 19),
    "ShiftedOutput": (NONE, frozenset({"y"}), N),
    "ReversedInput": (T1 | SATURATED, OUTPUTS, 18),
    "ReversedOutput": (T1 | CONSTANT_Y, frozenset({"y"}), 19),
    "IgnoresH0": (SATURATED, OUTPUTS, 19),
    "IgnoresC0": (NONE, OUTPUTS, N),
    "SwappedFinalStates": (NONE, frozenset({"h_n", "c_n"}), N),
    "FirstRowInitialState": (B1, OUTPUTS, 17),
    "RolledBatch": (B1, OUTPUTS, 17),
    "Float32Internally": (NONE, OUTPUTS, N),
    "OffByOneNano": (NONE, OUTPUTS, N),
}

# the flagged count follows from the sets (the base cases grow; the sets say which cannot show each bug)
EXPECTED = {k: (unaffected, outputs, N - len(unaffected & ALL)) for k, (unaffected, outputs, _) in EXPECTED.items()}

NOT_CONVENTION = {"SigmoidCandidate", "TanhOutputGate", "MissingOutputTanh", "IgnoresH0", "IgnoresC0",
                  "SwappedFinalStates", "FirstRowInitialState", "RolledBatch", "Float32Internally", "OffByOneNano"}


def named_outputs(reasons: list[str]) -> set[str]:
    """The outputs (y, h_n, c_n) that a list of reasons is about."""
    found = set()
    for reason in reasons:
        m = re.match(r"(y|h_n|c_n)\b", reason)
        assert m, f"a reason that names no output: {reason!r}"
        found.add(m.group(1))
    return found


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LSTM_IMPL"}
    env.update(env_extra or {})
    cases = [arg for cid in BASE for arg in ("--cases", cid)]
    return subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), *args, *cases], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- the catalog itself

def test_catalog_is_complete_and_tagged():
    names = [cls.__name__ for cls in ba.BROKEN]
    assert len(names) >= 14 and len(set(names)) == len(names)
    assert set(names) == set(EXPECTED), "every broken adapter needs an expectation here, and only those"
    tags = []
    for cls in ba.BROKEN:
        assert cls.__doc__ and cls.__doc__.strip(), cls
        assert isinstance(cls.name, str) and cls.name, cls
        if cls.__name__ in NOT_CONVENTION:
            assert cls.convention is None, cls
        else:
            assert isinstance(cls.convention, str) and re.fullmatch(r"[a-z_0-9]+(:[a-z0-9_+]+)?", cls.convention), cls
            tags.append(cls.convention)
    assert len(tags) == len(set(tags)), "each convention bug has its own tag"
    assert {t for t in tags if t.startswith("gate_order:")} >= {"gate_order:figo", "gate_order:ifog", "gate_order:iofg"}


def test_catalog_is_independent_of_the_implementations_under_test():
    tree = ast.parse((ROOT / "tests" / "broken_adapters.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"lstm_impl", "lstm_conformance"}, imported


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_broken_adapters_return_right_shapes_and_dtypes(spec, golden_cases, dtype):
    """Their bugs are in the values only, so they test the value judgement, not the shape check."""
    case = next(c for c in golden_cases if c.id == "base-T3-B2-I4-H5")
    inputs, params = case_arrays(spec, case, dtype)
    d = case.dims
    for cls in [ba.CorrectAdapter, *ba.BROKEN]:
        adapter = cls()
        assert adapter.supports({}) is True
        y, h_n, c_n = adapter.forward(inputs["x"], inputs["h0"], inputs["c0"], params, {})
        assert [a.shape for a in (y, h_n, c_n)] == [(d["T"], d["B"], d["H"]), (d["B"], d["H"]), (d["B"], d["H"])], cls
        assert {a.dtype for a in (y, h_n, c_n)} == {np.dtype(dtype)}, cls


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_is_stable_on_the_saturating_cases(spec, golden_cases, dtype):
    """Pre-activations beyond +-800 (and 1717): no overflow warning, no NaN."""
    for case in golden_cases:
        if not case.id.startswith("sat-"):
            continue
        inputs, params = case_arrays(spec, case, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                out = ba.CorrectAdapter().forward(inputs["x"], inputs["h0"], inputs["c0"], params, {})
        assert all(np.isfinite(a).all() for a in out), case.id
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        assert ba.sigmoid(z).tolist() == pytest.approx([0.0, 4.248354255291589e-18, 0.5, 1.0, 1.0], rel=1e-15, abs=0)


# ---------------------------------------------------------------- the control

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_control_passes_every_case(dtype):
    run = run_conformance(f"{MODULE}:CorrectAdapter", dtype=dtype, isolate=False, timeout=30, patterns=BASE)
    assert run.summary() == {"passed": len(ALL), "failed": 0, "skipped": 0, "errors": 0}
    assert len(ALL) == N and {c.id for c in run.cases} == ALL
    assert run.ok
    worst = max(c.worst("max_abs_err") for c in run.cases)
    # atol + rtol * |expected|, with |c_n| up to 66 in cell-T64-B2-I3-H4-growth
    assert worst <= (1e-12 if dtype == "float64" else 1e-5 + 1e-5 * 66)


# ---------------------------------------------------------------- each broken adapter

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_adapter_is_flagged(name):
    unaffected, outputs, n_flagged = EXPECTED[name]
    run = run_conformance(f"{MODULE}:{name}", dtype="float64", isolate=False, timeout=30, patterns=BASE)
    assert not run.ok
    assert run.impl == getattr(ba, name).name
    failed = {c.id for c in run.cases if c.status == "failed"}
    passed = {c.id for c in run.cases if c.status == "passed"}
    assert run.summary()["errors"] == 0 and run.summary()["skipped"] == 0
    assert failed == ALL - unaffected, f"flagged {sorted(failed)}, passed {sorted(passed)}"
    assert passed == unaffected
    assert len(failed) == n_flagged == run.summary()["failed"]
    reasons = [r for c in run.cases for r in c.reasons]
    assert named_outputs(reasons) == outputs
    for case in run.cases:
        if case.status == "failed":
            assert case.reasons and all(r.endswith(f"[case {case.id}]") for r in case.reasons)
            assert any("values off by more than atol=1e-12 + rtol=1e-12*|expected|" in r for r in case.reasons), case.reasons
            assert case.worst("max_abs_err") > 1e-12
        else:
            assert case.reasons == []


@pytest.mark.parametrize("name, low, high", [("Float32Internally", 1e-10, 1e-4), ("OffByOneNano", 0.99e-9, 1.01e-9)])
def test_precision_bugs_flagged_at_float64_only(name, low, high):
    at64 = run_conformance(f"{MODULE}:{name}", dtype="float64", isolate=False, timeout=30, patterns=BASE)
    errors = [c.worst("max_abs_err") for c in at64.cases]
    assert at64.summary()["failed"] == N
    assert all(low <= e <= high for e in errors), (min(errors), max(errors))
    at32 = run_conformance(f"{MODULE}:{name}", dtype="float32", isolate=False, timeout=30, patterns=BASE)
    assert at32.ok and at32.summary()["passed"] == N


@pytest.mark.parametrize("name", ["SwappedInputForgetGates", "IgnoresC0", "ShiftedOutput"])
def test_flagged_the_same_under_process_isolation(name):
    unaffected, outputs, n_flagged = EXPECTED[name]
    run = run_conformance(f"{MODULE}:{name}", dtype="float64", isolate=True, timeout=60, patterns=BASE)
    assert {c.id for c in run.cases if c.status == "failed"} == ALL - unaffected
    assert run.summary()["failed"] == n_flagged
    assert named_outputs([r for c in run.cases for r in c.reasons]) == outputs


def test_swapped_final_states_report_the_cell_state_as_h_n(golden_cases):
    run = run_conformance(ba.SwappedFinalStates(), dtype="float64", isolate=False, patterns=["base-T3-*"], timeout=30)
    (case,) = run.cases
    expected = next(c for c in golden_cases if c.id == case.id).record["expected"]
    h_reason = next(r for r in case.reasons if r.startswith("h_n: "))
    got = float(re.search(r"got (\S+),", h_reason).group(1))
    assert np.isclose(np.asarray(expected["c_n"]), got, rtol=1e-12, atol=0).any()
    assert not np.isclose(np.asarray(expected["h_n"]), got, rtol=1e-6, atol=0).any()


# ---------------------------------------------------------------- through the command line

@pytest.mark.parametrize("name, isolation", [("SwappedInputForgetGates", True), ("ShiftedOutput", False),
                                             ("OffByOneNano", False)])
def test_cli_table_shows_failed(name, isolation):
    proc = run_cli("--impl", f"{MODULE}:{name}", *([] if isolation else ["--no-isolation"]))
    assert proc.returncode == 1, proc.stderr
    assert "FAILED" in proc.stdout
    n_flagged = EXPECTED[name][2]
    s = f"FAIL: {N - n_flagged} passed, {n_flagged} failed, 0 skipped, 0 errors ({getattr(ba, name).name}, float64)"
    assert proc.stdout.rstrip().endswith(s)
    value_rows = [line for line in proc.stdout.splitlines() if re.match(r"(base|cell|sat|wide|long)-T\d+", line)]
    assert len(value_rows) == N
    assert sum(line.split()[-1] == "FAILED" for line in value_rows) == n_flagged
    assert max(map(len, proc.stdout.splitlines())) <= 100


def test_cli_json_report():
    name = "ReversedOutput"
    unaffected, outputs, n_flagged = EXPECTED[name]
    proc = run_cli("--impl", f"{MODULE}:{name}", "--format", "json", "--no-isolation")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"] == {"passed": N - n_flagged, "failed": n_flagged, "skipped": 0, "errors": 0}
    assert set(doc["summary"]) == {"passed", "failed", "skipped", "errors"}
    assert {c["id"] for c in doc["cases"]} == ALL
    for case in doc["cases"]:
        assert {"id", "status", "reasons", "max_abs_err", "max_rel_err", "max_ulp"} <= set(case)
        assert case["status"] == ("passed" if case["id"] in unaffected else "failed")
        assert named_outputs(case["reasons"]) <= outputs
        assert (case["reasons"] == []) == (case["status"] == "passed")
        assert isinstance(case["max_abs_err"], float)
        assert (case["max_abs_err"] > 1e-12) == (case["status"] == "failed")


def test_cli_json_two_dtypes_flags_float64_only():
    proc = run_cli("--impl", f"{MODULE}:Float32Internally", "--format", "json", "--no-isolation",
                   "--dtype", "float32", "--dtype", "float64")
    assert proc.returncode == 1, proc.stderr
    runs = json.loads(proc.stdout)["runs"]
    assert [(r["dtype"], r["summary"]) for r in runs] == [
        ("float32", {"passed": N, "failed": 0, "skipped": 0, "errors": 0}),
        ("float64", {"passed": 0, "failed": N, "skipped": 0, "errors": 0})]
