"""A module whose import hangs, for tests/test_trust_process.py.

It writes its pid to $TRUST_PROCESS_DIR/import.pids, then waits for $TRUST_PROCESS_DIR/release
to exist, for at most 30 s (so that a harness that waits for it fails a test instead of hanging it).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from tests.broken_adapters import CorrectAdapter

_dir = Path(os.environ["TRUST_PROCESS_DIR"])
with open(_dir / "import.pids", "a") as _f:
    _f.write(f"{os.getpid()}\n")
_deadline = time.monotonic() + 30
while not (_dir / "release").exists() and time.monotonic() < _deadline:
    time.sleep(0.05)


class Adapter(CorrectAdapter):
    name = "hung on import"
