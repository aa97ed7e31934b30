"""Issue 8 (trust): a verdict is never a pass unless something was judged; --output never destroys a
file; a closed stdout ends the command lines quietly; in-process adapters cannot corrupt stdout; the
text report fits 100 columns; ULP errors are |actual - expected| / ulp(expected) where they mean
something; the program is named as it was run."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.run import adapters

from lstm_conformance.cli import output as cli_io

from lstm_conformance.cli import conformance as conformance_cli

from lstm_conformance import paths

from lstm_conformance.report import tables as report
from lstm_conformance.judge.compare import ULP_MIN_ABS_OVER_ATOL, ulp_error
from lstm_conformance.run.runner import run_conformance
from tests import broken_adapters as ba
from tests.broken_adapters import CorrectAdapter

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.test_trust_verdict"
T3 = "base-T3-B2-I4-H5"
WIDTH = 100


def run_tool(tool: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LSTM_IMPL"}
    return subprocess.run([sys.executable, str(ROOT / "tools" / tool), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, **kwargs)


# ---------------------------------------------------------------- adapters of this file

class WritesToFd1(CorrectAdapter):
    """Writes straight to file descriptor 1, as C code would."""
    name = "writes to fd 1"

    def forward(self, x, h0, c0, params, variant):
        os.write(1, b"garbage on fd 1\n")
        print("garbage through print")
        return super().forward(x, h0, c0, params, variant)


class ClosesFd1(CorrectAdapter):
    name = "closes fd 1"

    def forward(self, x, h0, c0, params, variant):
        try:
            os.close(1)
        except OSError:
            pass
        return super().forward(x, h0, c0, params, variant)


class NotInstalled(CorrectAdapter):
    """Like a framework adapter whose framework is missing: every case is skipped."""
    name = "framework not installed"

    def skip_reason(self, variant, dtype):
        return "fakeframework is not installed: pip install fakeframework"


# ---------------------------------------------------------------- NOT RUN

def test_a_run_that_judged_nothing_is_not_a_pass():
    run = run_conformance(NotInstalled(), patterns=["base-T1-*", "base-T2-*"])
    assert run.summary() == {"passed": 0, "failed": 0, "skipped": 2, "errors": 0}
    assert run.verdict == "NOT RUN" and not run.ok and run.judged == 0
    assert report.verdict_line(run) == ("NOT RUN: nothing was judged, 2 skipped: fakeframework is not installed: "
                                        "pip install fakeframework (framework not installed, float64)")
    doc = report.to_json(run)
    assert doc["verdict"] == "NOT RUN" and doc["not_run_reason"].startswith("2 skipped: fakeframework")


def test_cli_not_run_exits_non_zero_for_a_refusing_adapter():
    proc = run_tool("conformance.py", "--impl", f"{MODULE}:NotInstalled", "--cases", "base-T1-*")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("NOT RUN: nothing was judged, 1 skipped: fakeframework")


SMALL = {"numpy": "lstm_adapters.numpy_lstm:NumpyLSTMAdapter", "missing": f"{MODULE}:NotInstalled",
         "no64": "tests.broken_adapters:NoFloat64"}


@pytest.fixture()
def small_builtin(monkeypatch):
    monkeypatch.setattr(adapters, "BUILTIN", SMALL)
    monkeypatch.setattr(conformance_cli, "BUILTIN", SMALL)


def _all(tmp_path: Path, *extra: str) -> tuple[int, dict]:
    out = tmp_path / "all.json"
    code = conformance_cli.main(["--all", "--no-isolation", "--cases", "base-T3-*", "--format", "json",
                                 "--output", str(out), *extra])
    return code, (json.loads(out.read_text()) if out.exists() else {})


def test_all_fails_on_an_undeclared_not_run_row(small_builtin, tmp_path):
    code, doc = _all(tmp_path)
    rows = {(r["impl"], r["dtype"]): r["verdict"] for r in doc["summary"]}
    assert rows == {("numpy", "float64"): "PASS", ("numpy", "float32"): "PASS",
                    ("missing", "float64"): "NOT RUN", ("missing", "float32"): "NOT RUN",
                    ("no64", "float64"): "NOT RUN", ("no64", "float32"): "PASS"}
    assert code == 1 and doc["ok"] is False


def test_all_passes_when_every_not_run_row_is_declared(small_builtin, tmp_path):
    code, doc = _all(tmp_path, "--expect-skip", "missing", "--expect-skip", "no64:float64")
    rows = {(r["impl"], r["dtype"]): r["verdict"] for r in doc["summary"]}
    assert rows[("missing", "float32")] == rows[("no64", "float64")] == "NOT RUN (expected)"
    assert code == 0 and doc["ok"] is True


def test_expect_skip_is_strict_a_declared_row_that_runs_fails(small_builtin, tmp_path):
    code, doc = _all(tmp_path, "--expect-skip", "missing", "--expect-skip", "no64")
    rows = {(r["impl"], r["dtype"]): r["verdict"] for r in doc["summary"]}
    assert rows[("no64", "float32")] == "PASS (expected NOT RUN)"
    assert code == 1


def test_all_with_nothing_judged_anywhere_fails_even_if_declared(monkeypatch, tmp_path):
    small = {"missing": f"{MODULE}:NotInstalled"}
    monkeypatch.setattr(adapters, "BUILTIN", small)
    monkeypatch.setattr(conformance_cli, "BUILTIN", small)
    code, doc = _all(tmp_path, "--expect-skip", "missing")
    assert {r["verdict"] for r in doc["summary"]} == {"NOT RUN (expected)"}
    assert code == 1 and doc["ok"] is False


@pytest.mark.parametrize("argv, says", [
    (["--all", "--expect-skip", "nosuch"], "--expect-skip='nosuch', but should be IMPL[:DTYPE]"),
    (["--all", "--expect-skip", "numpy:float16"], "one of the dtypes run"),
    (["--expect-skip", "numpy"], "go with --all"),
    (["--all", "--expect-skip", "numpy:float64", "--expect-fail", "numpy:float64"], "both --expect-fail and"),
])
def test_expect_skip_usage_errors(argv, says, capsys):
    assert conformance_cli.main(argv) == 2
    assert says in capsys.readouterr().err


def test_tox_declares_the_expected_skips():
    tox = (ROOT / "tox.ini").read_text()
    assert "--expect-skip onnxruntime:float64" in tox


# ---------------------------------------------------------------- the pytest plugin

pytest_plugins = ["pytester"]


def _plugin(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    from tests.test_pytest_plugin import PLUGIN_ARGS

    return pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", *args)


@pytest.fixture()
def plugin_env(monkeypatch):
    for name in ("LSTM_IMPL", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def test_plugin_fails_a_session_that_judged_nothing(pytester, plugin_env):
    result = _plugin(pytester, f"--lstm-impl={MODULE}:NotInstalled", "--lstm-cases=base-T1-*",
                     "--lstm-cases=base-T2-*", "-p", "no:xdist")
    result.assert_outcomes(skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*lstm-conformance NOT RUN: nothing was judged, 2 skipped: fakeframework is not "
                                 "installed*"])


def test_plugin_fails_when_every_conformance_item_was_deselected(pytester, plugin_env):
    pytester.makepyfile(test_mine="def test_one():\n    pass\n")
    result = _plugin(pytester, "--lstm-impl=numpy", "--lstm-cases=base-T1-*", "-k", "test_one", "-p", "no:xdist")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*lstm-conformance NOT RUN: nothing was judged, no conformance case ran*"])


def test_plugin_decides_once_on_the_xdist_controller(pytester, plugin_env):
    result = _plugin(pytester, f"--lstm-impl={MODULE}:NotInstalled", "--lstm-cases=base-T*", "-n", "2",
                     "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count("lstm-conformance NOT RUN: nothing was judged") == 1
    # and a judged session under xdist passes
    result = _plugin(pytester, "--lstm-impl=numpy", "--lstm-cases=base-T1-*", "--lstm-cases=base-T2-*", "-n", "2",
                     "-p", "no:benchmark")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_plugin_start_timeout_is_checked(pytester, plugin_env, value):
    result = _plugin(pytester, "--lstm-impl=numpy", f"--lstm-start-timeout={value}", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--lstm-start-timeout={float(value)!r}, but should be a number of seconds" in result.stderr.str()


# ---------------------------------------------------------------- --output never destroys a file

def test_output_through_a_symlink_keeps_the_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    proc = run_tool("conformance.py", "--cases", T3, "--format", "json", "--output", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["verdict"] == "PASS"


def test_output_into_a_fifo_streams_and_keeps_the_fifo(tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = run_tool("conformance.py", "--cases", T3, "--format", "json", "--output", str(fifo))
    reader.join(30)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert json.loads(got[0])["verdict"] == "PASS"


@pytest.fixture()
def dev_full(tmp_path: Path) -> Path:
    """A device node like /dev/full (char 1, 7) in tmp_path: a broken --output replaces this one, not the
    machine's (as root, that turned /dev/full into a regular file)."""
    path = tmp_path / "full"
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except PermissionError:  # not root: the real one, which an unprivileged user cannot replace anyway
        return Path("/dev/full")
    return path


