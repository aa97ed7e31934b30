"""Call an adapter so that a misbehaving implementation cannot take the run down.

ProcessExecutor (the default for --impl) runs the adapter in a worker process:
a hang is killed at the per-case timeout, a crash (even a segfault in a C
extension) is reported, and a fresh worker serves the next case. A worker that
cannot start (its import or constructor raises, or takes longer than
`start_timeout`) is a start failure; once a restart has failed, every later call
fails at once with the same reason instead of waiting `start_timeout` again.

No orphans (Linux; elsewhere these steps are skipped where the OS lacks them):
the worker starts its own session (os.setsid), makes itself a child subreaper
(PR_SET_CHILD_SUBREAPER, so that grandchildren of a double fork reparent to it)
and asks to be SIGKILLed when the harness dies (PR_SET_PDEATHSIG; the kernel sends
it when the *thread* that started the worker ends, so open and use an executor
from one long-lived thread, as run_conformance and the pytest plugin do). After
every call the worker kills (SIGKILL) and reaps whatever processes the adapter left
running, found in /proc by parent pid (recursively) and by session, and the call
is an error of its case (AdapterMisbehaved: "forward left 1 child process running:
pid 1234 (sleep 300); killed it [the result was not judged]"). The result of such a
call is not judged: the harness cannot know what the process was doing to it.
When the worker is retired (close), timed out or dead, the parent stops it, kills
every descendant and session member it finds in /proc, and kills the worker's
process group. Known gap: if the worker crashes on its own, a grandchild that
left the worker's session (setsid) is no longer anyone's descendant and escapes;
so does the in-flight call's child when the harness itself is SIGKILLed.

ThreadExecutor runs an adapter object in this process, in a daemon thread with
the same timeout (a hung thread is abandoned, not killed); ThreadExecutor.from_ref
imports and builds the adapter in such a thread too, bounded by `start_timeout`.
While adapter code runs in such a thread, sys.exit, os._exit, os.abort,
signal.raise_signal, signal.pthread_kill, and os.kill / os.killpg aimed at this
process or its process group (also as posix._exit, posix.kill, ...) are replaced by
guards that raise AdapterMisbehaved ("the adapter called os._exit(0) during
forward; in-process mode refused it") in the adapter's thread, and the call is an
error of its case even if the adapter catches that exception. A SystemExit or
KeyboardInterrupt raised in the adapter's thread is reported the same way. The
guards act only in the harness's adapter threads (a thread-local flag): any other
thread calls the real functions. They are installed while at least one adapter
thread runs and restored when the last one ends; a thread abandoned after a timeout
keeps them installed until it ends (possibly for the life of the process), so that
it can never reach the real os._exit later. Children of this process that appear
during a call are killed and reported as in the worker (also after a timeout).

What in-process mode still trusts (the worker is immune to all of these): threads
the adapter starts itself (they carry no flag, so the guards let them through);
references to the real functions taken before the guards were installed (e.g.
`from os import _exit` in a module imported before from_ref); exits, signals and
crashes from C code (a C extension calling exit(), abort() or segfaulting); writes
to file descriptor 1 that bypass sys.stdout (they corrupt the report); monkeypatching
of NumPy, the harness or anything else in the process; grandchildren that are
daemonized (double fork) before the call ends, which reparent to init; and children
that another thread of this process starts during a call are taken for the adapter's.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .adapters import AdapterError, build_adapter, check_adapter, load_factory
from .compare import NonArray


class CaseTimeout(Exception):
    """The call did not finish within the timeout; `note` says what was done about it."""

    def __init__(self, message: str, note: str = "") -> None:
        super().__init__(message + note)
        self.note = note


class AdapterRaised(Exception):
    """The adapter raised; carries its exception type, message and traceback text."""

    def __init__(self, summary: str, tb: str) -> None:
        super().__init__(summary)
        self.summary, self.tb = summary, tb


class WorkerDied(Exception):
    """The worker process ended in the middle of a call."""


class AdapterMisbehaved(Exception):
    """The call ended, but the adapter did something the harness forbids (left child processes
    running, tried to end the process); the message says what and what was done about it."""


DEFAULT_START_TIMEOUT = 120.0  # keras and jax take a while to import on 2 cores
NOT_JUDGED = " [the result was not judged]"


def portable(result: Any) -> Any:
    """The result as plain, native-byte-order ndarrays; anything else becomes a NonArray description.

    Subclasses are reduced to their data (a masked array's masked NaN is still a NaN).
    """
    def one(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            value = np.asarray(value).view(np.ndarray)
            if not value.dtype.isnative:
                value = value.astype(value.dtype.newbyteorder("="))
            return value
        text = repr(value)
        return NonArray(type(value).__module__ + "." + type(value).__qualname__, text[:80] + ("…" if len(text) > 80 else ""))
    if isinstance(result, (tuple, list)):
        return tuple(one(v) for v in result)
    return one(result)


def invoke(adapter: Any, method: str, args: tuple) -> Any:
    """Call one adapter method and normalise its result, so that nothing the adapter
    returns can raise later in the harness: forward -> portable(...),
    supports -> bool, skip_reason -> str or None (a missing skip_reason is None)."""
    fn = getattr(adapter, method, None)
    if fn is None:
        return None
    result = fn(*args)
    if method == "forward":
        return portable(result)
    if method == "supports":
        return bool(result)
    if method == "skip_reason":
        return None if result is None or result is False else str(result)
    return result


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- processes, from /proc

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
    """'pid 1234 (sleep 300)': the command line, clipped, or the command name."""
    try:
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            words = [w.decode(errors="replace") for w in f.read().split(b"\0") if w]
    except OSError:
        words = []
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


def _kill_family(root: int) -> list[str]:
    """Kill every live descendant, session member and group member of `root` (not root itself)."""
    return _kill_all(lambda procs: _family(procs, root))


def _count_text(killed: list[str]) -> str:
    """'1 child process', '2 child processes'."""
    return f"{len(killed)} child process{'es' if len(killed) != 1 else ''}"


def _shown_text(killed: list[str]) -> str:
    """'pid 1234 (sleep 300), pid 1240 (sleep 300)' (at most five named)."""
    return ", ".join(killed[:5]) + (f" and {len(killed) - 5} more" if len(killed) > 5 else "")


def _left_text(what: str, killed: list[str]) -> str:
    """'forward left 1 child process running: pid 1234 (sleep 300); killed it'."""
    return (f"{what} left {_count_text(killed)} running: {_shown_text(killed)}; "
            f"killed {'it' if len(killed) == 1 else 'them'}")


def _reap_children(wait_s: float = 0.0) -> None:
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


# ---------------------------------------------------------------- in-process exit guards

_tls = threading.local()  # .during: "during forward" while this thread runs adapter code; .refused: what it tried
_guard_lock = threading.Lock()
_guard_users = 0  # adapter threads running (abandoned ones included)
_guard_saved: list[tuple[Any, str, Any, Any]] = []  # (module, name, real, guard)


def _hits_this_process(pid: int) -> bool:
    return pid in (os.getpid(), 0, -1) or (pid < -1 and -pid == os.getpgrp())


# (module name, attribute, refuse(args) -> bool): what the guards replace while adapter code runs in-process
_GUARDED = [
    ("sys", "exit", lambda args: True),
    ("os", "_exit", lambda args: True),
    ("os", "abort", lambda args: True),
    ("os", "kill", lambda args: len(args) == 2 and args[1] != 0 and _hits_this_process(args[0])),
    ("os", "killpg", lambda args: len(args) == 2 and args[1] != 0 and args[0] in (0, os.getpgrp())),
    ("signal", "raise_signal", lambda args: True),
    ("signal", "pthread_kill", lambda args: len(args) == 2 and args[1] != 0),
    ("posix", "_exit", lambda args: True),
    ("posix", "abort", lambda args: True),
    ("posix", "kill", lambda args: len(args) == 2 and args[1] != 0 and _hits_this_process(args[0])),
    ("posix", "killpg", lambda args: len(args) == 2 and args[1] != 0 and args[0] in (0, os.getpgrp())),
]


def _show_arg(value: Any) -> str:
    return value.name if isinstance(value, signal.Signals) else repr(value)


def _make_guard(label: str, real: Callable, refuse: Callable[[tuple], bool]) -> Callable:
    @functools.wraps(real)
    def guard(*args: Any, **kwargs: Any) -> Any:
        during = getattr(_tls, "during", None)
        if during is not None and refuse(args):
            text = (f"the adapter called {label}({', '.join(map(_show_arg, args))}) {during}; "
                    f"in-process mode refused it")
            _tls.refused.append(text)
            raise AdapterMisbehaved(text)
        return real(*args, **kwargs)
    return guard


def _guard_enter() -> None:
    """One more adapter thread is about to run: install the guards if none are."""
    global _guard_users
    with _guard_lock:
        if _guard_users == 0:
            for module_name, attr, refuse in _GUARDED:
                module = sys.modules.get(module_name)
                real = getattr(module, attr, None)
                if real is not None:
                    guard = _make_guard(f"{module_name}.{attr}", real, refuse)
                    setattr(module, attr, guard)
                    _guard_saved.append((module, attr, real, guard))
        _guard_users += 1


def _guard_leave() -> None:
    """An adapter thread has ended: restore the real functions if it was the last one."""
    global _guard_users
    with _guard_lock:
        _guard_users -= 1
        if _guard_users == 0:
            for module, attr, real, guard in _guard_saved:
                if getattr(module, attr, None) is guard:  # leave alone what someone else replaced since
                    setattr(module, attr, real)
            _guard_saved.clear()


def guards_installed() -> bool:
    """Whether the in-process exit guards are in place (an adapter thread is running)."""
    return _guard_users > 0


def _start_guarded(fn: Callable[[], Any], during: str, name: str) -> tuple[threading.Thread, dict[str, Any]]:
    """Run fn() in a daemon thread under the exit guards; the box gets result or error/tb, and refused."""
    box: dict[str, Any] = {}

    def target() -> None:
        _tls.during, _tls.refused = during, []
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - everything is reported against the case
            box["error"], box["tb"] = exc, traceback.format_exc()
        finally:
            box["refused"] = list(_tls.refused)
            _tls.during = None
            _guard_leave()

    thread = threading.Thread(target=target, daemon=True, name=name)
    _guard_enter()
    try:
        thread.start()
    except BaseException:
        _guard_leave()
        raise
    return thread, box


def _misbehaviour(box: dict[str, Any], during: str, killed: list[str], what: str) -> str | None:
    """What the adapter did that the harness forbids (refused exits, SystemExit, leftover children), or None."""
    problems = list(box.get("refused", []))
    error = box.get("error")
    if not problems and isinstance(error, (SystemExit, KeyboardInterrupt)):
        problems.append(f"the adapter raised {type(error).__name__}({_show_arg(error.args[0]) if error.args else ''}) "
                        f"{during}; in-process mode refused it")
    if killed:
        problems.append(_left_text(what, killed))
    return "; ".join(problems) if problems else None


def _my_children() -> set[tuple[int, int]] | None:
    """The live descendants of this process, or None without /proc."""
    procs = _snapshot()
    return None if procs is None else {p.key for p in _descendants(procs, os.getpid()) if p.live}


def _kill_new_children(before: set[tuple[int, int]] | None) -> list[str]:
    """Kill (and reap) the descendants of this process that were not there `before`."""
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


class ThreadExecutor:
    """Runs an adapter object's methods in a daemon thread, with a timeout and the exit guards."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = check_adapter(adapter)
        self.name = str(adapter.name)

    @classmethod
    def from_ref(cls, ref: str, start_timeout: float = DEFAULT_START_TIMEOUT) -> "ThreadExecutor":
        """Import and build the adapter named by `ref` in this process, in a guarded thread bounded by
        `start_timeout` (AdapterError if it cannot, does not finish in time, or misbehaves)."""
        before = _my_children()
        during = "while it was imported and built"
        with contextlib.redirect_stdout(sys.stderr):
            thread, box = _start_guarded(lambda: build_adapter(load_factory(ref), ref), during, "adapter-build")
            thread.join(start_timeout)
        killed = _kill_new_children(before)
        if thread.is_alive():
            note = f"; {_left_text('it', killed)}" if killed else ""
            raise AdapterError(f"the adapter {ref!r} did not start within {start_timeout:g} s (in-process: its import "
                               f"or construction was abandoned in a thread{note})")
        problem = _misbehaviour(box, during, killed, f"building the adapter {ref!r}")
        if problem:
            raise AdapterError(problem)
        if "error" in box:
            error = box["error"]
            raise error if isinstance(error, AdapterError) else AdapterError(f"{ref}: {_summary(error)}")
        return cls(box["result"])

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        before = _my_children()
        during = f"during {method}"
        # what the adapter prints goes to stderr, so that a report on stdout stays clean
        with contextlib.redirect_stdout(sys.stderr):
            thread, box = _start_guarded(lambda: invoke(self.adapter, method, args), during, f"adapter-{method}")
            thread.join(timeout)
        killed = _kill_new_children(before)
        if thread.is_alive():
            note = f" (its thread was abandoned; {_left_text('it', killed)})" if killed else ""
            raise CaseTimeout(f"{method} did not return within {timeout:g} s", note)
        problem = _misbehaviour(box, during, killed, method)
        if problem:
            raise AdapterMisbehaved(problem + NOT_JUDGED)
        if "error" in box:
            raise AdapterRaised(_summary(box["error"]), box["tb"])
        return box["result"]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- the worker process

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


def _prctl(option: int, value: int) -> bool:
    """prctl(option, value) through libc; False where there is no prctl or it fails."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                          ctypes.c_ulong(0)) == 0
    except (AttributeError, OSError):
        return False


def _harden_worker(parent_pid: int) -> None:
    """Own session and group, subreaper of the adapter's orphans, SIGKILLed when the harness dies."""
    with contextlib.suppress(OSError, AttributeError):
        os.setsid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL) and os.getppid() != parent_pid:
        os._exit(1)  # the harness died before the death signal was armed


