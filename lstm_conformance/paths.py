"""Where the spec and the goldens live.

In a checkout they are the top-level spec/ and golden/ folders. An installed copy
carries them as package data under lstm_conformance/data/. LSTM_CONFORMANCE_ROOT
overrides both (a folder holding spec/ and golden/).
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def project_root() -> Path:
    """The folder that holds spec/ and golden/."""
    override = os.environ.get("LSTM_CONFORMANCE_ROOT")
    if override:
        return Path(override)
    checkout = _PACKAGE.parent
    if (checkout / "spec" / "lstm.yaml").is_file():
        return checkout
    return _PACKAGE / "data"


def spec_dir() -> Path:
    return project_root() / "spec"


def spec_file() -> Path:
    return spec_dir() / "lstm.yaml"


def golden_dir() -> Path:
    return project_root() / "golden"


def in_checkout() -> bool:
    """Whether this is a source checkout with its tools/ (not an installed copy)."""
    return (_PACKAGE.parent / "tools" / "conformance.py").is_file()


# The command lines as a checkout runs them, and as an installed copy names them.
_COMMANDS = {"conformance": ("python tools/conformance.py", "lstm-conformance"),
             "diagnose": ("python tools/diagnose.py", "lstm-diagnose")}


def command(name: str) -> str:
    """How to run one of the command lines here: `python tools/NAME.py` in a checkout, the console script
    when installed."""
    checkout, installed = _COMMANDS[name]
    return checkout if in_checkout() else installed
