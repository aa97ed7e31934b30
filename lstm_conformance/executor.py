"""Call an adapter so that a misbehaving implementation cannot take the run down.

ProcessExecutor (the default for --impl) runs the adapter in a worker process:
a hang is killed at the per-case timeout, a crash (even a segfault in a C
extension) is reported, and a fresh worker serves the next case.
ThreadExecutor runs an adapter object in this process, in a daemon thread with
the same timeout (a hung thread is abandoned, not killed).
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import traceback
from typing import Any

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


class ThreadExecutor:
    """Runs an adapter object's methods in a daemon thread, with a timeout."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = check_adapter(adapter)
        self.name = str(adapter.name)

    @classmethod
    def from_ref(cls, ref: str, start_timeout: float = DEFAULT_START_TIMEOUT) -> "ThreadExecutor":
        """Import and build the adapter named by `ref` in this process (AdapterError if it cannot)."""
        return cls(build_adapter(load_factory(ref), ref))

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = invoke(self.adapter, method, args)
            except BaseException as exc:  # noqa: BLE001 - everything is reported against the case
                box["error"] = AdapterRaised(_summary(exc), traceback.format_exc())

        worker = threading.Thread(target=target, daemon=True, name=f"adapter-{method}")
        # what the adapter prints goes to stderr, so that a report on stdout stays clean
        with contextlib.redirect_stdout(sys.stderr):
            worker.start()
            worker.join(timeout)
        if worker.is_alive():
            raise CaseTimeout(f"{method} did not return within {timeout:g} s")
        if "error" in box:
            raise box["error"]
        return box["result"]

    def close(self) -> None:
        pass


def _worker_main(conn: Any, ref: str) -> None:
    """Worker process: build the adapter, then serve (method, args) calls until told to stop."""
    # what the adapter prints goes to stderr, so that a report on stdout stays clean
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        adapter = build_adapter(load_factory(ref), ref)
        conn.send(("ready", str(adapter.name)))
    except AdapterError as exc:
        conn.send(("fatal", str(exc)))
        return
    except BaseException as exc:  # noqa: BLE001
        conn.send(("fatal", _summary(exc)))
        return
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
        try:
            conn.send(reply)
        except Exception as exc:  # e.g. a result that does not pickle
            conn.send(("raised", (f"the result could not be sent back: {_summary(exc)}", "")))


class ProcessExecutor:
    """Runs the adapter named by `ref` in a worker process, restarted after a hang or crash."""

    def __init__(self, ref: str, start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.ref = ref
        self.start_timeout = start_timeout
        self._ctx = mp.get_context("spawn")  # no fork: safe with threaded BLAS and frameworks
        self._proc: Any = None
        self._conn: Any = None
        self.name = self._start()

    def _start(self) -> str:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_worker_main, args=(child, self.ref), daemon=True, name="lstm-adapter")
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout):
            self._kill()
            raise AdapterError(f"the adapter {self.ref!r} did not start within {self.start_timeout:g} s")
        try:
            kind, payload = parent.recv()
        except EOFError:
            code = self._kill()
            raise AdapterError(f"the worker for {self.ref!r} died while starting ({_exit_text(code)})") from None
        if kind != "ready":
            self._kill()
            raise AdapterError(payload)
        return payload

    def _kill(self) -> int | None:
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
            code = self._proc.exitcode
        else:
            code = None
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None
        return code

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        if self._proc is None:
            self._start()
        try:
            self._conn.send((method, args))
            ready = self._conn.poll(timeout)
        except (BrokenPipeError, EOFError, OSError):
            ready = True  # the worker is gone; recv below says how
        if not ready:
            self._kill()
            raise CaseTimeout(f"{method} did not return within {timeout:g} s",
                              " (worker killed; a fresh one serves the next case)")
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._kill()
            raise WorkerDied(f"the implementation's process died during {method} ({_exit_text(code)})") from None
        except Exception as exc:  # the reply arrived but does not unpickle here
            self._kill()
            raise AdapterRaised(f"the result of {method} could not be received: {_summary(exc)}", "") from None
        if kind == "raised":
            raise AdapterRaised(*payload)
        return payload

    def close(self) -> None:
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
