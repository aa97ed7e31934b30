"""Issue 8, "Trust": start timeouts, no orphan processes, and in-process exit guards.

The adapters are in tests/trust_process_adapters.py; each writes the pids of the processes
it starts to a temporary folder ($TRUST_PROCESS_DIR), and every test checks in /proc that
none of them survives. In-process attempts to end the process (os._exit(0) above all) run
in a fresh Python (in a session of its own), never in this pytest process: a broken guard
would end pytest with exit status 0 and look like success.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lstm_conformance.run import exit_guards
from lstm_conformance.run.adapters import AdapterError
from lstm_conformance.cases.golden import load_golden
from lstm_conformance.run.runner import open_executor, run_case, run_conformance

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.trust_process_adapters"
HANG_ON_IMPORT = "tests.trust_process_hang_on_import:Adapter"
T1, T2, T3, T5 = "base-T1-B1-I1-H1", "base-T2-B1-I1-H1", "base-T3-B2-I4-H5", "base-T5-B3-I5-H3"
NOT_JUDGED = "[the result was not judged]"


# ---------------------------------------------------------------- helpers

@pytest.fixture()
def piddir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """$TRUST_PROCESS_DIR for the adapters; afterwards, releases a hung import and kills any survivor."""
    monkeypatch.setenv("TRUST_PROCESS_DIR", str(tmp_path))
    yield tmp_path
    (tmp_path / "release").touch()
    for path in tmp_path.glob("*.pids"):
        for pid in pids(tmp_path, path.stem):
            if pid != os.getpid() and alive(pid):  # an in-process import notes pytest's own pid
                os.kill(pid, signal.SIGKILL)


def pids(folder: Path, kind: str) -> list[int]:
    path = folder / f"{kind}.pids"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie has ended: it holds no pipe and runs no code)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def survivors(pid_list: list[int], within: float = 5.0) -> list[int]:
    """The pids still running after up to `within` seconds (SIGKILL takes a moment to land)."""
    deadline = time.monotonic() + within
    while any(alive(p) for p in pid_list) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [p for p in pid_list if alive(p)]


def wait_for_pids(folder: Path, kind: str, n: int = 1, within: float = 20.0) -> list[int]:
    deadline = time.monotonic() + within
    while len(pids(folder, kind)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return pids(folder, kind)


def run_cli(folder: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """tools/conformance.py from the repository root; (the finished process, its wall time)."""
    environ = {k: v for k, v in os.environ.items() if k != "LSTM_IMPL"} | {"TRUST_PROCESS_DIR": str(folder)} | env
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=240)
    return proc, time.perf_counter() - start


def reasons(run) -> dict[str, list[str]]:
    return {c.id: c.reasons for c in run.cases}


def statuses(run) -> dict[str, str]:
    return {c.id: c.status for c in run.cases}


# ---------------------------------------------------------------- start timeout and start failures

def test_an_import_that_hangs_in_a_worker_is_a_start_error_after_start_timeout(piddir):
    start = time.perf_counter()
    with pytest.raises(AdapterError) as info:
        open_executor(HANG_ON_IMPORT, True, 2)
    elapsed = time.perf_counter() - start
    assert str(info.value) == f"the adapter {HANG_ON_IMPORT!r} did not start within 2 s"
    assert 2 <= elapsed < 15, elapsed
    (worker,) = pids(piddir, "import")
    assert survivors([worker]) == []


def test_an_import_that_hangs_in_process_is_a_start_error_and_its_thread_stays_guarded(piddir):
    real = (os._exit, sys.exit, os.kill)
    users = exit_guards._guard_users  # an earlier test may have abandoned a hung adapter thread: it keeps the guards up
    start = time.perf_counter()
    with pytest.raises(AdapterError) as info:
        open_executor(HANG_ON_IMPORT, False, 1)
    assert time.perf_counter() - start < 5
    assert str(info.value) == (f"the adapter {HANG_ON_IMPORT!r} did not start within 1 s (in-process: its import "
                               f"or construction was abandoned in a thread)")
    assert pids(piddir, "import") == [os.getpid()]
    # the abandoned thread keeps the guards installed, but they let every other thread through
    assert exit_guards.guards_installed() and exit_guards._guard_users == users + 1
    assert os._exit.__wrapped__ is not None and sys.exit.__wrapped__ is not None  # functools.wraps of the guard
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(5)
    assert exit_info.value.code == 5
    (piddir / "release").touch()  # the import ends, the thread ends, the guards go (unless another keeps them)
    deadline = time.monotonic() + 10
    while exit_guards._guard_users > users and time.monotonic() < deadline:
        time.sleep(0.02)
    assert exit_guards._guard_users == users
    if users == 0:
        assert (os._exit, sys.exit, os.kill) == real


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]], ids=["worker", "in-process"])
def test_an_import_that_hangs_through_the_cli_is_a_usage_error_after_start_timeout(piddir, isolation):
    proc, seconds = run_cli(piddir, "--impl", HANG_ON_IMPORT, "--start-timeout", "2", "--cases", T3, *isolation)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    note = " (in-process: its import or construction was abandoned in a thread)" if isolation else ""
    assert proc.stderr.strip() == (f"conformance.py: error: the adapter {HANG_ON_IMPORT!r} did not start within 2 s"
                                   f"{note}")
    assert seconds < 20, seconds
    assert proc.stdout == ""
    assert survivors(pids(piddir, "import")) == []


@pytest.mark.parametrize("name, reason", [
    ("HangsWhenRestarted", f"the adapter '{MODULE}:HangsWhenRestarted' did not start within 2 s"),
    ("RaisesWhenRestarted",
     f"calling '{MODULE}:RaisesWhenRestarted'() failed: RuntimeError: simulated: the GPU is gone"),
])
def test_a_restart_that_fails_fails_every_later_case_at_once(piddir, spec, name, reason):
    """The first case ends the worker; its restart fails (after start_timeout for the hang); the cases
    after it fail at once with the same reason, not after another start_timeout each."""
    cases = load_golden(None, [T1, T2, T3, T5], spec)
    executor, _ = open_executor(f"{MODULE}:{name}", True, 2)
    try:
        results = [run_case(executor, spec, case, "float64", 30) for case in cases]
    finally:
        executor.close()
    assert [r.status for r in results] == ["error"] * 4
    first, restart, *later = results
    assert first.reasons == [f"the implementation's process died during forward (exit code 3) [case {first.id}]"]
    assert restart.reasons == [f"a fresh worker could not start: {reason} [case {restart.id}]"]
    if name == "HangsWhenRestarted":
        assert 2 <= restart.seconds < 15
    for case in later:
        assert case.reasons == [f"a fresh worker could not start: {reason} (not retried) [case {case.id}]"]
        assert case.seconds < 0.2, case.seconds
    workers = pids(piddir, "worker")
    assert len(workers) == 2 and survivors(workers) == []


def test_a_restart_that_hangs_through_run_conformance_waits_start_timeout_once(piddir):
    start = time.perf_counter()
    run = run_conformance(f"{MODULE}:HangsWhenRestarted", patterns=[T1, T2, T3, T5], timeout=30, start_timeout=2)
    assert 2 <= time.perf_counter() - start < 20
    assert run.summary() == {"passed": 0, "failed": 0, "skipped": 0, "errors": 4}
    assert not run.ok
    assert [c.reasons[0].endswith(f"did not start within 2 s (not retried) [case {c.id}]") for c in run.cases] \
        == [False, False, True, True]
    assert survivors(pids(piddir, "worker")) == []


# ---------------------------------------------------------------- children left running

@pytest.mark.parametrize("isolate", [True, False], ids=["worker", "in-process"])
def test_a_child_left_running_is_an_error_naming_it_and_is_killed(piddir, isolate):
    run = run_conformance(f"{MODULE}:SpawnsSleep", isolate=isolate, patterns=[T3], timeout=30)
    (pid,) = pids(piddir, "sleep")
    assert statuses(run) == {T3: "error"}
    assert reasons(run)[T3] == [f"forward left 1 child process running: pid {pid} (sleep 300); killed it "
                                f"{NOT_JUDGED} [case {T3}]"]
    assert survivors([pid]) == []


def test_a_double_forked_setsid_grandchild_is_found_through_the_subreaper_and_killed(piddir):
    run = run_conformance(f"{MODULE}:SpawnsDaemon", isolate=True, patterns=[T3, T1], timeout=30)
    daemons = pids(piddir, "daemon")
    assert len(daemons) == 2 and statuses(run) == {T3: "error", T1: "error"}
    for pid, case in zip(daemons, run.cases):
        (reason,) = case.reasons
        assert reason.startswith(f"forward left 1 child process running: pid {pid} ({sys.executable} -c"), reason
        assert reason.endswith(f"; killed it {NOT_JUDGED} [case {case.id}]")
    assert survivors(daemons) == []


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]], ids=["worker", "in-process"])
def test_a_left_child_holding_the_harness_pipes_does_not_block_a_reader_of_the_cli(piddir, isolation):
    """`sleep 300` inherits the harness's stdout and stderr pipes: subprocess.run would wait 300 s for EOF."""
    proc, seconds = run_cli(piddir, "--impl", f"{MODULE}:SpawnsSleep", "--cases", T3, "--format", "json", *isolation)
    assert seconds < 60, seconds
    assert proc.returncode == 1, proc.stderr
    (pid,) = pids(piddir, "sleep")
    (case,) = json.loads(proc.stdout)["cases"]
    assert case["status"] == "error"
    assert case["reasons"] == [f"forward left 1 child process running: pid {pid} (sleep 300); killed it {NOT_JUDGED} "
                               f"[case {T3}]"]
    assert survivors([pid]) == []


