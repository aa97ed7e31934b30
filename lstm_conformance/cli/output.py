"""What the command lines share about their output: where a report may go, how it is written
without destroying anything, and how they end quietly when standard output is closed."""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..cases.golden import atomic_write

EXIT_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE (`yes | head`)
STDOUT = "-"


def output_problem(path: Path) -> str | None:
    """Why a report cannot go to `path`, found before the run rather than after it (None: it can)."""
    if str(path) == STDOUT:
        return None
    try:
        mode = os.stat(path).st_mode  # follows a symlink: the target is what gets written
    except FileNotFoundError:
        if path.is_symlink():
            target = os.readlink(path)
            return f"is a symlink to {target!r}, which does not exist"
        if not path.parent.is_dir():
            return f"its folder {str(path.parent)!r} does not exist"
        if not os.access(path.parent, os.W_OK):
            return f"its folder {str(path.parent)!r} is not writable"
        return None
    except OSError as exc:
        return f"cannot be inspected: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return "is a folder, but should be a file path"
    if stat.S_ISREG(mode):
        folder = _resolved(path).parent
        if not os.access(folder, os.W_OK):
            return f"its folder {str(folder)!r} is not writable (the report is written beside it, then renamed)"
        return None
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return None if os.access(path, os.W_OK) else "is not writable"
    return f"is a {_kind(mode)}; refusing to write a report onto it (give a file path, or - for standard output)"


def write_output(path: Path, data: bytes) -> None:
    """Write the report without destroying anything: a regular file (or a symlink to one) or a new path is
    replaced atomically (the link stays a link); a FIFO or a character device is written through; `-` is
    standard output. Raises OSError with what went wrong."""
    if str(path) == STDOUT:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    problem = output_problem(path)
    if problem:
        raise OSError(errno.EINVAL, problem)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is None or stat.S_ISREG(mode):
        atomic_write(_resolved(path), data)
        return
    with open(path, "wb", buffering=0) as stream:  # a FIFO or a device: stream into it, never replace it
        view = memoryview(data)
        while view:
            view = view[stream.write(view):]


def _resolved(path: Path) -> Path:
    """The file a symlink chain ends at (the path itself when it is not a link)."""
    return Path(os.path.realpath(path))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


@contextlib.contextmanager
def adapter_stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """While active, file descriptor 1 points at stderr, so an in-process adapter that writes straight to
    fd 1 (C code, os.write(1, ...)) or closes it cannot corrupt or lose the report; the report is written
    after fd 1 is restored."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def quiet_main(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a command line's main so that a closed standard output (`... | head`) ends it quietly with
    status 141, as a process killed by SIGPIPE, instead of a BrokenPipeError traceback."""
    def wrapped(argv: Sequence[str] | None = None) -> int:
        try:
            code = main(argv)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_PIPE
        except OSError as exc:
            if exc.errno not in (errno.EBADF, errno.EPIPE) or not _stdout_broken():
                raise
            _silence_stdout()
            return EXIT_PIPE
    wrapped.__doc__, wrapped.__name__, wrapped.__wrapped__ = main.__doc__, main.__name__, main  # type: ignore[attr-defined]
    return wrapped


def _stdout_broken() -> bool:
    try:
        os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        return True
    return False


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's final flush does not complain again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
