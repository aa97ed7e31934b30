"""Issue 8, "Trust": the harness checks its own inputs (spec, conventions, case list, goldens)
instead of trusting them, and reports a broken input as a located harness error (exit 2),
never as the implementation's failure, a hang or a traceback."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from lstm_conformance.cases.case_list import CaseListError, load_case_list
from lstm_conformance.cases.golden import GoldenError, load_golden
from lstm_conformance.spec.loader import SpecError, load_spec

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT / "tools" / "conformance.py"
REGEN = ROOT / "tools" / "regen_golden.py"
DIAGNOSE = ROOT / "tools" / "diagnose.py"
CASE = "base-T3-B2-I4-H5"
YAML_FILES = ["spec/lstm.yaml", "spec/conventions.yaml", "golden/case_list.yaml"]


def _env(root: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LSTM_CONFORMANCE_ROOT"}
    if root is not None:
        env["LSTM_CONFORMANCE_ROOT"] = str(root)
    return {**env, **extra}


def _run(tool: Path, *args: str, root: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a tool as a user would; `root` becomes LSTM_CONFORMANCE_ROOT (a copy holding spec/ and golden/)."""
    return subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True, cwd=ROOT,
                          env=_env(root), timeout=timeout)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this (main) thread if the block runs longer than `seconds`."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- 1. YAML alias bombs