def test_output_onto_dev_full_is_an_error_and_stays_a_device(dev_full):
    proc = run_tool("conformance.py", "--cases", T3, "--output", str(dev_full))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot write --output={str(dev_full)!r}" in proc.stderr and "No space left" in proc.stderr
    assert stat.S_ISCHR(os.stat(dev_full).st_mode)


def test_output_onto_a_socket_is_refused_before_the_run(tmp_path):
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        proc = run_tool("conformance.py", "--cases", T3, "--output", str(path))
    assert proc.returncode == 2
    assert f"--output={str(path)!r}: is a socket; refusing to write a report onto it" in proc.stderr
    assert stat.S_ISSOCK(os.stat(path).st_mode)


def test_output_dash_is_stdout():
    proc = run_tool("conformance.py", "--cases", T3, "--format", "json", "--output", "-")
    assert proc.returncode == 0 and json.loads(proc.stdout)["verdict"] == "PASS"


def test_write_output_replaces_a_regular_file_atomically(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("old")
    cli_io.write_output(path, b"new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["r.txt"]


# ---------------------------------------------------------------- quiet on a closed stdout

@pytest.mark.parametrize("tool, args", [
    ("conformance.py", ["--cases", "base-T*"]),
    ("diagnose.py", ["--impl", "tests.broken_adapters:SwappedInputForgetGates", "--cases", "base-T3-*",
                     "--cases", "base-T1-*"]),
])
def test_closed_stdout_ends_quietly(tool, args):
    env = {k: v for k, v in os.environ.items() if k != "LSTM_IMPL"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / tool), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # `| head -0`: the reader is gone before the report is written
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(120) == cli_io.EXIT_PIPE
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# ---------------------------------------------------------------- in-process adapters and fd 1

@pytest.mark.parametrize("adapter", ["WritesToFd1", "ClosesFd1"])
def test_in_process_adapter_cannot_corrupt_the_json_report(adapter):
    proc = run_tool("conformance.py", "--impl", f"{MODULE}:{adapter}", "--no-isolation", "--cases", T3,
                    "--format", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout)  # nothing but the report on stdout
    assert doc["verdict"] == "PASS" and proc.returncode == 0
    if adapter == "WritesToFd1":
        assert "garbage on fd 1" in proc.stderr and "garbage through print" in proc.stderr


# ---------------------------------------------------------------- 100 columns

@pytest.mark.parametrize("name", ["SwappedInputForgetGates", "TorchStateShape", "ReturnsList", "ReturnsNaN",
                                  "Raises", "ReturnsFloat64"])
@pytest.mark.parametrize("verbose", [False, True])
def test_text_tables_fit_100_columns(name, verbose, spec):
    run = run_conformance(getattr(ba, name)(), dtype="float32", spec=spec, timeout=30)
    text = report.render_tables(run, "table", verbose)
    assert max(map(len, text.splitlines())) <= WIDTH, max(text.splitlines(), key=len)
    for case in run.cases:
        for reason in case.reasons[: None if verbose else 1]:
            if "got " in reason:  # "got X, expected Y" is never split across lines
                got = reason[reason.index("got "):].split(" [case")[0]
                assert got in text


def test_summary_table_fits_100_columns_and_notes_are_not_clipped():
    rows = [report.summary_row("flax-optimized", "float64", None, error="x " * 200, expected="fail"),
            report.summary_row("onnxruntime", "float64", run_conformance(NotInstalled(), patterns=[T3]),
                               expected="skip")]
    text = report.render_summary(rows)
    assert max(map(len, text.splitlines())) <= WIDTH, text
    assert "fakeframework is not installed: pip install fakeframework" in text
    assert "ERROR (expected FAIL)" in text and "NOT RUN (expected)" in text


# ---------------------------------------------------------------- ULP

def test_ulp_error_is_the_error_in_units_of_the_expected_values_spacing():
    e = np.array([1.0, 1.0, -1.0, 2.0 ** -30])
    a = np.array([1.0 + 2.0 ** -52, 1.0 + 2.0 ** -50, 1.0, 2.0 ** -30 + 2.0 ** -82])
    assert ulp_error(a, e, np.dtype(np.float64)).tolist() == [1.0, 4.0, 2.0 ** 53, 1.0]
    # at float32 the spacing is float32's: 1 + 2^-23 is one float32 ULP from 1
    assert ulp_error(np.array([1.0 + 2.0 ** -23]), np.array([1.0]), np.dtype(np.float32)).tolist() == [1.0]


def test_ulp_is_shown_only_where_expected_is_well_above_atol(spec, golden_cases):
    from lstm_conformance.judge.compare import judge_case

    case = next(c for c in golden_cases if c.id == T3)
    expected = {k: np.asarray(v) for k, v in case.record["expected"].items()}
    assert (np.abs(expected["y"]) >= ULP_MIN_ABS_OVER_ATOL * spec.tolerance("float64")[0]).all()
    y_expected, y_actual = expected["y"].copy(), expected["y"].copy()
    y_expected[0, 0, 0], y_actual[0, 0, 0] = 1e-13, -1e-13   # a sign change within atol
    y_actual[1, 0, 0] = np.nextafter(y_actual[1, 0, 0], 2.0)  # and one ULP elsewhere
    record = {**case.record, "expected": {**case.record["expected"], "y": y_expected.tolist()}}
    judgement = judge_case(spec, record, "float64", (y_actual, expected["h_n"], expected["c_n"]))
    assert judgement.passed
    assert {o.name: o.max_ulp for o in judgement.outputs} == {"y": 1.0, "h_n": 0.0, "c_n": 0.0}


# ---------------------------------------------------------------- program names

def test_help_names_the_program_as_it_was_run():
    assert run_tool("conformance.py", "--help").stdout.startswith("usage: conformance.py")
    assert run_tool("diagnose.py", "--help").stdout.startswith("usage: diagnose.py")
    for script in ("lstm-conformance", "lstm-diagnose"):
        exe = Path(sys.executable).parent / script
        if exe.exists():  # installed (editable or not) into this interpreter
            assert subprocess.run([str(exe), "--help"], capture_output=True, text=True,
                                  timeout=60).stdout.startswith(f"usage: {script}")


def test_installed_users_are_pointed_at_the_installed_commands(monkeypatch, capsys):
    assert paths.command("diagnose") == "python tools/diagnose.py"
    monkeypatch.setattr(paths, "in_checkout", lambda: False)
    assert paths.command("diagnose") == "lstm-diagnose"
    assert conformance_cli.main(["--all", "--diagnose"]) == 2
    assert "run lstm-diagnose --impl NAME" in capsys.readouterr().err


def test_diagnose_judging_nothing_is_not_a_conforming_implementation():
    from lstm_conformance.diagnosis.search import diagnose

    result = diagnose(NotInstalled(), patterns=[T3])
    assert not result.conforms
    assert result.lines() == ["Diagnosis of framework not installed at float64: NOT RUN: nothing was judged, "
                              "1 skipped: fakeframework is not installed: pip install fakeframework."]
    proc = run_tool("diagnose.py", "--impl", f"{MODULE}:NotInstalled", "--cases", T3)
    assert proc.returncode == 1 and "NOT RUN: nothing was judged" in proc.stdout, proc.stdout + proc.stderr


# ---------------------------------------------------------------- through the plugin, in a fresh pytest process

def _pytest_subprocess(tmp_path: Path, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    from tests.test_pytest_plugin import PLUGIN_ARGS

    env = {k: v for k, v in os.environ.items() if k not in ("LSTM_IMPL", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "pytest", *PLUGIN_ARGS, "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-p", "no:benchmark", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_plugin_in_process_os_exit_cannot_end_the_session_with_0(tmp_path):
    proc = _pytest_subprocess(tmp_path, "--lstm-impl=tests.trust_process_adapters:ExitsOnT1", "--lstm-no-isolation",
                              "--lstm-cases=base-T1-*", "--lstm-cases=base-T3-*",
                              extra_env={"TRUST_EXIT_HOW": "os._exit"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert "1 failed, 1 passed" in proc.stdout, out
    assert "os._exit" in proc.stdout, out


def test_plugin_hung_import_is_bounded_by_lstm_start_timeout(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    proc = _pytest_subprocess(tmp_path, "--lstm-impl=tests.trust_process_hang_on_import:Adapter",
                              "--lstm-start-timeout=2", "--lstm-cases=base-T1-*",
                              extra_env={"TRUST_PROCESS_DIR": str(state)})
    (state / "release").touch()
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert "did not start within 2 s" in proc.stderr, proc.stderr


BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'")
        return None
sys.meta_path.insert(0, _NoTorch())
from lstm_conformance.cli.conformance import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_framework_that_is_not_installed_is_not_run_not_passed():
    """`--impl torch` where torch is not installed: NOT RUN with the install hint, exit 1."""
    env = {k: v for k, v in os.environ.items() if k != "LSTM_IMPL"}
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "--impl", "torch", "--no-isolation", "--cases",
                           "base-T1-*", "--cases", "base-T3-*"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last.startswith("NOT RUN: nothing was judged, 2 skipped: ") and "torch" in last, last


# ---------------------------------------------------------------- state carry-over (issue 9)

class ZeroStateOnShortCalls(CorrectAdapter):
    """Starts from zeros instead of the given h0, c0 when a call has fewer than 3 steps: every golden
    of 3 or more steps passes, yet a stream fed a step at a time loses its state."""
    name = "zero state on short calls"

    def forward(self, x, h0, c0, params, variant):
        if x.shape[0] < 3:
            h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
        return super().forward(x, h0, c0, params, variant)


def test_state_carry_over_catches_a_reset_state_that_every_golden_misses(spec):
    run = run_conformance(ZeroStateOnShortCalls(), patterns=["base-T12-B4-I8-H8"], spec=spec)
    assert run.summary() == {"passed": 1, "failed": 0, "skipped": 0, "errors": 0}
    assert {c.id: c.status for c in run.carry_over} == {"base-T12-B4-I8-H8@carry1": "failed",
                                                        "base-T12-B4-I8-H8@carry6": "passed",
                                                        "base-T12-B4-I8-H8@carry11": "failed"}
    assert run.verdict == "FAIL"
    text = report.render_tables(run)
    assert "State carry-over" in text and "1 of 3 checks pass" in text
    assert report.to_json(run)["carry_over"][0]["status"] == "failed"
    good = run_conformance(CorrectAdapter(), patterns=["base-T12-B4-I8-H8", "base-T5-B3-I5-H3"], spec=spec)
    assert [c.status for c in good.carry_over] == ["passed"] * 4 and good.verdict == "PASS"


class NumpyDeclaring:
    """lstm_impl's adapter declaring a convention the spec does not have (a misspelt empty_rows value)."""

    def __init__(self, conventions):
        from lstm_adapters.numpy_lstm import NumpyLSTMAdapter

        self.inner, self.conventions, self.name = NumpyLSTMAdapter(), conventions, "declares"

    def supports(self, variant):
        return self.inner.supports(variant)

    def compute(self, inputs, params, variant):
        return self.inner.compute(inputs, params, variant)


@pytest.mark.parametrize("conventions", [{"empty_rows": "zero"}, {"lengths": "full"}, {"colour": "blue"}])
def test_an_unknown_declared_convention_is_an_error_not_a_skip(spec, conventions):
    run = run_conformance(NumpyDeclaring(conventions), patterns=["len0-*", T3], spec=spec)
    assert run.verdict == "FAIL" and {c.status for c in run.cases} == {"error"}
    assert "but the spec has no such convention" in run.cases[0].reasons[0]


class NoSingleStep(CorrectAdapter):
    name = "refuses one-step calls"

    def skip_case(self, inputs, variant, dtype):
        return "one step is not supported" if inputs["x"].shape[0] == 1 else None


def test_carry_over_asks_skip_case_for_each_call(spec):
    run = run_conformance(NoSingleStep(), patterns=["base-T12-B4-I8-H8"], spec=spec)
    assert {c.id: c.status for c in run.carry_over} == {"base-T12-B4-I8-H8@carry1": "skipped",
                                                        "base-T12-B4-I8-H8@carry6": "passed",
                                                        "base-T12-B4-I8-H8@carry11": "skipped"}
    assert run.verdict == "PASS"


def test_goldens_without_a_case_list_still_run(project_copy, spec):
    (project_copy / "golden" / "case_list.yaml").unlink()
    run = run_conformance("numpy", patterns=[T3], spec=spec, golden_dir=project_copy / "golden", isolate=False)
    assert run.verdict == "PASS" and run.carry_over == []


PERTURBED = """
from lstm_adapters.numpy_lstm import NumpyLSTMAdapter


class Perturbed(NumpyLSTMAdapter):
    name = "lstm_impl with y off by 1e-3 outside the forward direction"

    def supports(self, variant):
        return "lengths" not in variant and super().supports(variant)

    def compute(self, inputs, params, variant):
        out = super().compute(inputs, params, variant)
        return {**out, "y": out["y"] + 1e-3} if "direction" in variant else out
"""


def test_plugin_under_xdist_gives_the_serial_run_s_results(pytester, plugin_env, monkeypatch):
    """`-n auto` and a serial run of the same implementation (right on one case, wrong on two, not run on the
    fourth) report the same outcome for each case, and the same exit code. The adapter is a module of the
    session's own folder, as a user's would be, importable by every xdist worker."""
    pytester.makepyfile(perturbed_adapter=PERTURBED)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), os.environ["PYTHONPATH"]]))
    args = ("--lstm-impl=perturbed_adapter:Perturbed", "--lstm-cases=base-T3-*", "--lstm-cases=rev-T5-*",
            "--lstm-cases=bidir-T5-*", "--lstm-cases=len-T6-*", "-rA", "-p", "no:benchmark")

    def outcomes(result: pytest.RunResult) -> dict[str, str]:
        out = {}
        for line in result.stdout.lines:
            for word in ("PASSED", "FAILED", "ERROR"):
                if line.startswith(word + " "):
                    out[line.split()[1].split("::")[-1]] = word
        return out

    serial = _plugin(pytester, *args, "-p", "no:xdist")
    parallel = _plugin(pytester, *args, "-n", "auto")
    got_serial, got_parallel = outcomes(serial), outcomes(parallel)
    assert sorted(got_serial.values()) == ["FAILED", "FAILED", "PASSED"], serial.stdout.str()[-3000:]
    assert got_parallel == got_serial, parallel.stdout.str()[-3000:]
    assert serial.parseoutcomes() == parallel.parseoutcomes()
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