@pytest.mark.parametrize("isolate", [True, False], ids=["worker", "in-process"])
def test_children_left_by_building_the_adapter_make_it_fail_to_start(piddir, isolate):
    ref = f"{MODULE}:SpawnsWhenBuilt"
    with pytest.raises(AdapterError) as info:
        open_executor(ref, isolate, 30)
    (pid,) = pids(piddir, "sleep")
    assert str(info.value) == (f"building the adapter {ref!r} left 1 child process running: pid {pid} (sleep 300); "
                               f"killed it")
    assert survivors([pid]) == []


def test_the_worker_killed_on_timeout_takes_its_children_and_grandchildren_with_it(piddir):
    run = run_conformance(f"{MODULE}:SpawnsAndHangs", isolate=True, patterns=[T3], timeout=5)
    (sleep,), (daemon,) = pids(piddir, "sleep"), pids(piddir, "daemon")
    (reason,) = reasons(run)[T3]
    assert reason.startswith(f"timeout: forward did not return within 5 s (worker killed, with the 2 child processes "
                             f"it left running: pid {min(sleep, daemon)} ("), reason
    assert f"pid {sleep} (sleep 300)" in reason and f"pid {daemon} ({sys.executable} -c" in reason
    assert reason.endswith(f"; a fresh one serves the next case) [case {T3}]")
    assert survivors([sleep, daemon]) == []