def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": `levels` top-level keys, each a list of `width` aliases of the one before."""
    lines = [f"lol0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"lol{k}: &a{k} [{', '.join([f'*a{k - 1}'] * width)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n"


def _plant_bomb(path: Path) -> tuple[int, int]:
    """Append an alias bomb to a YAML mapping file; (line, column) of its first anchor, 1-based."""
    text = path.read_text()
    if not text.endswith("\n"):
        text += "\n"
    line = text.count("\n") + 1
    path.write_text(text + _alias_bomb())
    return line, len("lol0: ") + 1


@pytest.mark.parametrize("name", YAML_FILES)
def test_the_projects_yaml_uses_no_anchors_or_aliases(name):
    events = list(yaml.parse((ROOT / name).read_text(), Loader=yaml.SafeLoader))
    assert not [e for e in events if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)]


def test_an_alias_bomb_in_the_spec_is_refused_at_its_first_anchor(project_copy):
    path = project_copy / "spec" / "lstm.yaml"
    line, column = _plant_bomb(path)
    with _deadline(20), pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == (f"{path}:{line}:{column}: YAML aliases are not allowed in the spec "
                               "(they can expand exponentially); write the value out")


def test_a_single_alias_is_refused_too(project_copy):
    path = project_copy / "spec" / "lstm.yaml"
    text = path.read_text().replace("name: lstm\n", "name: &n lstm\nalso: *n\n", 1)
    path.write_text(text)
    with pytest.raises(SpecError, match=r"lstm\.yaml:\d+:7: YAML aliases are not allowed in the spec"):
        load_spec(path)


def test_conformance_cli_refuses_an_alias_bomb_in_the_spec(project_copy):
    path = project_copy / "spec" / "lstm.yaml"
    line, column = _plant_bomb(path)
    run = _run(CONFORMANCE, "--cases", "base-T1-*", root=project_copy, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}:{line}:{column}: YAML aliases are not allowed in the spec" in run.stderr
    assert "Traceback" not in run.stderr


def test_regen_check_refuses_an_alias_bomb_in_the_spec(project_copy):
    path = project_copy / "spec" / "lstm.yaml"
    line, column = _plant_bomb(path)
    run = _run(REGEN, "--check", "--spec", str(path), "--golden-dir", str(project_copy / "golden"), timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}:{line}:{column}: YAML aliases are not allowed in the spec" in run.stderr


def test_an_alias_bomb_in_the_conventions_is_refused(project_copy, spec):
    from lstm_conformance.diagnosis.conventions import load_conventions
    path = project_copy / "spec" / "conventions.yaml"
    line, column = _plant_bomb(path)
    with _deadline(20), pytest.raises(SpecError) as info:
        load_conventions(spec, path)
    assert str(info.value).startswith(f"{path}:{line}:{column}: YAML aliases are not allowed in the conventions file")


def test_diagnose_cli_refuses_an_alias_bomb_in_the_conventions(project_copy):
    path = project_copy / "spec" / "conventions.yaml"
    line, column = _plant_bomb(path)
    run = _run(DIAGNOSE, "--impl", "tests.broken_adapters:SwappedInputForgetGates", "--cases", "base-T1-*",
               "--cases", "base-T3-*", root=project_copy, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}:{line}:{column}: YAML aliases are not allowed in the conventions file" in run.stderr


def test_an_alias_bomb_in_the_case_list_is_refused(project_copy, spec):
    path = project_copy / "golden" / "case_list.yaml"
    line, column = _plant_bomb(path)
    with _deadline(20), pytest.raises(CaseListError) as info:
        load_case_list(path, spec)
    assert str(info.value).startswith(f"{path}:{line}:{column}: YAML aliases are not allowed in the case list")
    run = _run(REGEN, "--check", "--golden-dir", str(project_copy / "golden"), timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}:{line}:{column}: YAML aliases are not allowed in the case list" in run.stderr


# ---------------------------------------------------------------- 2. JSON depth

DEEP = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser can recurse


def _rehash(project_copy: Path, case_id: str, data: bytes) -> Path:
    """Write a case file's bytes and record their hash in the manifest, as a careful forger would."""
    import hashlib
    path = project_copy / "golden" / "cases" / f"{case_id}.json"
    path.write_bytes(data)
    mpath = project_copy / "golden" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["cases"][case_id]["sha256"] = hashlib.sha256(data).hexdigest()
    mpath.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def test_a_deeply_nested_manifest_is_a_golden_error(project_copy, spec):
    path = project_copy / "golden" / "manifest.json"
    path.write_text(DEEP)
    with pytest.raises(GoldenError, match=re.escape(f"{path}: nested too deep for the JSON parser")):
        load_golden(project_copy / "golden", spec=spec)


def test_conformance_cli_reports_a_deeply_nested_manifest_with_exit_2(project_copy):
    path = project_copy / "golden" / "manifest.json"
    path.write_text(DEEP)
    run = _run(CONFORMANCE, "--cases", "base-T1-*", root=project_copy)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}: nested too deep for the JSON parser; a golden file nests at most 32 levels" in run.stderr
    assert "Traceback" not in run.stderr


def test_regen_check_reports_a_deeply_nested_manifest_as_a_manifest_problem(project_copy):
    path = project_copy / "golden" / "manifest.json"
    path.write_text(DEEP)
    run = _run(REGEN, "--check", "--golden-dir", str(project_copy / "golden"), "--cases", "base-T1-*")
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"MANIFEST {path}: nested too deep for the JSON parser" in run.stdout
    assert "Traceback" not in run.stderr


def test_a_deeply_nested_case_file_is_a_golden_error_through_both_paths(project_copy, spec):
    text = (project_copy / "golden" / "cases" / f"{CASE}.json").read_text()
    path = _rehash(project_copy, CASE, text.replace('"variant": {}', f'"variant": {{"deep": {DEEP}}}', 1).encode())
    with pytest.raises(GoldenError, match=re.escape(f"{path}: nested too deep for the JSON parser")):
        load_golden(project_copy / "golden", spec=spec)
    run = _run(CONFORMANCE, "--cases", CASE, root=project_copy)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}: nested too deep for the JSON parser" in run.stderr and "Traceback" not in run.stderr


def test_a_case_file_nested_past_the_limit_is_refused_even_when_python_can_parse_it(project_copy, spec):
    text = (project_copy / "golden" / "cases" / f"{CASE}.json").read_text()
    nested = '{"a": ' * 40 + "1" + "}" * 40
    path = _rehash(project_copy, CASE, text.replace('"variant": {}', f'"variant": {nested}', 1).encode())
    with pytest.raises(GoldenError) as info:
        load_golden(project_copy / "golden", spec=spec)
    assert str(info.value).startswith(f"{path}: variant.a.a...: nested more than 32 levels deep")


# ---------------------------------------------------------------- 3. finite goldens and tolerances

