"""The progress bar: drawn on a terminal, silent in a CI log or a pipe, and never on stdout."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from lstm_conformance.report.progress import Progress, wanted

ROOT = Path(__file__).resolve().parent.parent


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_that_ends_on_a_clean_line(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = FakeTerminal()
    assert wanted(stream)
    with Progress(4, "checking", stream=stream) as bar:
        for k in range(4):
            bar.update(note=f"case-{k}")
    text = stream.getvalue()
    assert "\rchecking [" in text and "4/4" in text and "case-3" in text
    assert text.endswith("\r")  # erased: the command's own line follows cleanly
    counted = FakeTerminal()
    with Progress(None, "torch at float32, cases judged", stream=counted) as bar:
        bar.update(note="base-T1 passed")
    assert "cases judged: 1" in counted.getvalue()


def test_a_pipe_or_a_ci_log_gets_nothing(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    piped = io.StringIO()  # not a terminal
    with Progress(3, "regenerating", stream=piped) as bar:
        bar.update(3)
    assert piped.getvalue() == ""
    monkeypatch.setenv("CI", "true")
    ci = FakeTerminal()
    assert not wanted(ci)
    with Progress(3, "regenerating", stream=ci) as bar:
        bar.update(3)
    assert ci.getvalue() == ""


def test_the_cli_writes_no_progress_into_a_log():
    """Run as CI runs it (stdout and stderr captured, no terminal): stderr holds no bar."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), "--cases", "base-T1-*"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\r" not in proc.stdout and "cases judged" not in proc.stderr