def _clean_up() -> list[str]:
    """In the worker: kill what the adapter left running, reap it; their descriptions."""
    _reap_children()
    killed = _kill_family(os.getpid())
    if killed:
        _reap_children(2.0)
    return killed


def _worker_main(conn: Any, ref: str, parent_pid: int = 0) -> None:
    """Worker process: build the adapter, then serve (method, args) calls until told to stop."""
    _harden_worker(parent_pid or os.getppid())
    # what the adapter prints goes to stderr, so that a report on stdout stays clean
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        _serve(conn, ref)
    finally:
        _clean_up()


def _serve(conn: Any, ref: str) -> None:
    try:
        adapter = build_adapter(load_factory(ref), ref)
    except AdapterError as exc:
        conn.send(("fatal", str(exc)))
        return
    except BaseException as exc:  # noqa: BLE001
        conn.send(("fatal", _summary(exc)))
        return
    killed = _clean_up()
    if killed:
        conn.send(("fatal", _left_text(f"building the adapter {ref!r}", killed)))
        return
    conn.send(("ready", str(adapter.name)))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        method, args = message
        try:
            reply = ("ok", invoke(adapter, method, args))
        except BaseException as exc:  # noqa: BLE001
            reply = ("raised", (_summary(exc), traceback.format_exc()))
        killed = _clean_up()
        if killed:
            also = f" [it also raised {reply[1][0]}]" if reply[0] == "raised" else NOT_JUDGED
            reply = ("misbehaved", _left_text(method, killed) + also)
        try:
            conn.send(reply)
        except Exception as exc:  # e.g. a result that does not pickle
            conn.send(("raised", (f"the result could not be sent back: {_summary(exc)}", "")))


