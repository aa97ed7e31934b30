"""Adapters that try harder to break the runner (found in review): each is reported per case."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lstm_conformance.run.runner import run_conformance
from tests.broken_adapters import CorrectAdapter

ROOT = Path(__file__).resolve().parent.parent
ONE = ["base-T3-B2-I4-H5"]
MODULE = "tests.test_runner_hardening"


class MaskedOutputs(CorrectAdapter):
    """Hides a NaN and a wrong value behind a mask: the mask must not hide them."""
    name = "masked"

    def forward(self, x, h0, c0, params, variant):
        y, h, c = super().forward(x, h0, c0, params, variant)
        y = y.copy()
        y[0, 0, 0], y[1, 0, 0] = np.nan, 0.5
        mask = np.zeros(y.shape, bool)
        mask[0, 0, 0] = mask[1, 0, 0] = True
        return np.ma.masked_array(y, mask), h, c


class ArraySupports(CorrectAdapter):
    name = "supports returns an array"

    def supports(self, variant):
        return np.array([True, False])


class BadBool:
    def __bool__(self):
        raise RuntimeError("no truth here")

    def __str__(self):
        raise RuntimeError("no words either")


class WeirdSkipReason(CorrectAdapter):
    name = "skip_reason returns an object whose bool raises"

    def skip_reason(self, variant, dtype):
        return BadBool()


class Unpicklable:
    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("cannot unpickle me")


class UnpicklableResult(CorrectAdapter):
    name = "result that does not unpickle"

    def forward(self, x, h0, c0, params, variant):
        bad = np.empty(1, dtype=object)
        bad[0] = Unpicklable()  # an object array pickles its elements
        return bad, bad, bad


class Chatty(CorrectAdapter):
    name = "prints while it works"

    def forward(self, x, h0, c0, params, variant):
        print("debug: forward called")
        return super().forward(x, h0, c0, params, variant)


class SlowCalls(CorrectAdapter):
    """Each call is under the timeout, the case as a whole is not."""
    name = "slow calls"

    def supports(self, variant):
        time.sleep(0.4)
        return True

    def forward(self, x, h0, c0, params, variant):
        time.sleep(0.4)
        return super().forward(x, h0, c0, params, variant)


class BigEndian(CorrectAdapter):
    name = "big-endian outputs"

    def forward(self, x, h0, c0, params, variant):
        return tuple(a.astype(a.dtype.newbyteorder(">")) for a in super().forward(x, h0, c0, params, variant))


@pytest.mark.parametrize("isolate", [False, True])
def test_a_mask_does_not_hide_nan_or_wrong_values(isolate):
    run = run_conformance(f"{MODULE}:MaskedOutputs", patterns=ONE, isolate=isolate)
    assert [c.status for c in run.cases] == ["failed"]
    assert any("non-finite" in r for r in run.cases[0].reasons), run.cases[0].reasons


@pytest.mark.parametrize("name", ["ArraySupports", "WeirdSkipReason"])
@pytest.mark.parametrize("isolate", [False, True])
def test_odd_supports_and_skip_reason_are_errors_of_the_case(name, isolate):
    run = run_conformance(f"{MODULE}:{name}", patterns=ONE, isolate=isolate)
    assert [c.status for c in run.cases] == ["error"]
    assert "raised" in run.cases[0].reasons[0]


def test_a_result_that_does_not_unpickle_is_an_error_of_the_case():
    run = run_conformance(f"{MODULE}:UnpicklableResult", patterns=ONE + ["base-T1-B1-I1-H1"], isolate=True)
    assert [c.status for c in run.cases] == ["error", "error"]
    assert "could not be received" in run.cases[0].reasons[0] and "cannot unpickle me" in run.cases[0].reasons[0]


@pytest.mark.parametrize("isolate", [False, True])
def test_the_timeout_bounds_the_whole_case(isolate):
    run = run_conformance(f"{MODULE}:SlowCalls", patterns=ONE, isolate=isolate, timeout=0.6)
    assert [c.status for c in run.cases] == ["error"]
    assert "timeout: forward did not return within 0.6 s" in run.cases[0].reasons[0]


@pytest.mark.parametrize("isolate", [False, True])
def test_big_endian_float64_is_float64(isolate):
    run = run_conformance(f"{MODULE}:BigEndian", patterns=ONE, isolate=isolate)
    assert [c.status for c in run.cases] == ["passed"], run.cases[0].reasons


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]])
def test_adapter_output_does_not_corrupt_the_json_report(isolation):
    run = subprocess.run([sys.executable, "tools/conformance.py", "--impl", f"{MODULE}:Chatty", "--format", "json",
                          "--cases", ONE[0], *isolation], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["summary"]["passed"] == 1
    assert "debug: forward called" in run.stderr


@pytest.mark.parametrize("target, words", [(".", "is a folder"), ("no/such/folder/report.json", "does not exist")])
def test_a_bad_output_path_is_a_usage_error_before_the_run(tmp_path, target, words):
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), "--output", target],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 2 and words in run.stderr and "--output" in run.stderr, run.stderr
    assert not (tmp_path / "no").exists()


def test_output_file_gets_the_report(tmp_path):
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), "--format", "json", "--output", str(out),
                          "--cases", ONE[0]], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["summary"] == {"passed": 1, "failed": 0, "skipped": 0, "errors": 0}
    assert f"report written to {out}" in run.stdout