def _with_value(project_copy: Path, literal: str) -> Path:
    """The case file with expected.c_n[1][2] replaced by `literal` (text), manifest re-hashed."""
    text = (project_copy / "golden" / "cases" / f"{CASE}.json").read_text()
    record = json.loads(text)
    old = json.dumps(record["expected"]["c_n"][1][2])
    line = next(ln for ln in text.splitlines() if ln.startswith(' "expected"'))
    c_n = line[line.index('"c_n"'):]
    assert c_n.count(old) == 1
    new_line = line.replace(c_n, c_n.replace(old, literal))
    return _rehash(project_copy, CASE, text.replace(line, new_line).encode())


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_golden_value_is_the_goldens_fault(project_copy, spec, literal):
    path = _with_value(project_copy, literal)
    with pytest.raises(GoldenError) as info:
        load_golden(project_copy / "golden", spec=spec)
    message = str(info.value)
    assert message.startswith(f"{path}: expected.c_n[1][2]="), message
    assert "must be finite (the golden file is broken, not the implementation)" in message


def test_conformance_cli_blames_a_nan_golden_on_the_golden(project_copy):
    path = _with_value(project_copy, "NaN")
    run = _run(CONFORMANCE, "--cases", CASE, root=project_copy)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}: expected.c_n[1][2]=NaN, but every number in a golden file must be finite" in run.stderr
    assert "expected nan" not in run.stdout + run.stderr


def test_a_nan_in_the_manifest_is_refused(project_copy, spec):
    path = project_copy / "golden" / "manifest.json"
    path.write_text(path.read_text().replace('"schema"', '"x": NaN, "schema"', 1))
    with pytest.raises(GoldenError, match=re.escape(f"{path}: x=NaN, but every number")):
        load_golden(project_copy / "golden", spec=spec)


def test_the_case_schema_says_numbers_are_finite():
    schema = json.loads((ROOT / "golden" / "case.schema.json").read_text())
    assert "finite" in schema["$defs"]["array"]["description"]
    assert "finite" in schema["description"]


