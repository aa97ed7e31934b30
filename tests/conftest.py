"""Shared fixtures and the hypothesis profiles.

Profiles: "ci" (derandomized, so CI is reproducible; chosen when CI is set),
"dev" (random, the local default) and "thorough" (many examples, for a deep
local run: HYPOTHESIS_PROFILE=thorough tox, or pytest --hypothesis-profile=thorough).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

settings.register_profile("ci", derandomize=True, max_examples=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"hypothesis profile: {settings.get_current_profile_name()}"]


@pytest.fixture(scope="session")
def spec():
    from lstm_conformance.spec.loader import load_spec
    return load_spec()


@pytest.fixture(scope="session")
def golden_cases(spec):
    from lstm_conformance.cases.golden import load_golden
    return load_golden(spec=spec)


@pytest.fixture()
def project_copy(tmp_path: Path) -> Path:
    """A scratch copy of spec/ and golden/, to mutate without touching the checkout."""
    for name in ("spec", "golden"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def _golden_field(key: str) -> dict[str, dict]:
    import json

    cases = Path(__file__).resolve().parent.parent / "golden" / "cases"
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))[key] for p in sorted(cases.glob("*.json"))}


GOLDEN_VARIANTS = _golden_field("variant")    # case id -> variant, for every golden case
GOLDEN_FLAGS = _golden_field("flags")         # case id -> flags (zero_length_row: a row of length 0)
ALL_IDS = sorted(GOLDEN_VARIANTS)
BASE_IDS = sorted(c for c, v in GOLDEN_VARIANTS.items() if not v)  # the base LSTM: what forward-only adapters run
BASE_ARGS = [arg for cid in BASE_IDS for arg in ("--cases", cid)]


def assert_error(exc_type, call, *fragments):
    """``call()`` raises ``exc_type`` whose message contains every fragment."""
    with pytest.raises(exc_type) as info:
        call()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
