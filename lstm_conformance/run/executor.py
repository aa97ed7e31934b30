"""Call an adapter so that a misbehaving implementation cannot take the run down.

ProcessExecutor (the default for --impl) runs the adapter in a worker process:
a hang is killed at the per-case timeout, a crash (even a segfault in a C
extension) is reported, and a fresh worker serves the next case. A worker that
cannot start (its import or constructor raises, or takes longer than
`start_timeout`) is a start failure; once a restart has failed, every later call
fails at once with the same reason instead of waiting `start_timeout` again.
The worker is hardened against orphans (processes.harden_worker). After every call
it kills and reaps whatever processes the adapter left running, and the call is an
error of its case (AdapterMisbehaved: "forward left 1 child process running:
pid 1234 (sleep 300); killed it [the result was not judged]"); the result of such a
call is not judged: the harness cannot know what the process was doing to it.
When the worker is retired (close), timed out or dead, the parent stops it, kills
every descendant and session member it finds in /proc, and kills the worker's
process group (the known gaps are in processes).

ThreadExecutor runs an adapter object in this process, in a daemon thread with
the same timeout (a hung thread is abandoned, not killed); ThreadExecutor.from_ref
imports and builds the adapter in such a thread too, bounded by `start_timeout`.
Such threads run under the exit guards (exit_guards), which raise AdapterMisbehaved
there; a refused exit makes the call an error of its case even if the adapter catches
that exception. Children of this process that appear during a call are killed and
reported as in the worker (also after a timeout).

What in-process mode still trusts (the worker is immune to all of these): threads
the adapter starts itself (they carry no flag, so the guards let them through);
references to the real functions taken before the guards were installed (e.g.
`from os import _exit` in a module imported before from_ref); exits, signals and
crashes from C code (a C extension calling exit(), abort() or segfaulting); writes
to file descriptor 1 that bypass sys.stdout (the command lines point fd 1 at stderr
while the adapter runs, cli_io.adapter_stdout_to_stderr, so they do not corrupt the
report; a library caller of ThreadExecutor must do that itself); monkeypatching
of NumPy, the harness or anything else in the process; grandchildren that are
daemonized (double fork) before the call ends, which reparent to init; and children
that another thread of this process starts during a call are taken for the adapter's.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import traceback
import weakref
from typing import Any

import numpy as np

from ..run.adapters import AdapterError, build_adapter, check_adapter, load_factory
from ..judge.compare import NonArray
from ..run.exit_guards import refusals, start_guarded
from ..run.processes import (count_text, harden_worker, kill_family, kill_new_children, left_text, my_children,
                        reap_children, shown_text)


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


PROTOCOL = "__protocol__"  # the pseudo-method that asks which optional members an adapter has


def protocol(adapter: Any) -> dict[str, Any]:
    """Which of compute / forward the adapter has, and the conventions it declares (feature -> name)."""
    conventions = getattr(adapter, "conventions", None) or {}
    return {"compute": callable(getattr(adapter, "compute", None)),
            "forward": callable(getattr(adapter, "forward", None)),
            "skip_case": callable(getattr(adapter, "skip_case", None)),
            "conventions": {str(k): str(v) for k, v in dict(conventions).items()}}


def portable_named(result: Any) -> Any:
    """compute's result: a dict of name -> portable array (anything else is described, as by portable)."""
    if isinstance(result, dict):
        return {str(k): portable(v) for k, v in result.items()}
    return portable(result)


def invoke(adapter: Any, method: str, args: tuple) -> Any:
    """Call one adapter method and normalise its result, so that nothing the adapter
    returns can raise later in the harness: forward -> portable(...),
    supports -> bool, skip_reason -> str or None (a missing skip_reason is None)."""
    if method == PROTOCOL:
        return protocol(adapter)
    fn = getattr(adapter, method, None)
    if fn is None:
        return None
    result = fn(*args)
    if method == "forward":
        return portable(result)
    if method == "compute":
        return portable_named(result)
    if method == "supports":
        return bool(result)
    if method in ("skip_reason", "skip_case"):
        return None if result is None or result is False else str(result)
    return result


def _summary(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _misbehaviour(box: dict[str, Any], during: str, killed: list[str], what: str) -> str | None:
    """What the adapter did that the harness forbids (refused exits, SystemExit, leftover children), or None."""
    problems = refusals(box, during)
    if killed:
        problems.append(left_text(what, killed))
    return "; ".join(problems) if problems else None


class ThreadExecutor:
    """Runs an adapter object's methods in a daemon thread, with a timeout and the exit guards."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = check_adapter(adapter)
        self.name = str(adapter.name)

    @classmethod
    def from_ref(cls, ref: str, start_timeout: float = DEFAULT_START_TIMEOUT) -> "ThreadExecutor":
        """Import and build the adapter named by `ref` in this process, in a guarded thread bounded by
        `start_timeout` (AdapterError if it cannot, does not finish in time, or misbehaves)."""
        before = my_children()
        during = "while it was imported and built"
        with contextlib.redirect_stdout(sys.stderr):
            thread, box = start_guarded(lambda: build_adapter(load_factory(ref), ref), during, "adapter-build",
                                        AdapterMisbehaved)
            thread.join(start_timeout)
        killed = kill_new_children(before)
        if thread.is_alive():
            note = f"; {left_text('it', killed)}" if killed else ""
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
        before = my_children()
        during = f"during {method}"
        # what the adapter prints goes to stderr, so that a report on stdout stays clean
        with contextlib.redirect_stdout(sys.stderr):
            thread, box = start_guarded(lambda: invoke(self.adapter, method, args), during, f"adapter-{method}",
                                        AdapterMisbehaved)
            thread.join(timeout)
        killed = kill_new_children(before)
        if thread.is_alive():
            note = f" (its thread was abandoned; {left_text('it', killed)})" if killed else ""
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

def _clean_up() -> list[str]:
    """In the worker: kill what the adapter left running, reap it; their descriptions."""
    reap_children()
    killed = kill_family(os.getpid())
    if killed:
        reap_children(2.0)
    return killed


def _worker_main(conn: Any, ref: str, parent_pid: int = 0) -> None:
    """Worker process: build the adapter, then serve (method, args) calls until told to stop."""
    harden_worker(parent_pid or os.getppid())
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
        conn.send(("fatal", left_text(f"building the adapter {ref!r}", killed)))
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
            reply = ("misbehaved", left_text(method, killed) + also)
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
        killed = kill_family(proc.pid)
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
            left = f", with the {count_text(killed)} it left running: {shown_text(killed)}" if killed else ""
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
            kill_family(self._proc.pid)  # while it is still there to be their subreaper
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
