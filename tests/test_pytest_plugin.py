"""The pytest plugin (lstm_conformance.pytest_plugin): the conformance suite inside someone else's pytest run.

Most tests run pytest in-process with the `pytester` fixture in an empty folder; the
last one installs the package (not editable) into a temporary folder and runs an
adapter written outside the repository against the installed copy in a subprocess.
"""
from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_conformance import paths
from lstm_conformance.run.adapters import load_adapter
from lstm_conformance.run.runner import run_conformance
from tests.broken_adapters import SwappedInputForgetGates
from tests.conftest import BASE_IDS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
BROKEN = "tests.broken_adapters"
ENV_OWNED = ("LSTM_IMPL", "LSTM_CONFORMANCE_ROOT", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")

OUTSIDE_ADAPTER = '''\
"""An LSTM written outside the harness's repository (the README's example)."""
import numpy as np


class OutsideLSTM:
    name = "outside numpy LSTM"

    def supports(self, variant):
        return variant == {}

    def forward(self, x, h0, c0, params, variant):
        sig = lambda z: 0.5 * (1.0 + np.tanh(0.5 * z))   # overflow-free sigmoid
        h, c, ys = h0, c0, []
        for x_t in x:
            z = {k: x_t @ params[f"W_{k}"].T + h @ params[f"U_{k}"].T + params[f"b_{k}"] for k in "ifgo"}
            c = sig(z["f"]) * c + sig(z["i"]) * np.tanh(z["g"])
            h = sig(z["o"]) * np.tanh(c)
            ys.append(h)
        return np.stack(ys), h, c


def make():
    return OutsideLSTM()
'''


def _entry_point_installed() -> bool:
    """Whether some installed distribution registers the plugin under pytest11 (as pytest looks)."""
    return any(ep.group == "pytest11" and ep.name == "lstm_conformance"
               for dist in importlib.metadata.distributions() for ep in dist.entry_points)


# Installed (editable or not): pytest autoloads it, as a user's run would. A bare checkout: load it by -p.
PLUGIN_ARGS: tuple[str, ...] = () if _entry_point_installed() else ("-p", "lstm_conformance.pytest_plugin")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs see neither the caller's LSTM_IMPL nor pytest settings from the environment."""
    for name in ENV_OWNED:
        if name != "LSTM_CONFORMANCE_ROOT":  # the outer and inner runs must agree on the spec's location
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def n_cases(golden_cases) -> int:
    return len(golden_cases)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", *args)


def header_line(result: pytest.RunResult) -> str:
    lines = [line for line in result.outlines if line.startswith("lstm-conformance: ")]
    assert len(lines) == 1, f"expected one header line starting 'lstm-conformance: ', got {lines}"
    return lines[0]


# ---------------------------------------------------------------- passing, failing, skipping

def test_numpy_passes_every_case_at_float64_and_float32_in_an_empty_folder(pytester, n_cases):
    result = run(pytester, "--lstm-impl=numpy", "--lstm-dtype=float64,float32", "-v")
    result.assert_outcomes(passed=2 * n_cases)
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    for dtype in ("float64", "float32"):
        assert f"lstm-conformance[{dtype}-base-T12-B4-I8-H8] PASSED" in out


def test_runs_beside_the_users_own_tests(pytester, n_cases):
    pytester.makepyfile(test_mine="def test_one():\n    pass\n\ndef test_two():\n    assert 1 + 1 == 2\n")
    # the user names only their own file: the suite is added all the same
    result = run(pytester, "test_mine.py", "--lstm-impl=numpy", "--lstm-dtype", "float32", "--lstm-dtype", "float64")
    result.assert_outcomes(passed=2 * n_cases + 2)
    assert result.ret == pytest.ExitCode.OK


def test_broken_adapter_fails_every_case_with_the_judges_reasons(pytester, n_cases):
    result = run(pytester, f"--lstm-impl={BROKEN}:SwappedInputForgetGates")
    result.assert_outcomes(failed=len(BASE_IDS), skipped=n_cases - len(BASE_IDS))  # forward only: base cases
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # the very reasons the CLI's runner gives, every output's, one a line
    expected = run_conformance(SwappedInputForgetGates(), patterns=["base-T12-B4-I8-H8"])
    reasons = expected.cases[0].reasons
    assert len(reasons) >= 3
    out = result.stdout.str()
    for reason in reasons:
        assert reason in out
    assert "FAILED lstm-conformance::lstm-conformance[float64-base-T12-B4-I8-H8]" in out


def test_adapter_error_is_a_failure_naming_the_error(pytester):
    result = run(pytester, f"--lstm-impl={BROKEN}:RaisesOnT1", "--lstm-cases=base-T1-*", "--lstm-cases=base-T2-*")
    result.assert_outcomes(failed=1, passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["adapter error: raised ValueError: no kernel for a sequence of length 1 [[]case base-T1-*"])


@pytest.mark.parametrize("impl, dtype, cases, reason", [
    (f"{BROKEN}:NoFloat64", "float64", "base-T1-*", "this implementation has no float64 kernel"),
    (f"{BROKEN}:Unsupported", "float64", "base-T1-*", "the implementation does not support variant {}"),
    ("numpy", "float16", "sat-T5-*", "spec: float16 skips cases flagged ['large_inputs']"),
], ids=["skip_reason", "supports-false", "spec-skip_flags"])
def test_skipped_case_is_a_pytest_skip_with_the_reason(pytester, impl, dtype, cases, reason):
    result = run(pytester, f"--lstm-impl={impl}", f"--lstm-dtype={dtype}", f"--lstm-cases={cases}",
                 "--lstm-no-isolation", "-rs")
    result.assert_outcomes(skipped=1)
    assert reason in result.stdout.str()
    # nothing was judged: the session fails, saying so once
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count(f"lstm-conformance NOT RUN: nothing was judged, 1 skipped: {reason}") == 1
    # with a case that is judged beside it, the skip is just a skip
    result = run(pytester, f"--lstm-impl={impl}", f"--lstm-dtype={dtype},float32", f"--lstm-cases={cases}",
                 "--lstm-no-isolation")
    if impl.endswith("NoFloat64") or impl == "numpy":
        result.assert_outcomes(skipped=1, passed=1)
        assert result.ret == pytest.ExitCode.OK


# ---------------------------------------------------------------- options, header, selection

def test_lstm_impl_environment_variable_is_the_fallback(pytester, monkeypatch):
    monkeypatch.setenv("LSTM_IMPL", "numpy")
    result = run(pytester, "--lstm-cases=base-T1-*", "--lstm-no-isolation")
    result.assert_outcomes(passed=1)
    assert "[LSTM_IMPL=numpy]" in header_line(result)
    # the option wins over the variable
    monkeypatch.setenv("LSTM_IMPL", f"{BROKEN}:SwappedInputForgetGates")
    result = run(pytester, "--lstm-impl=numpy", "--lstm-cases=base-T1-*", "--lstm-no-isolation")
    result.assert_outcomes(passed=1)
    assert "[--lstm-impl=numpy]" in header_line(result)


def test_report_header_names_impl_dtypes_spec_cases_and_location(pytester, spec, n_cases):
    result = run(pytester, "--lstm-impl=numpy", "--lstm-dtype=float32,float64", "--collect-only")
    assert result.ret == pytest.ExitCode.OK
    line = header_line(result)
    for part in (load_adapter("numpy").name, "[--lstm-impl=numpy]", "dtype float32, float64", f"spec {spec.version}",
                 f"{n_cases} golden cases", f"spec {paths.spec_file()}", f"goldens {paths.golden_dir()}"):
        assert part in line, f"header {line!r} lacks {part!r}"


def test_k_selects_items(pytester, n_cases):
    result = run(pytester, "--lstm-impl=numpy", "--lstm-dtype=float64,float32", "-v",
                 "-k", "float32 and base-T12-B4-I8-H8")
    result.assert_outcomes(passed=1, deselected=2 * n_cases - 1)
    assert "lstm-conformance[float32-base-T12-B4-I8-H8] PASSED" in result.stdout.str()


def test_adapter_is_built_once_per_session_in_a_worker_that_ends_with_it(pytester):
    log = pytester.path / "builds.log"
    pytester.makepyfile(counting_adapter=f'''
import os
from {BROKEN} import CorrectAdapter

def make():
    with open({str(log)!r}, "a") as fh:
        fh.write(f"{{os.getpid()}}\\n")
    return CorrectAdapter()
''')
    result = run(pytester, "--lstm-impl=counting_adapter:make", "--lstm-dtype=float64,float32",
                 "--lstm-cases=base-T1-*", "--lstm-cases=base-T2-*")
    result.assert_outcomes(passed=4)
    builds = log.read_text().split()
    assert len(builds) == 1, f"the adapter was built {len(builds)} times, but should be built once per session"
    assert int(builds[0]) != os.getpid(), "the adapter was built in this process, but should be in a worker"
    assert multiprocessing.active_children() == [], "the worker outlived the session"


def test_nothing_happens_without_the_option(pytester):
    assert "--lstm-impl" in run(pytester, "--help").stdout.str()  # the plugin is loaded ...
    result = run(pytester)  # ... yet adds nothing: an empty folder has no tests
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "lstm-conformance:" not in result.stdout.str()
    pytester.makepyfile(test_mine="def test_one():\n    pass\n")
    result = run(pytester, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert "lstm-conformance" not in result.stdout.str().replace("lstm-conformance-", "")  # the plugins: line aside
    result.stdout.fnmatch_lines(["test_mine.py::test_one", "1 test collected*"])


def test_help_states_the_runners_default_timeout():
    from lstm_conformance import pytest_plugin
    from lstm_conformance.run.runner import DEFAULT_TIMEOUT

    assert pytest_plugin.HELP_TIMEOUT == DEFAULT_TIMEOUT, (
        f"pytest_plugin.HELP_TIMEOUT={pytest_plugin.HELP_TIMEOUT}, but should be the runner's DEFAULT_TIMEOUT={DEFAULT_TIMEOUT}")


@pytest.mark.parametrize("ref, says", [
    ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
    (f"{BROKEN}:factory_raises", "RuntimeError: simulated: the framework is not installed"),
    (f"{BROKEN}:NotAnAdapter", "lacks ['supports', 'compute or forward']"),
    ("not-a-ref", "but should be a built-in name"),
], ids=["import-fails", "factory-raises", "not-an-adapter", "malformed"])
def test_bad_impl_is_a_usage_error_naming_the_option(pytester, ref, says):
    result = run(pytester, f"--lstm-impl={ref}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"ERROR: --lstm-impl={ref!r}" in err and says in err, err
    assert "Traceback" not in err + result.stdout.str()


def test_bad_lstm_impl_variable_is_a_usage_error_naming_the_variable(pytester, monkeypatch):
    monkeypatch.setenv("LSTM_IMPL", "no_such_module_xyz:make")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: LSTM_IMPL='no_such_module_xyz:make'" in result.stderr.str()


@pytest.mark.parametrize("option, says", [
    ("--lstm-dtype=float64,float8", "--lstm-dtype='float64,float8', but should be one or more of ['float64', 'float32', 'float16']"),
    ("--lstm-cases=no-such-case-*", "--lstm-cases=['no-such-case-*'] matches no golden case"),
    ("--lstm-timeout=0", "--lstm-timeout=0.0, but should be a number of seconds in (0, "),
], ids=["dtype", "cases", "timeout"])
def test_bad_option_is_a_usage_error_naming_it(pytester, option, says):
    result = run(pytester, "--lstm-impl=numpy", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str(), result.stderr.str()


# ---------------------------------------------------------------- an installed copy, an adapter from elsewhere

def _copy_project(dest: Path) -> Path:
    """The checkout without its build leftovers, so that pip builds in a scratch folder, not in the repo."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".git", ".tox", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
        ".benchmarks", ".ruff_cache", "reports"))
    return dest


def test_installed_copy_runs_an_outside_adapter(tmp_path, n_cases):
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--disable-pip-version-check", "--quiet", "--target", str(site),
                          str(_copy_project(tmp_path / "src"))],
                         check=False, capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, f"pip install --target failed:\n{pip.stdout}\n{pip.stderr}"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "outside_adapter.py").write_text(OUTSIDE_ADAPTER)
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ENV_OWNED}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(outside)])
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--lstm-impl=outside_adapter:make"],
                          cwd=workdir, env=env, check=False, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert f"{len(BASE_IDS)} passed, {n_cases - len(BASE_IDS)} skipped" in proc.stdout, output  # forward: base only
    header = [line for line in proc.stdout.splitlines() if line.startswith("lstm-conformance: ")]
    assert len(header) == 1, output
    data = site.resolve() / "lstm_conformance" / "data"
    assert header[0].startswith("lstm-conformance: outside numpy LSTM [--lstm-impl=outside_adapter:make]"), header[0]
    assert f"spec {data / 'spec' / 'lstm.yaml'}," in header[0] and f"goldens {data / 'golden'}" in header[0], header[0]
    assert str(ROOT) not in header[0], f"the header points into the checkout {ROOT}: {header[0]}"
    # the console scripts of the same installed copy: the comparison of a built-in and a diagnosis
    for script, args, code, words in [
        ("lstm-conformance", ["--impl", "outside_adapter:make", "--cases", "base-T3-*", "--format", "json"], 0,
         '"passed": 1'),
        ("lstm-diagnose", ["--impl", "tests_like_broken:make", "--cases", "base-*"], 1, "its gate order is f,i,g,o"),
    ]:
        (outside / "tests_like_broken.py").write_text(BROKEN_OUTSIDE_ADAPTER)
        run = subprocess.run([str(site / "bin" / script), *args], cwd=workdir, env=env, check=False,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == code and words in run.stdout, (script, run.returncode, run.stdout[-2000:], run.stderr)


BROKEN_OUTSIDE_ADAPTER = '''
import numpy as np
from outside_adapter import make as _make


def make():
    inner = _make()

    class Swapped:
        name = "outside, i and f swapped"

        def supports(self, variant):
            return inner.supports(variant)

        def forward(self, x, h0, c0, params, variant):
            p = dict(params)
            for role in "WUb":
                p[role + "_i"], p[role + "_f"] = params[role + "_f"], params[role + "_i"]
            return inner.forward(x, h0, c0, p, variant)

    return Swapped()
'''