def test_in_process_a_timed_out_call_has_its_new_children_killed(piddir):
    run = run_conformance(f"{MODULE}:SpawnsSleepAndHangs", isolate=False, patterns=[T3], timeout=2)
    (pid,) = pids(piddir, "sleep")
    assert reasons(run)[T3] == [f"timeout: forward did not return within 2 s (its thread was abandoned; it left 1 "
                                f"child process running: pid {pid} (sleep 300); killed it) [case {T3}]"]
    assert survivors([pid]) == []


def test_close_leaves_no_process_behind(piddir, spec):
    """A thread of the adapter starts `sleep 300` after forward returned: the per-call check cannot
    see it, close() must."""
    (case,) = load_golden(None, [T3], spec)
    executor, _ = open_executor(f"{MODULE}:SpawnsLater", True, 30)
    try:
        assert run_case(executor, spec, case, "float64", 30).status == "passed"
        (late,) = wait_for_pids(piddir, "late")
        assert alive(late)
    finally:
        executor.close()
    assert survivors([late]) == []


# ---------------------------------------------------------------- in-process exit guards

IN_FRESH_PYTHON = """
import json, os, sys
from lstm_conformance.run.runner import run_conformance
real = (os._exit, sys.exit, os.kill, os.abort)
run = run_conformance("tests.trust_process_adapters:ExitsOnT1", isolate=False, patterns=[{T1!r}, {T3!r}], timeout=30)
print(json.dumps({{"cases": {{c.id: [c.status, c.reasons] for c in run.cases}}, "pid": os.getpid(),
                  "pgid": os.getpgrp(), "restored": (os._exit, sys.exit, os.kill, os.abort) == real}}))
""".format(T1=T1, T3=T3)

