"""A progress bar for long runs (regeneration, --check, conformance), shown only on a terminal.

It writes to stderr, on one line redrawn with a carriage return, and only when that stream is a terminal
and CI is not set: a CI log or a pipe gets nothing extra, and stdout (the report) is never touched.
"""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO

WIDTH = 30        # characters of the bar itself
MIN_INTERVAL = 0.1  # seconds between redraws


def wanted(stream: TextIO) -> bool:
    """Whether a bar belongs on `stream`: a terminal, outside CI."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("CI")


class Progress:
    """`done` of `total` items of `label`, redrawn at most every MIN_INTERVAL seconds; a no-op off a terminal."""

    def __init__(self, total: int | None, label: str, stream: TextIO | None = None,
                 enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.total, self.label, self.done = total, label, 0  # total None: a count, no bar
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last >= MIN_INTERVAL or self.done == self.total):
            self._last = now
            self._draw(note)

    def _draw(self, note: str) -> None:
        took = f"{time.monotonic() - self._start:.0f}s"
        if self.total is None:
            text = f"\r{self.label}: {self.done} {took} {note}"
        else:
            filled = WIDTH * self.done // self.total if self.total else WIDTH
            text = f"\r{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} {took} {note}"
        self.stream.write(text[:120].ljust(120)[:120])
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar's line (the command's own output follows on a clean line)."""
        if self.enabled:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