def _destroy_worker(proc: Any, conn: Any) -> list[str]:
    """Stop the worker, kill everything it left (descendants, session, group), then the worker itself."""
    killed: list[str] = []
    if proc.pid is not None:
        if proc.is_alive() and hasattr(signal, "SIGSTOP"):
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGSTOP)  # it can neither fork nor reap while we look
        killed = _kill_family(proc.pid)
        if hasattr(os, "killpg"):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    conn.close()
    return killed


class ProcessExecutor:
    """Runs the adapter named by `ref` in a worker process, restarted after a hang or crash."""

    def __init__(self, ref: str, start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.ref = ref
        self.start_timeout = start_timeout
        self._ctx = mp.get_context("spawn")  # no fork: safe with threaded BLAS and frameworks
        self._proc: Any = None
        self._conn: Any = None
        self._reaper: Any = None  # weakref.finalize: destroys the worker at close, kill or interpreter exit
        self._start_failure: str | None = None
        self.name = self._start()

    def _start(self) -> str:
        try:
            return self._spawn()
        except AdapterError as exc:
            self._start_failure = str(exc)
            raise

    def _spawn(self) -> str:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_worker_main, args=(child, self.ref, os.getpid()), daemon=True,
                                       name="lstm-adapter")
        self._proc.start()
        child.close()
        self._conn = parent
        self._reaper = weakref.finalize(self, _destroy_worker, self._proc, parent)
        if not parent.poll(self.start_timeout):
            self._kill()
            raise AdapterError(f"the adapter {self.ref!r} did not start within {self.start_timeout:g} s")
        try:
            kind, payload = parent.recv()
        except EOFError:
            code = self._kill()[0]
            raise AdapterError(f"the worker for {self.ref!r} died while starting ({_exit_text(code)})") from None
        if kind != "ready":
            self._kill()
            raise AdapterError(payload)
        return payload

    def _kill(self) -> tuple[int | None, list[str]]:
        """Destroy the worker and what it left running: (its exit code, the processes killed)."""
        code, killed = None, []
        if self._reaper is not None:
            killed = self._reaper() or []
            code = self._proc.exitcode
        self._proc = self._conn = self._reaper = None
        return code, killed

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        if self._start_failure is not None:
            raise AdapterError(f"a fresh worker could not start: {self._start_failure} (not retried)")
        if self._proc is None:
            try:
                self._start()
            except AdapterError as exc:
                raise AdapterError(f"a fresh worker could not start: {exc}") from None
        try:
            self._conn.send((method, args))
            ready = self._conn.poll(timeout)
        except (BrokenPipeError, EOFError, OSError):
            ready = True  # the worker is gone; recv below says how
        if not ready:
            killed = self._kill()[1]
            left = f", with the {_count_text(killed)} it left running: {_shown_text(killed)}" if killed else ""
            raise CaseTimeout(f"{method} did not return within {timeout:g} s",
                              f" (worker killed{left}; a fresh one serves the next case)")
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._kill()[0]
            raise WorkerDied(f"the implementation's process died during {method} ({_exit_text(code)})") from None
        except Exception as exc:  # the reply arrived but does not unpickle here
            self._kill()
            raise AdapterRaised(f"the result of {method} could not be received: {_summary(exc)}", "") from None
        if kind == "raised":
            raise AdapterRaised(*payload)
        if kind == "misbehaved":
            raise AdapterMisbehaved(payload)
        return payload

    def close(self) -> None:
        """Retire the worker; nothing it or the adapter started survives."""
        if self._proc is not None and self._proc.pid is not None:
            _kill_family(self._proc.pid)  # while it is still there to be their subreaper
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        if self._proc is not None:
            self._proc.join(2)
        self._kill()


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
