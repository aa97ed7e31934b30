"""Adapters that misbehave towards the harness's process (issue 8, "Trust"), for tests/test_trust_process.py.

Each is correct LSTM arithmetic (tests.broken_adapters.CorrectAdapter) plus one misdeed.
They write the pids of the processes they start, one per line, to files in the folder
named by $TRUST_PROCESS_DIR, so that a test can check that none survives. Load them as
`tests.trust_process_adapters:NAME` from the repository root.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.broken_adapters import CorrectAdapter

KEEP: list[subprocess.Popen] = []  # Popen objects kept alive: no "still running" warning when they are killed


def state_dir() -> Path:
    return Path(os.environ["TRUST_PROCESS_DIR"])


def note_pid(kind: str, pid: int) -> None:
    """Append `pid` to $TRUST_PROCESS_DIR/<kind>.pids."""
    with open(state_dir() / f"{kind}.pids", "a") as f:
        f.write(f"{pid}\n")


def spawn_sleep(kind: str = "sleep") -> int:
    """Start `sleep 300`, inheriting this process's stdout and stderr (the harness's pipes)."""
    proc = subprocess.Popen(["sleep", "300"])
    KEEP.append(proc)
    note_pid(kind, proc.pid)
    # the harness names a leftover child by its /proc cmdline; on a loaded machine that can still read empty
    # for a moment after Popen returns (seen in CI: "(sleep)", the comm fallback), so wait until it is there
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{proc.pid}/cmdline").read_bytes() == b"sleep\x00300\x00":
                break
        except OSError:
            break
        time.sleep(0.005)
    return proc.pid


DAEMON = """
import os, sys, time
os.setsid()
if os.fork():
    os._exit(0)
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\\n")
time.sleep(300)
"""


def spawn_daemon() -> int:
    """Start a grandchild that leaves the session (setsid) and whose parent exits (double fork);
    return its pid once it is running on its own."""
    path = state_dir() / "daemon.pids"
    before = path.read_text().split() if path.exists() else []
    subprocess.run([sys.executable, "-c", DAEMON, str(path)], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = path.read_text().split() if path.exists() else []
        if len(now) > len(before):
            return int(now[-1])
        time.sleep(0.01)
    raise RuntimeError("the daemon did not start")


def start_count() -> int:
    """How many times an adapter has been built so far in this test (a file: workers share it)."""
    note_pid("worker", os.getpid())
    path = state_dir() / "starts"
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


# ---------------------------------------------------------------- children left running

class SpawnsSleep(CorrectAdapter):
    """forward starts `sleep 300` and returns a correct result, leaving it running."""

    name = "spawns sleep"

    def forward(self, x, h0, c0, params, variant):
        spawn_sleep()
        return super().forward(x, h0, c0, params, variant)


class SpawnsDaemon(CorrectAdapter):
    """forward starts a double-forked, setsid'd grandchild and returns a correct result."""

    name = "spawns daemon"

    def forward(self, x, h0, c0, params, variant):
        spawn_daemon()
        return super().forward(x, h0, c0, params, variant)


class SpawnsAndHangs(CorrectAdapter):
    """forward starts `sleep 300` and a daemonized grandchild (when DAEMON is true), then hangs."""

    name = "spawns and hangs"
    DAEMON = True

    def forward(self, x, h0, c0, params, variant):
        spawn_sleep()
        if self.DAEMON:
            spawn_daemon()
        time.sleep(600)


class SpawnsSleepAndHangs(SpawnsAndHangs):
    """forward starts `sleep 300`, then hangs (for in-process mode, which cannot see daemons)."""

    DAEMON = False


class SpawnsLater(CorrectAdapter):
    """forward returns at once; a thread it started starts `sleep 300` half a second later."""

    name = "spawns later"

    def forward(self, x, h0, c0, params, variant):
        threading.Thread(target=lambda: (time.sleep(0.5), spawn_sleep("late")), daemon=True).start()
        return super().forward(x, h0, c0, params, variant)


class SpawnsWhenBuilt(CorrectAdapter):
    """Its constructor starts `sleep 300` and leaves it running."""

    name = "spawns when built"

    def __init__(self) -> None:
        spawn_sleep()


# ---------------------------------------------------------------- start failures on restart

def _crash_on_first(self, x, h0, c0, params, variant):
    os._exit(3)


class _Restarts(CorrectAdapter):
    """The first build works and its forward ends the worker (exit 3); every later build fails."""

    name = "restarts"

    def __init__(self) -> None:
        if start_count() > 1:
            self.fail()

    def fail(self) -> None:
        raise NotImplementedError

    forward = _crash_on_first


class HangsWhenRestarted(_Restarts):
    """A rebuilt adapter hangs in its constructor."""

    def fail(self) -> None:
        time.sleep(600)


class RaisesWhenRestarted(_Restarts):
    """A rebuilt adapter raises in its constructor."""

    def fail(self) -> None:
        raise RuntimeError("simulated: the GPU is gone")


# ---------------------------------------------------------------- ending the process (in-process mode)

def _exit_how(how: str) -> None:
    if how == "os._exit":
        os._exit(0)
    elif how == "sys.exit":
        sys.exit(0)
    elif how == "sys.exit swallowed":
        try:
            sys.exit(0)
        except BaseException:  # noqa: BLE001 - the misdeed: hiding the attempt
            pass
    elif how == "raise SystemExit":
        raise SystemExit(0)
    elif how == "os.kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "os.killpg":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    elif how == "os.abort":
        os.abort()
    elif how == "signal.raise_signal":
        signal.raise_signal(signal.SIGTERM)
    elif how == "posix._exit":
        import posix
        posix._exit(0)


class ExitsOnT1(CorrectAdapter):
    """When T == 1, forward tries to end the process as $TRUST_EXIT_HOW says; correct otherwise."""

    name = "exits on T1"

    def forward(self, x, h0, c0, params, variant):
        if x.shape[0] == 1:
            _exit_how(os.environ["TRUST_EXIT_HOW"])
        return super().forward(x, h0, c0, params, variant)


class ExitsWhenBuilt(CorrectAdapter):
    """Its constructor calls os._exit(0)."""

    name = "exits when built"

    def __init__(self) -> None:
        os._exit(0)
