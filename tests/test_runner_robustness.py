"""The harness never crashes on a bad implementation: every misbehaviour lands in one case's result.

Misbehaving adapters come from tests/broken_adapters.py. Hangs use a short timeout and
one to three cases; process-isolated runs are few (each worker costs a spawn).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstm_conformance.run.adapters import BUILTIN
from lstm_conformance.run.runner import run_conformance
from tests import broken_adapters as ba
from tests.conftest import ALL_IDS, BASE_ARGS, BASE_IDS

N = len(BASE_IDS)

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.broken_adapters"
T1, T2, T3, T5 = "base-T1-B1-I1-H1", "base-T2-B1-I1-H1", "base-T3-B2-I4-H5", "base-T5-B3-I5-H3"
FEW = [T1, T2, T3]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LSTM_IMPL"}
    return subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def statuses(run) -> dict[str, str]:
    return {c.id: c.status for c in run.cases}


# ---------------------------------------------------------------- exceptions

def test_exception_is_an_error_on_every_case():
    run = run_conformance(ba.Raises(), isolate=False, timeout=10, patterns=BASE_IDS)
    assert run.summary() == {"passed": 0, "failed": 0, "skipped": 0, "errors": N}
    assert not run.ok
    for case in run.cases:
        assert case.reasons == [f"raised RuntimeError: simulated kernel failure: CUDNN_STATUS_BAD_PARAM [case {case.id}]"]
        assert case.judgement is None


def test_exception_on_one_case_does_not_stop_the_others():
    run = run_conformance(f"{MODULE}:RaisesOnT1", isolate=False, patterns=FEW, timeout=10)
    assert statuses(run) == {T1: "error", T2: "passed", T3: "passed"}
    assert run.cases[0].reasons == [f"raised ValueError: no kernel for a sequence of length 1 [case {T1}]"]


def test_exception_crosses_the_process_boundary():
    run = run_conformance(f"{MODULE}:Raises", isolate=True, patterns=[T3], timeout=30)
    (case,) = run.cases
    assert case.status == "error"
    assert case.reasons == [f"raised RuntimeError: simulated kernel failure: CUDNN_STATUS_BAD_PARAM [case {T3}]"]


# ---------------------------------------------------------------- wrong results

BAD_RESULTS = [
    # adapter, dtype, a reason pattern every case must have ({B}, {H}, {T} from the case), outputs not named
    ("TorchStateShape", "float64", r"h_n\.shape=\(1, {B}, {H}\), but should be \({B}, {H}\)", {"y"}),
    ("TorchStateShape", "float64", r"c_n\.shape=\(1, {B}, {H}\), but should be \({B}, {H}\)", {"y"}),
    ("ReturnsList", "float64", r"y is builtins\.list \(\[\[\[.*\), but should be a numpy\.ndarray", {"h_n", "c_n"}),
    ("ReturnsNaN", "float64", r"y has 1 non-finite value\(s\) \(NaN or inf\)", {"h_n", "c_n"}),
    ("ReturnsInf", "float64", r"c_n has {BH} non-finite value\(s\) \(NaN or inf\)", {"y", "h_n"}),
    ("ReturnsFloat64", "float32", r"y\.dtype=float64, but should be float32", set()),
    ("ReturnsFloat64", "float32", r"c_n\.dtype=float64, but should be float32", set()),
    ("ReturnsPair", "float64", r"forward returned tuple of length 2, but should return a tuple \(y, h_n, c_n\)", set()),
]


@pytest.mark.parametrize("name, dtype, pattern, untouched", BAD_RESULTS,
                         ids=[f"{n}-{p[:12]}" for n, _, p, _ in BAD_RESULTS])
def test_bad_result_fails_the_case_with_a_clear_reason(golden_cases, name, dtype, pattern, untouched):
    run = run_conformance(f"{MODULE}:{name}", dtype=dtype, isolate=False, patterns=FEW, timeout=10)
    assert run.summary() == {"passed": 0, "failed": 3, "skipped": 0, "errors": 0}
    dims = {c.id: c.dims for c in golden_cases}
    for case in run.cases:
        d = dims[case.id]
        want = pattern.format(B=d["B"], H=d["H"], T=d["T"], BH=d["B"] * d["H"])
        assert any(re.fullmatch(want + re.escape(f" [case {case.id}]"), r) for r in case.reasons), case.reasons
        for output in untouched:
            assert not any(r.startswith((output + " ", output + ":", output + ".")) for r in case.reasons), case.reasons


def test_wrong_dtype_with_right_values_fails_on_dtype_alone():
    run = run_conformance(ba.ReturnsFloat64(), dtype="float32", isolate=False, patterns=FEW, timeout=10)
    for case in run.cases:
        assert len(case.reasons) == 3 and all(".dtype=float64, but should be float32" in r for r in case.reasons)
    at64 = run_conformance(ba.ReturnsFloat64(), dtype="float64", isolate=False, patterns=FEW, timeout=10)
    assert at64.ok and at64.summary()["passed"] == 3


def test_non_finite_values_are_infinite_errors_and_the_json_report_still_renders():
    proc = run_cli("--impl", f"{MODULE}:ReturnsInf", "--no-isolation", "--format", "json", "--cases", T3)
    assert proc.returncode == 1, proc.stderr
    (case,) = json.loads(proc.stdout)["cases"]
    assert case["status"] == "failed"
    assert case["max_abs_err"] is None and case["max_rel_err"] is None  # inf, reported as null
    assert any(r.startswith("c_n has 10 non-finite value(s)") for r in case["reasons"])


def test_bad_results_across_the_process_boundary():
    run = run_conformance(f"{MODULE}:ReturnsList", isolate=True, patterns=[T3], timeout=30)
    (case,) = run.cases
    assert case.status == "failed"
    assert case.reasons[0].startswith("y is builtins.list ([[[")
    assert case.reasons[0].endswith(f"but should be a numpy.ndarray [case {T3}]")


# ---------------------------------------------------------------- hangs and crashes

def test_hang_times_out_in_process():
    start = time.perf_counter()
    run = run_conformance(ba.Hangs(), isolate=False, patterns=[T3], timeout=0.5)
    assert time.perf_counter() - start < 5
    (case,) = run.cases
    assert case.status == "error"
    assert case.reasons == [f"timeout: forward did not return within 0.5 s [case {T3}]"]


def test_run_goes_on_after_a_hang_in_process():
    run = run_conformance(f"{MODULE}:HangsOnT1", isolate=False, patterns=FEW, timeout=1)
    assert statuses(run) == {T1: "error", T2: "passed", T3: "passed"}
    assert run.cases[0].reasons[0].startswith("timeout: forward did not return within 1 s")
    assert 1 <= run.cases[0].seconds < 5


def test_run_goes_on_after_a_hang_and_a_crash_in_a_worker():
    """T1 hangs (the worker is killed), T2 exits the worker, T3 and T5 pass in fresh workers."""
    start = time.perf_counter()
    run = run_conformance(f"{MODULE}:MisbehavesByCase", isolate=True, patterns=[T1, T2, T3, T5], timeout=2)
    assert time.perf_counter() - start < 30
    assert statuses(run) == {T1: "error", T2: "error", T3: "passed", T5: "passed"}
    hang, crash = run.cases[0].reasons, run.cases[1].reasons
    assert hang == [f"timeout: forward did not return within 2 s (worker killed; a fresh one serves the next case) "
                    f"[case {T1}]"]
    assert crash == [f"the implementation's process died during forward (exit code 3) [case {T2}]"]


def test_abort_is_reported_per_case_and_a_fresh_worker_serves_the_next():
    run = run_conformance(f"{MODULE}:Aborts", isolate=True, patterns=[T1, T3], timeout=30)
    assert statuses(run) == {T1: "error", T3: "error"}
    for case in run.cases:  # two workers, each killed by its own SIGABRT
        assert case.reasons == [f"the implementation's process died during forward (killed by signal SIGABRT) "
                                f"[case {case.id}]"]


# ---------------------------------------------------------------- skips

def test_unsupported_variant_is_skipped_not_failed():
    run = run_conformance(f"{MODULE}:Unsupported", isolate=False, timeout=10, patterns=BASE_IDS)
    assert run.summary() == {"passed": 0, "failed": 0, "skipped": N, "errors": 0}
    assert not run.ok and run.verdict == "NOT RUN"  # nothing was judged: never a pass
    assert run.not_run_reason() == f"{N} skipped: the implementation does not support variant {{}}"
    assert all(c.reasons == ["the implementation does not support variant {}"] for c in run.cases)


def test_skip_reason_skips_with_that_reason():
    at64 = run_conformance(f"{MODULE}:NoFloat64", dtype="float64", isolate=False, timeout=10, patterns=BASE_IDS)
    assert at64.summary() == {"passed": 0, "failed": 0, "skipped": N, "errors": 0}
    assert all(c.reasons == [ba.NoFloat64.SKIP_REASON] for c in at64.cases)
    at32 = run_conformance(f"{MODULE}:NoFloat64", dtype="float32", isolate=False, timeout=10, patterns=BASE_IDS)
    assert at32.summary() == {"passed": N, "failed": 0, "skipped": 0, "errors": 0}


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]])
def test_cli_not_run_when_every_case_is_skipped(isolation):
    proc = run_cli("--impl", f"{MODULE}:NoFloat64", *isolation, *BASE_ARGS)
    assert proc.returncode == 1, proc.stderr  # nothing was judged: not a pass
    assert proc.stdout.rstrip().endswith(
        f"NOT RUN: nothing was judged, {N} skipped: {ba.NoFloat64.SKIP_REASON} (no float64, float64)")
    assert "SKIPPED" in proc.stdout
    proc = run_cli("--impl", f"{MODULE}:NoFloat64", *isolation, "--format", "json", *BASE_ARGS)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verdict"] == "NOT RUN" and doc["not_run_reason"] == f"{N} skipped: {ba.NoFloat64.SKIP_REASON}"
    # one dtype judged, one not: still not a pass
    proc = run_cli("--impl", f"{MODULE}:NoFloat64", *isolation, "--dtype", "float32", "--dtype", "float64", *BASE_ARGS)
    assert proc.returncode == 1, proc.stderr
    assert f"PASS: {N} passed" in proc.stdout and "NOT RUN: nothing was judged" in proc.stdout


# ---------------------------------------------------------------- exit codes

def test_cli_exit_0_for_the_numpy_default():
    proc = run_cli()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert proc.stdout.rstrip().endswith(f"PASS: {len(ALL_IDS)} passed, 0 failed, 0 skipped, 0 errors (numpy (lstm_impl), float64)")


def test_cli_exit_1_for_a_failing_adapter():
    proc = run_cli("--impl", f"{MODULE}:IgnoresC0", "--no-isolation", "--cases", "base-T1-*", "--cases", "base-T2-*")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.rstrip().endswith("FAIL: 0 passed, 2 failed, 0 skipped, 0 errors (ignores c0, float64)")


def test_cli_exit_1_for_an_erroring_adapter_in_a_worker():
    proc = run_cli("--impl", f"{MODULE}:Exits", "--cases", T3)
    assert proc.returncode == 1, proc.stderr
    assert "ERROR" in proc.stdout
    assert proc.stdout.rstrip().endswith("FAIL: 0 passed, 0 failed, 0 skipped, 1 errors (exits, float64)")


USAGE_ERRORS = [
    (["--impl", "nosuch"], f"--impl='nosuch', but should be a built-in name ({', '.join(sorted(BUILTIN))}) or MODULE:ATTR"),
    (["--impl", f"{MODULE}:NoSuchAdapter"], f"module '{MODULE}' has no attribute 'NoSuchAdapter'"),
    (["--impl", "no_such_module_xyz:Adapter"], "cannot import module 'no_such_module_xyz'"),
    (["--impl", f"{MODULE}:factory_raises"],
     f"calling '{MODULE}:factory_raises'() failed: RuntimeError: simulated: the framework is not installed"),
    (["--impl", f"{MODULE}:NotAnAdapter", "--no-isolation"], "lacks ['supports', 'compute or forward']"),
    (["--impl", f"{MODULE}:factory_raises", "--no-isolation"], "RuntimeError: simulated: the framework is not installed"),
    (["--cases", "no-such-case-*"], "no golden case matches ['no-such-case-*']"),
    (["--timeout", "0"], "--timeout=0.0, but should be a number of seconds in (0, 86400]"),
    (["--dtype", "float128"], "invalid choice: 'float128'"),
]


@pytest.mark.parametrize("args, message", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_cli_exit_2_for_a_usage_error(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("value, isolation", [("inf", True), ("inf", False), ("1e300", False)])
def test_cli_infinite_timeout_means_no_limit_or_is_a_usage_error(value, isolation):
    proc = run_cli("--timeout", value, "--cases", T1, *([] if isolation else ["--no-isolation"]))
    assert "Traceback" not in proc.stderr, proc.stderr[-300:]
    assert proc.returncode == 0 or (proc.returncode == 2 and "--timeout" in proc.stderr), proc.stderr


def test_cli_nan_timeout_is_a_usage_error_naming_the_option():
    proc = run_cli("--timeout", "nan", "--cases", T1, "--no-isolation")
    assert proc.returncode == 2
    assert "--timeout" in proc.stderr, proc.stderr
