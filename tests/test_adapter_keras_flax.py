"""The keras and flax adapters on every golden case: the base LSTM, direction and stacking (issue 9).

This round they run direction and num_layers without per-row lengths, in the spec's canonical
conventions: keras and keras-jax run bidirectional and stacked LSTMs (Keras's reverse-only LSTM,
go_backwards=True, returns y in processing order, a convention the harness does not have yet, so
they refuse direction "reverse" alone); flax and flax-optimized run all three. Every case of a
variant an adapter supports must pass, every other must be skipped with a reason; the counts come
from the goldens (tests/conftest.py GOLDEN_VARIANTS). keras-jax at float64 computes partly in
float32 (README: Third-party frameworks): every supported case fails, all within float32's tolerance.

A missing framework skips these tests, except under tox -e thirdparty (LSTM_REQUIRE_THIRDPARTY=1),
where it fails. Adapters run in the harness's worker process, each in a fresh interpreter: Keras
picks its backend once per process and flax turns on jax_enable_x64.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ALL_IDS, GOLDEN_VARIANTS

from lstm_adapters.flax_lstm import FlaxLSTMCellAdapter
from lstm_adapters.keras_lstm import KerasLSTMAdapter
from lstm_conformance.runner import run_conformance

FRAMEWORK = {"keras": "keras", "keras-jax": "keras", "flax": "flax", "flax-optimized": "flax"}
RUNS_FEATURES = {"direction", "num_layers"}  # what this round runs; lengths (and empty_rows) come later


def _require(framework: str) -> None:
    """Skip unless `framework` is installed; under tox -e thirdparty (LSTM_REQUIRE_THIRDPARTY=1) fail instead."""
    if importlib.util.find_spec(framework) is None:
        if os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":
            pytest.fail(f"{framework} is not installed, but tox -e thirdparty must run every adapter")
        pytest.skip(f"{framework} is not installed (tox -e thirdparty installs it)")


def supported(impl: str, variant: dict) -> bool:
    """What the adapter is expected to run this round (its supports(), written out independently)."""
    if not set(variant) <= RUNS_FEATURES:
        return False
    if FRAMEWORK[impl] == "keras" and variant.get("direction") == "reverse":
        return False  # go_backwards=True returns y in processing order: not the canonical convention
    return True


def expected_ids(impl: str) -> tuple[list[str], list[str]]:
    """(the golden cases `impl` runs, the ones it skips), from the goldens' variants."""
    run = [c for c in ALL_IDS if supported(impl, GOLDEN_VARIANTS[c])]
    return run, [c for c in ALL_IDS if c not in run]


def test_the_goldens_hold_every_structure_this_round_runs():
    """Else the tests below would pass vacuously on the structures they are about."""
    for impl in FRAMEWORK:
        run, skipped = expected_ids(impl)
        variants = [GOLDEN_VARIANTS[c] for c in run]
        assert any(v.get("direction") == "bidirectional" for v in variants), impl
        assert any(v.get("num_layers") for v in variants), impl
        assert any(v.get("direction") == "bidirectional" and v.get("num_layers") for v in variants), impl
        assert any("lengths" in GOLDEN_VARIANTS[c] for c in skipped), impl
    assert any(v.get("direction") == "reverse" for v in map(GOLDEN_VARIANTS.get, expected_ids("flax")[0]))
    assert any(v.get("direction") == "reverse" for v in map(GOLDEN_VARIANTS.get, expected_ids("keras")[1]))


def _check_run(spec, impl: str, dtype: str, result) -> None:
    run, skipped = expected_ids(impl)
    statuses = {c.id: c.status for c in result.cases}
    assert sorted(statuses) == ALL_IDS, "every golden case is reported"
    got_skipped = sorted(c for c, s in statuses.items() if s == "skipped")
    assert got_skipped == skipped, (f"{impl} at {dtype}: skipped {len(got_skipped)} case(s), expected {len(skipped)}; "
                                    f"unexpected {sorted(set(got_skipped) ^ set(skipped))}")
    for c in result.cases:
        if c.status == "skipped":
            assert c.reasons and "does not support variant" in c.reasons[0], (c.id, c.reasons)
    judged = [c for c in result.cases if c.id in run]
    if (impl, dtype) == ("keras-jax", "float64"):  # README: Keras on jax computes tanh of float64 in float32
        assert {c.status for c in judged} == {"failed"}, {c.id: c.status for c in judged}
        worst = max(c.worst("max_abs_err") for c in judged)
        atol, _ = spec.tolerance("float32")
        assert 1e-9 < worst < atol * 100, worst  # far above float64 rounding, at float32's
        return
    bad = {c.id: c.reasons[0] if c.reasons else c.status for c in judged if c.status != "passed"}
    assert not bad, (f"{impl} at {dtype}: {len(bad)} of {len(run)} case(s) did not pass, "
                     f"e.g. {dict(list(bad.items())[:3])}")
    assert len(judged) == len(run)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", sorted(FRAMEWORK))