def _spec_line(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


NON_FINITE_SPEC = [
    # (id, old, new, key path, value, line needle)
    ("atol-nan", "float32: {atol: 1.0e-5,", "float32: {atol: .nan,", "tolerances.float32.atol", "nan", "atol: .nan"),
    ("rtol-nan", "    rtol: 2.0e-2\n", "    rtol: .NaN\n", "tolerances.float16.rtol", "nan", "rtol: .NaN"),
    ("range-nan", "quantity: h, range: [-1.0, 1.0]", "quantity: h, range: [.nan, 1.0]", "invariants[4].range[0]", "nan",
     "range: [.nan"),
    ("range-inf", "quantity: y, range: [-1.0, 1.0]", "quantity: y, range: [-1.0, .inf]", "invariants[6].range[1]", "inf",
     "range: [-1.0, .inf]"),
    ("run-time-constant", "adds_at_run_time: {b_f: 1.0}", "adds_at_run_time: {b_f: -.inf}",
     "packings.tf1.adds_at_run_time.b_f", "-inf", "b_f: -.inf"),
]


@pytest.mark.parametrize("old, new, keypath, value, needle", [b[1:] for b in NON_FINITE_SPEC],
                         ids=[b[0] for b in NON_FINITE_SPEC])
def test_a_non_finite_number_in_the_spec_is_a_located_spec_error(project_copy, old, new, keypath, value, needle):
    path = project_copy / "spec" / "lstm.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.line == _spec_line(path, needle), str(info.value)
    assert str(info.value).startswith(f"{path}:{info.value.line}:{info.value.column}: {keypath}: "
                                      f"{value} is not a finite number")


def test_conformance_cli_refuses_a_nan_tolerance_with_exit_2(project_copy):
    path = project_copy / "spec" / "lstm.yaml"
    path.write_text(path.read_text().replace("float32: {atol: 1.0e-5,", "float32: {atol: .nan,", 1))
    run = _run(CONFORMANCE, "--cases", "base-T1-*", "--dtype", "float32", root=project_copy)
    assert run.returncode == 2, run.stdout + run.stderr
    line = _spec_line(path, "atol: .nan")
    assert re.search(rf"{re.escape(str(path))}:{line}:\d+: tolerances\.float32\.atol: nan is not a finite number",
                     run.stderr), run.stderr


def test_a_spec_built_in_memory_is_checked_for_finite_numbers_too(spec):
    from lstm_conformance.spec.loader import spec_from_data
    data = json.loads(json.dumps(spec.data))
    data["tolerances"]["float64"]["rtol"] = float("nan")
    with pytest.raises(SpecError, match=r"tolerances\.float64\.rtol: nan is not a finite number"):
        spec_from_data(data, "in memory")


# ---------------------------------------------------------------- 4. files the manifest does not list

TEMP_NAME = f".{CASE}.json.abc123.tmp"  # what golden.atomic_write leaves when it is interrupted


@pytest.mark.parametrize("name", ["stray.json", TEMP_NAME, "notes.txt"])
def test_the_loader_reports_files_the_manifest_does_not_list(project_copy, spec, name):
    cases = project_copy / "golden" / "cases"
    (cases / name).write_text("{}")
    with pytest.raises(GoldenError) as info:
        load_golden(project_copy / "golden", patterns=["base-T1-*"], spec=spec)
    assert str(info.value).startswith(f"{cases} holds files the manifest does not list: ['cases/{name}']; "
                                      "remove them or regenerate with `python tools/regen_golden.py")


def test_the_loader_reports_a_leftover_temporary_manifest(project_copy, spec):
    (project_copy / "golden" / ".manifest.json.x1y2z3.tmp").write_text("{")
    with pytest.raises(GoldenError, match=re.escape("does not list: ['.manifest.json.x1y2z3.tmp']")):
        load_golden(project_copy / "golden", spec=spec)


def test_conformance_cli_reports_an_unlisted_file_with_exit_2(project_copy):
    cases = project_copy / "golden" / "cases"
    (cases / TEMP_NAME).write_text("{")
    run = _run(CONFORMANCE, "--cases", "base-T1-*", root=project_copy)
    assert run.returncode == 2, run.stdout + run.stderr
    assert (f"{cases} holds files the manifest does not list: ['cases/{TEMP_NAME}']; remove them or regenerate "
            "with `python tools/regen_golden.py` (or `tox -e regen`)") in run.stderr


def test_regen_check_lists_leftover_temporary_files_as_extra(project_copy):
    cases = project_copy / "golden" / "cases"
    (cases / TEMP_NAME).write_text("{")
    (cases / "notes.txt").write_text("hello")
    (project_copy / "golden" / ".manifest.json.x1y2z3.tmp").write_text("{")
    run = _run(REGEN, "--check", "--golden-dir", str(project_copy / "golden"), "--cases", "base-T1-*")
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"EXTRA    {cases / TEMP_NAME}: a temporary file left by an interrupted regeneration" in run.stdout
    assert f"EXTRA    {project_copy / 'golden' / '.manifest.json.x1y2z3.tmp'}: a temporary file" in run.stdout
    assert f"EXTRA    {cases / 'notes.txt'}: not a case file of" in run.stdout
    assert "3 extra" in run.stdout


def test_regeneration_removes_leftovers_of_an_interrupted_run(project_copy):
    target = project_copy / "golden"
    leftovers = [target / "cases" / TEMP_NAME, target / ".manifest.json.x1y2z3.tmp", target / "cases" / "stray.json"]
    for path in leftovers:
        path.write_text("{")
    # a subprocess: forking this pytest process, where other tests may have imported JAX, warns
    run = _run(REGEN, "--golden-dir", str(target), "--jobs", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    for path in leftovers:
        assert f"removed stale {path.relative_to(target).as_posix()}\n" in run.stdout
    assert not [p for p in target.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp" or p.stem == "stray"]
    assert len(load_golden(target)) == len(list((ROOT / "golden" / "cases").glob("*.json")))


# ---------------------------------------------------------------- 5. workers die with their parent

def _children(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (nobody may reap it in a container)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_killing_regeneration_ends_its_workers():
    proc = subprocess.Popen([sys.executable, str(REGEN), "--check", "--jobs", "2"], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not workers and proc.poll() is None and time.monotonic() < deadline:
            workers = _children(proc.pid)
            time.sleep(0.02)
        assert workers, "regen --check ended before its workers could be seen"
        time.sleep(0.3)  # let the workers run their initializer
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], f"workers {workers} outlived their killed parent"
    finally:
        proc.kill()
        proc.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_parent_is_already_gone_exits():
    code = ("import os; from lstm_conformance.cases.golden import die_with_parent; "
            "die_with_parent(os.getppid() + 1); print('still here')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (1, "", "")


# ---------------------------------------------------------------- 6. messages for installed users, regen's CLI

def _tamper(case_path: Path) -> None:
    case_path.write_text(case_path.read_text().replace('"T": 3', '"T": 3 ', 1))


def test_checkout_hint_names_the_regeneration_command(project_copy, spec):
    path = project_copy / "golden" / "cases" / f"{CASE}.json"
    _tamper(path)
    with pytest.raises(GoldenError) as info:
        load_golden(project_copy / "golden", spec=spec)
    assert str(info.value).endswith(f"; edited by hand? regenerate with `python tools/regen_golden.py "
                                    f"--golden-dir {project_copy / 'golden'}`")
    run = _run(CONFORMANCE, "--cases", CASE, root=project_copy)
    assert run.returncode == 2
    assert "does not match the manifest's" in run.stderr
    assert "edited by hand? regenerate with `python tools/regen_golden.py` (or `tox -e regen`)" in run.stderr


def _installed_copy(tmp_path: Path) -> Path:
    """A copy of the package laid out as pip installs it (spec/ and golden/ under data/), outside the checkout."""
    site = tmp_path / "site"
    package = site / "lstm_conformance"
    shutil.copytree(ROOT / "lstm_conformance", package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copytree(ROOT / "spec", package / "data" / "spec")
    shutil.copytree(ROOT / "golden", package / "data" / "golden")
    return site


def test_installed_hint_says_reinstall(tmp_path):
    site = _installed_copy(tmp_path)
    _tamper(site / "lstm_conformance" / "data" / "golden" / "cases" / f"{CASE}.json")
    code = ("import lstm_conformance, sys\n"
            "from lstm_conformance.cases.golden import load_golden, GoldenError\n"
            "print(lstm_conformance.__file__)\n"
            "try:\n    load_golden()\nexcept GoldenError as exc:\n    print(exc)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=_env(PYTHONPATH=str(site)), timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(str(site)), run.stdout
    assert "the installed goldens do not match their manifest: reinstall lstm-conformance" in run.stdout
    assert "tools/regen_golden.py" not in run.stdout
    cli = ("import sys; from lstm_conformance.cli.conformance import main; "
           f"sys.exit(main(['--cases', '{CASE}']))")
    run = subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, cwd=tmp_path,
                         env=_env(PYTHONPATH=os.pathsep.join([str(site), str(ROOT)])), timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "reinstall lstm-conformance" in run.stderr and "tools/regen_golden.py" not in run.stderr


def test_installed_hint_for_unlisted_files(tmp_path):
    site = _installed_copy(tmp_path)
    (site / "lstm_conformance" / "data" / "golden" / "cases" / "stray.json").write_text("{}")
    code = ("from lstm_conformance.cases.golden import load_golden, GoldenError\n"
            "try:\n    load_golden()\nexcept GoldenError as exc:\n    print(exc)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=_env(PYTHONPATH=str(site)), timeout=120)
    assert "does not list: ['cases/stray.json']; remove them or reinstall lstm-conformance" in run.stdout, run


def test_regen_usage_names_the_program_as_run():
    run = subprocess.run([sys.executable, "-m", "lstm_conformance.cli.regen", "--no-such-option"],
                         capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60)
    assert run.returncode == 2
    assert run.stderr.startswith("usage: regen.py "), run.stderr


def test_regen_help_shows_the_actual_default_paths(project_copy):
    run = subprocess.run([sys.executable, str(REGEN), "--help"], capture_output=True, text=True, cwd=ROOT,
                         env=_env(project_copy, COLUMNS="300"), timeout=60)
    assert run.returncode == 0
    assert f"default: {project_copy / 'golden'}" in run.stdout
    assert f"default: {project_copy / 'spec' / 'lstm.yaml'}" in run.stdout


def _into_closed_pipe(args: list[str], unbuffered: str) -> subprocess.CompletedProcess:
    """Run regen with a stdout whose reader has gone (like `| head` that has already exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, str(REGEN), *args], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=_env(PYTHONUNBUFFERED=unbuffered), timeout=120)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])
def test_regen_is_quiet_on_a_closed_stdout(unbuffered):
    run = _into_closed_pipe(["--check", "--cases", "base-T1-*", "--jobs", "1"], unbuffered)
    assert run.returncode == 141, run.stderr
    assert run.stderr == ""


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "unbuffered"])
def test_regen_help_is_quiet_on_a_closed_stdout(unbuffered):
    run = _into_closed_pipe(["--help"], unbuffered)
    assert run.returncode in (0, 141) and run.stderr == "", run  # argparse itself ignores a failed write
