"""The README's promises: its adapter example passes, and its commands exist."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALL_IDS, BASE_IDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _adapter_example() -> str:
    blocks = re.findall(r"```python\n(# my_adapter\.py\n.*?)```", README, flags=re.S)
    assert len(blocks) == 1, "the README should hold exactly one '# my_adapter.py' example"
    return blocks[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_readme_adapter_example_passes_every_case(tmp_path, dtype):
    (tmp_path / "my_adapter.py").write_text(_adapter_example())
    assert len(_adapter_example().strip().splitlines()) <= 20
    # as the README says: run from the folder that holds my_adapter.py, nothing on PYTHONPATH
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["LSTM_IMPL"] = "my_adapter:MyLSTM"
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), "--dtype", dtype, "--format", "json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    report = json.loads(run.stdout)
    assert report["impl"] == "my hand-written LSTM" and report["dtype"] == dtype
    # the example speaks forward(x, h0, c0, ...): every base case passes, the other variants are skipped
    assert report["summary"]["failed"] == report["summary"]["errors"] == 0
    assert report["summary"]["passed"] == len(BASE_IDS) and report["verdict"] == "PASS"
    assert report["summary"]["skipped"] == len(ALL_IDS) - len(BASE_IDS)


def test_readme_commands_match_the_tox_environments():
    assert "python -m pip install tox && tox -e conformance" in README
    assert re.search(r"python -m pip install tox && tox\s+(#|$)", README, flags=re.M), "no plain `tox` command"
    tox = (ROOT / "tox.ini").read_text()
    for env in ("testenv:conformance", "testenv:regen"):
        assert f"[{env}]" in tox
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^tox$", ci, flags=re.M), ".ci/run must run the README's test command (tox)"


def test_readme_shows_the_spec_equations_verbatim(spec):
    for name, expr in spec.equations.items():
        assert f"{name} = {expr.text}" in README, f"README's equation for {name} differs from spec/lstm.yaml"


def test_readme_names_every_builtin_adapter_and_every_known_failure():
    from lstm_conformance.run.adapters import BUILTIN

    for name in BUILTIN:
        assert f"`{name}`" in README, f"the README's adapter table lacks {name}"
    tox = (ROOT / "tox.ini").read_text()
    assert "[testenv:thirdparty]" in tox and re.search(r"^env_list = py, thirdparty$", tox, flags=re.M)
    for known in re.findall(r"--expect-fail (\S+)", tox):
        assert f"--expect-fail {known}" in README, f"tox.ini expects {known} to fail; the README must say why"


def _validate_commands() -> list[str]:
    """The README's 'validate your own implementation' commands, as a user would paste them."""
    blocks = re.findall(r"```sh\n(python -m pip install \..*?)```", README, flags=re.S)
    assert len(blocks) == 1, "the README should hold one sh block starting 'python -m pip install .'"
    return [line.split("  #")[0].strip() for line in blocks[0].strip().splitlines()]


@pytest.mark.slow
def test_readme_validate_section_works_verbatim_in_a_fresh_environment(tmp_path):
    """In a new virtual environment with nothing but pip (the Quick start's python with tox adds nothing the
    harness needs), the README's commands install the harness and judge its example adapter."""
    from tests.test_pytest_plugin import _copy_project

    checkout = _copy_project(tmp_path / "checkout")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_adapter.py").write_text(_adapter_example())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    commands = _validate_commands()
    assert commands[1] == "cd path/to/your/adapter", commands
    script = "\n".join(["set -eu", f"cd {checkout}", commands[0], f"cd {mine}", *commands[2:]])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LSTM_IMPL", "LSTM_CONFORMANCE_ROOT")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv))
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    skipped = len(ALL_IDS) - len(BASE_IDS)
    assert (f"PASS: {len(BASE_IDS)} passed, 0 failed, {skipped} skipped, 0 errors (my hand-written LSTM, float32)"
            in run.stdout)
    report = json.loads((mine / "report.json").read_text())
    assert report["verdict"] == "PASS" and report["impl"] == "my hand-written LSTM"
