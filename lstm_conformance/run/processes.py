"""Process hygiene on Linux, through /proc and prctl: find, kill and reap what an adapter leaves running.

Elsewhere these steps are skipped where the OS lacks them. A worker hardened by harden_worker
starts its own session (os.setsid), makes itself a child subreaper (PR_SET_CHILD_SUBREAPER, so
that grandchildren of a double fork reparent to it) and asks to be SIGKILLed when its parent
dies (PR_SET_PDEATHSIG; the kernel sends it when the *thread* that started the worker ends, so
open and use an executor from one long-lived thread, as run_conformance and the pytest plugin
do). kill_family SIGKILLs what it finds in /proc below a process by parent pid (recursively)
and in its session and group, looking again until nothing new turns up (a process may fork
while we look). Known gap: if a worker crashes on its own, a grandchild that left the worker's
session (setsid) is no longer anyone's descendant and escapes; so does the in-flight call's
child when the harness itself is SIGKILLed.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36  # <linux/prctl.h>


@dataclass(frozen=True)
class _Proc:
    """One process as /proc/PID/stat shows it; (pid, start) identifies it across pid reuse."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start: int
    comm: str

    @property
    def key(self) -> tuple[int, int]:
        return self.pid, self.start

    @property
    def live(self) -> bool:
        return self.state not in "ZXx"


def _read_stat(pid: str) -> _Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        head, _, tail = data.rpartition(b")")
        fields = tail.split()
        return _Proc(int(pid), int(fields[1]), int(fields[2]), int(fields[3]), fields[0].decode(), int(fields[19]),
                     head.partition(b"(")[2].decode(errors="replace"))
    except (OSError, IndexError, ValueError):
        return None  # gone meanwhile, or not a process


def _snapshot() -> dict[int, _Proc] | None:
    """Every process visible in /proc, or None where there is no Linux-style /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    procs = {}
    for name in names:
        if name.isdigit():
            proc = _read_stat(name)
            if proc is not None:
                procs[proc.pid] = proc
    return procs if os.getpid() in procs else None


def _descendants(procs: dict[int, _Proc], root: int) -> list[_Proc]:
    """The processes below `root` by parent pid, recursively (root itself not included)."""
    children: dict[int, list[_Proc]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc)
    found: dict[int, _Proc] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid != root and child.pid not in found:
                found[child.pid] = child
                todo.append(child.pid)
    return list(found.values())


def _family(procs: dict[int, _Proc], root: int) -> list[_Proc]:
    """The live descendants of `root` and the live members of its session and group (root excluded)."""
    members = _descendants(procs, root) + [p for p in procs.values() if root in (p.sid, p.pgid) and p.pid != root]
    return list({p.pid: p for p in members if p.live}.values())


def _describe(proc: _Proc) -> str:
    """'pid 1234 (sleep 300)': the command line, clipped, or the command name.

    Right after an exec the kernel has closed the exec's close-on-exec pipe (so Popen has returned) but may
    not have laid out the new arguments yet: cmdline reads empty for a moment. Look again, briefly."""
    words: list[str] = []
    for _ in range(20):
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
                words = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
        except OSError:
            break
        if words:
            break
        time.sleep(0.005)
    text = " ".join(words) or proc.comm
    return f"pid {proc.pid} ({text[:60] + ('…' if len(text) > 60 else '')})"


def _kill_all(select: Callable[[dict[int, _Proc]], list[_Proc]], rounds: int = 100) -> list[str]:
    """SIGKILL what `select` picks from a fresh /proc snapshot, again until it picks nothing new
    (a process may fork while we look); the descriptions of the processes killed, by pid."""
    killed: dict[tuple[int, int], tuple[int, str]] = {}
    for _ in range(rounds):
        procs = _snapshot()
        fresh = [p for p in select(procs) if p.key not in killed] if procs is not None else []
        if not fresh:
            break
        for proc in fresh:
            killed[proc.key] = (proc.pid, _describe(proc))
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)
    return [text for _, text in sorted(killed.values())]


def kill_family(root: int) -> list[str]:
    """Kill every live descendant, session member and group member of `root` (not root itself)."""
    return _kill_all(lambda procs: _family(procs, root))


def my_children() -> set[tuple[int, int]] | None:
    """The live descendants of this process, or None without /proc."""
    procs = _snapshot()
    return None if procs is None else {p.key for p in _descendants(procs, os.getpid()) if p.live}


def kill_new_children(before: set[tuple[int, int]] | None) -> list[str]:
    """Kill (and reap) the descendants of this process that were not there `before` (from my_children)."""
    if before is None:
        return []
    me = os.getpid()
    direct: list[int] = []

    def select(procs: dict[int, _Proc]) -> list[_Proc]:
        new = [p for p in _descendants(procs, me) if p.live and p.key not in before]
        direct.extend(p.pid for p in new if p.ppid == me)
        return new
    killed = _kill_all(select)
    _reap(direct)
    return killed


def count_text(killed: list[str]) -> str:
    """'1 child process', '2 child processes'."""
    return f"{len(killed)} child process{'es' if len(killed) != 1 else ''}"


def shown_text(killed: list[str]) -> str:
    """'pid 1234 (sleep 300), pid 1240 (sleep 300)' (at most five named)."""
    return ", ".join(killed[:5]) + (f" and {len(killed) - 5} more" if len(killed) > 5 else "")


def left_text(what: str, killed: list[str]) -> str:
    """'forward left 1 child process running: pid 1234 (sleep 300); killed it'."""
    return (f"{what} left {count_text(killed)} running: {shown_text(killed)}; "
            f"killed {'it' if len(killed) == 1 else 'them'}")


def reap_children(wait_s: float = 0.0) -> None:
    """Reap this process's exited children (waitpid(-1, WNOHANG)); poll up to `wait_s` for more."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.005)


def _reap(pids: Iterable[int], wait_s: float = 2.0) -> None:
    """Reap the given children of this process once they have died (they were SIGKILLed)."""
    pending, deadline = set(pids), time.monotonic() + wait_s
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # not our child, or reaped by someone else
            if done:
                pending.discard(pid)
        if pending:
            time.sleep(0.005)


# ---------------------------------------------------------------- prctl

def _prctl(option: int, value: int) -> bool:
    """prctl(option, value) through libc; False where there is no prctl or it fails."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                          ctypes.c_ulong(0)) == 0
    except (AttributeError, OSError):
        return False


def harden_worker(parent_pid: int) -> None:
    """Own session and group, subreaper of the adapter's orphans, SIGKILLed when the harness dies."""
    with contextlib.suppress(OSError, AttributeError):
        os.setsid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL) and os.getppid() != parent_pid:
        os._exit(1)  # the harness died before the death signal was armed


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: on Linux the worker gets SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG),
    so a killed regeneration leaves no workers behind; a worker whose parent is already gone exits."""
    if sys.platform.startswith("linux"):
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # no prctl: the getppid check below still catches an early death
    if os.getppid() != parent_pid:
        os._exit(1)
