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