EXITS = [  # TRUST_EXIT_HOW, the refused call as the reason names it ({pid}, {pgid}: the fresh Python's)
    ("os._exit", "the adapter called os._exit(0)"),
    ("sys.exit", "the adapter called sys.exit(0)"),
    ("sys.exit swallowed", "the adapter called sys.exit(0)"),
    ("raise SystemExit", "the adapter raised SystemExit(0)"),
    ("os.kill", "the adapter called os.kill({pid}, SIGKILL)"),
    ("os.killpg", "the adapter called os.killpg({pgid}, SIGKILL)"),
    ("os.abort", "the adapter called os.abort()"),
    ("signal.raise_signal", "the adapter called signal.raise_signal(SIGTERM)"),
    ("posix._exit", "the adapter called posix._exit(0)"),
]


@pytest.mark.parametrize("how, called", EXITS, ids=[h for h, _ in EXITS])
def test_in_process_an_attempt_to_end_the_process_is_an_error_and_the_run_goes_on(piddir, how, called):
    env = os.environ | {"TRUST_EXIT_HOW": how}
    proc = subprocess.run([sys.executable, "-c", IN_FRESH_PYTHON], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, start_new_session=True)  # a broken os.killpg guard must not reach pytest
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    out = json.loads(proc.stdout)
    want = called.format(pid=out["pid"], pgid=out["pgid"])
    reason = f"{want} during forward; in-process mode refused it {NOT_JUDGED} [case {T1}]"
    assert out["cases"] == {T1: ["error", [reason]], T3: ["passed", []]}
    assert out["restored"] is True


def test_in_process_os_exit_through_the_cli_is_an_error_and_a_non_zero_exit(piddir):
    proc, _ = run_cli(piddir, "--impl", f"{MODULE}:ExitsOnT1", "--cases", T1, "--cases", T3, "--no-isolation",
                      "--format", "json", TRUST_EXIT_HOW="os._exit")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"] == {"passed": 1, "failed": 0, "skipped": 0, "errors": 1}
    (t1,) = [c for c in doc["cases"] if c["id"] == T1]
    assert t1["reasons"] == [f"the adapter called os._exit(0) during forward; in-process mode refused it {NOT_JUDGED} "
                             f"[case {T1}]"]


def test_in_process_sys_exit_is_an_error_of_its_case(piddir, monkeypatch):
    monkeypatch.setenv("TRUST_EXIT_HOW", "sys.exit")
    run = run_conformance(f"{MODULE}:ExitsOnT1", isolate=False, patterns=[T1, T3], timeout=30)
    assert statuses(run) == {T1: "error", T3: "passed"}
    assert reasons(run)[T1] == [f"the adapter called sys.exit(0) during forward; in-process mode refused it "
                                f"{NOT_JUDGED} [case {T1}]"]
    assert not run.ok


def test_in_process_os_exit_while_building_is_a_start_error(piddir):
    proc, _ = run_cli(piddir, "--impl", f"{MODULE}:ExitsWhenBuilt", "--no-isolation", "--cases", T3)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.strip() == ("conformance.py: error: the adapter called os._exit(0) while it was imported and "
                                   "built; in-process mode refused it")


def test_in_a_worker_sys_exit_is_an_error_and_the_worker_serves_on(piddir, monkeypatch):
    monkeypatch.setenv("TRUST_EXIT_HOW", "sys.exit")
    run = run_conformance(f"{MODULE}:ExitsOnT1", isolate=True, patterns=[T1, T3], timeout=30)
    assert statuses(run) == {T1: "error", T3: "passed"}
    assert reasons(run)[T1] == [f"raised SystemExit: 0 [case {T1}]"]


DIES_WITH_A_WORKER = """
import os, signal, time
from lstm_conformance.run.executor import ProcessExecutor
executor = ProcessExecutor("tests.broken_adapters:Hangs", 60)
print(executor._proc.pid, flush=True)
executor._conn.send(("forward", (None,) * 5))  # the worker sleeps an hour in forward
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_worker_dies_with_the_harness(piddir):
    """The harness is SIGKILLed mid-call (no cleanup runs): PR_SET_PDEATHSIG takes the busy worker down with it."""
    out = piddir / "stdout"
    with open(out, "w") as stdout:  # a file, not a pipe: a surviving worker (or resource tracker) must not block us
        proc = subprocess.run([sys.executable, "-c", DIES_WITH_A_WORKER], cwd=ROOT, stdout=stdout,
                              stderr=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    worker = int(out.read_text())
    assert survivors([worker]) == []