def test_every_golden_case_passes_or_is_skipped_with_a_reason(spec, impl, dtype):
    _require(FRAMEWORK[impl])
    result = run_conformance(impl, dtype=dtype, spec=spec)  # all golden cases, in the adapter's worker process
    _check_run(spec, impl, dtype, result)


# ------------------------------------------------------- a broken adapter is caught (the tests can fail)

def _swap_runs(spec, params):
    """The forward and reverse runs' parameters exchanged (W_i <-> W_i_reverse, W_i_l1 <-> W_i_l1_reverse)."""
    suffix = spec.data["structure"]["names"]["run"]["reverse"]
    out = dict(params)
    for name in params:
        if name.endswith(suffix):
            out[name], out[name.removesuffix(suffix)] = params[name.removesuffix(suffix)], params[name]
    return out


class KerasSwappedRuns(KerasLSTMAdapter):
    """Loads each layer's reverse parameters into Keras's forward layer and the other way round."""

    def run_variant(self, inputs, params, variant):
        return super().run_variant(inputs, _swap_runs(self.spec, params), variant)


class FlaxSwappedRuns(FlaxLSTMCellAdapter):
    """Loads each layer's reverse parameters into flax's forward RNN and the other way round."""

    def run_variant(self, inputs, params, variant):
        return super().run_variant(inputs, _swap_runs(self.spec, params), variant)


@pytest.mark.parametrize("ref, framework", [("tests.test_adapter_keras_flax:KerasSwappedRuns", "keras"),
                                            ("tests.test_adapter_keras_flax:FlaxSwappedRuns", "flax")])
def test_an_adapter_that_swaps_the_runs_fails_every_bidirectional_case(spec, ref, framework):
    _require(framework)
    structured = [c for c in ALL_IDS if GOLDEN_VARIANTS[c] and set(GOLDEN_VARIANTS[c]) <= RUNS_FEATURES]
    result = run_conformance(ref, dtype="float32", spec=spec, patterns=structured)
    assert sorted(c.id for c in result.cases) == structured
    for c in result.cases:
        bidirectional = GOLDEN_VARIANTS[c.id].get("direction") == "bidirectional"
        want = ("failed",) if bidirectional else ("passed", "skipped")  # one run per layer: nothing to swap
        assert c.status in want, (c.id, c.status, c.reasons[:1])
    assert any(c.status == "failed" for c in result.cases)


def test_swap_runs_exchanges_the_reverse_parameters(spec):
    params = {"W_i": np.zeros(1), "W_i_reverse": np.ones(1),
              "W_i_l1": np.full(1, 2.0), "W_i_l1_reverse": np.full(1, 3.0)}
    assert {k: float(v[0]) for k, v in _swap_runs(spec, params).items()} == \
        {"W_i": 1.0, "W_i_reverse": 0.0, "W_i_l1": 3.0, "W_i_l1_reverse": 2.0}


LEAK_CHECK = """
import os
from lstm_adapters.keras_lstm import KerasJaxLSTMAdapter
from lstm_conformance.runner import run_conformance
KerasJaxLSTMAdapter()  # imports keras on jax in this process
print("KERAS_BACKEND after:", os.environ.get("KERAS_BACKEND"))
run = run_conformance("keras", dtype="float64", patterns=["base-T3-B2-I4-H5"])  # a fresh worker
print(run.impl, run.verdict)
"""


def test_the_keras_jax_adapter_does_not_leak_its_backend_into_later_workers():
    """Found in CI: keras-jax set KERAS_BACKEND=jax in the harness process, so the next `keras` worker ran on jax
    (and failed at float64 with jax's float32 tanh)."""
    _require("keras")
    _require("jax")
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run([sys.executable, "-c", LEAK_CHECK], capture_output=True, text=True, timeout=300, env=env,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "KERAS_BACKEND after: None" in proc.stdout, proc.stdout
    assert "(torch backend) PASS" in proc.stdout, proc.stdout
