"""In-process exit guards: adapter code run in a harness thread cannot end the process.

While adapter code runs in a thread started by start_guarded, sys.exit, os._exit, os.abort,
signal.raise_signal, signal.pthread_kill, and os.kill / os.killpg aimed at this process or its
process group (also as posix._exit, posix.kill, ...) are replaced by guards that raise the
caller's exception ("the adapter called os._exit(0) during forward; in-process mode refused
it") in the adapter's thread, and the refusal is recorded even if the adapter catches that
exception; a SystemExit or KeyboardInterrupt raised in the adapter's thread is reported the same
way (refusals). The guards act only in the harness's adapter threads (a thread-local flag): any
other thread calls the real functions. They are installed while at least one adapter thread
runs and restored when the last one ends; a thread abandoned after a timeout keeps them
installed until it ends (possibly for the life of the process), so that it can never reach the
real os._exit later.
"""
from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import traceback
from typing import Any, Callable

_tls = threading.local()  # in an adapter thread: .during ("during forward"), .refused (what it tried), .error (raised)
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
            raise _tls.error(text)
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


def start_guarded(fn: Callable[[], Any], during: str, name: str,
                  error: type[Exception]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run fn() in a daemon thread under the exit guards, which raise `error` there on a refused call;
    the box gets result or error/tb, and refused."""
    box: dict[str, Any] = {}

    def target() -> None:
        _tls.during, _tls.refused, _tls.error = during, [], error
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


def refusals(box: dict[str, Any], during: str) -> list[str]:
    """What a finished guarded thread tried and was refused: its refused calls, else a SystemExit or
    KeyboardInterrupt it raised."""
    problems = list(box.get("refused", []))
    error = box.get("error")
    if not problems and isinstance(error, (SystemExit, KeyboardInterrupt)):
        problems.append(f"the adapter raised {type(error).__name__}({_show_arg(error.args[0]) if error.args else ''}) "
                        f"{during}; in-process mode refused it")
    return problems
