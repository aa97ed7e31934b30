"""The built-in third-party adapters: torch, onnxruntime, keras and flax against the goldens.

Each framework's tests skip when it is not installed, except under tox -e thirdparty,
which sets LSTM_REQUIRE_THIRDPARTY=1 so that a missing framework fails instead.
The missing-framework path itself is tested everywhere, by hiding the module.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

from tests.conftest import BASE_IDS

from lstm_conformance.run.adapters import BUILTIN, load_adapter
from lstm_conformance.packing.convert import to_packing
from lstm_conformance.run.runner import run_conformance

FRAMEWORK = {"torch": "torch", "torch-batch-first": "torch", "torch-cell": "torch", "onnxruntime": "onnxruntime",
             "onnxruntime-batch-first": "onnxruntime", "onnx-reference": "onnx", "onnx-reference-batch-first": "onnx",
             "keras": "keras", "keras-jax": "keras", "flax": "flax", "flax-optimized": "flax", "tflite": "ai_edge_litert",
             "torch-cuda": "torch", "torch-cuda-tf32": "torch", "flax-gpu": "flax", "flax-optimized-gpu": "flax"}
# What each implementation does on the goldens; anything else fails the test.
#   "pass": every case passes; "skip: <words>": every case skipped with a reason containing <words>;
#   "fail-float32-accurate": every case fails, all within the float32 tolerance (a float64 run
#   that computes partly in float32).
EXPECTED = {
    ("onnxruntime", "float64"): "skip: LSTM operator does not support double",
    ("keras-jax", "float64"): "fail-float32-accurate",
    ("onnxruntime-batch-first", "float64"): "skip: Batchwise recurrent operations (layout == 1) are not supported",
    ("onnxruntime-batch-first", "float32"): "skip: Batchwise recurrent operations (layout == 1) are not supported",
    ("tflite", "float64"): "skip: input_gate_bias->type != kTfLiteFloat32 (FLOAT64 != FLOAT32)",
    # the GPU adapters, on a machine without a GPU (CI; tests/test_gpu_adapters.py)
    **{(impl, dtype): words for impl, words in (("torch-cuda", "skip: no CUDA device"),
                                                ("torch-cuda-tf32", "skip: no CUDA device"),
                                                ("flax-gpu", "skip: no GPU for jax"),
                                                ("flax-optimized-gpu", "skip: no GPU for jax"))
       for dtype in ("float32", "float64")},
}


GPU_IMPLS = ("torch-cuda", "torch-cuda-tf32", "flax-gpu", "flax-optimized-gpu")


def _sees_a_gpu(framework: str) -> bool:
    """Whether torch (or jax, for flax) sees a GPU here: then the GPU adapters' rows in EXPECTED do not apply."""
    from lstm_adapters.gpu import cuda_unavailable, jax_gpu

    if framework == "torch":
        import torch

        return cuda_unavailable(torch) is None
    import jax

    return jax_gpu(jax)[1] is None


def _require(framework: str) -> None:
    """Skip unless `framework` is installed (installed, not importable: keras imports fine only once
    a backend is chosen, and the adapter does that)."""
    if importlib.util.find_spec(framework) is None:
        if os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":
            pytest.fail(f"{framework} is not installed, but tox -e thirdparty must run every adapter")
        pytest.skip(f"{framework} is not installed (tox -e thirdparty installs it)")


def test_every_third_party_builtin_is_covered():
    assert sorted(FRAMEWORK) == sorted(n for n in BUILTIN if n != "numpy")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("impl", sorted(FRAMEWORK))
def test_adapter_against_the_goldens(spec, impl, dtype):
    _require(FRAMEWORK[impl])
    if impl in GPU_IMPLS and _sees_a_gpu(FRAMEWORK[impl]):
        pytest.skip(f"{impl} sees a GPU here: bash tools/gpu_check.sh runs its real tables")
    result = run_conformance(impl, dtype=dtype, spec=spec, patterns=BASE_IDS)  # forward adapters: the base LSTM
    expected = EXPECTED.get((impl, dtype), "pass")
    statuses = {c.id: c.status for c in result.cases}
    assert len(statuses) == len(BASE_IDS)
    if expected == "pass":
        bad = {c.id: c.reasons[0] if c.reasons else c.status for c in result.cases if c.status != "passed"}
        assert not bad, f"{impl} at {dtype}: {len(bad)} case(s) did not pass, e.g. {dict(list(bad.items())[:3])}"
    elif expected.startswith("skip: "):
        assert set(statuses.values()) == {"skipped"}, statuses
        for c in result.cases:
            assert expected[6:] in " ".join(c.reasons), c.reasons
    else:
        assert set(statuses.values()) == {"failed"}, statuses
        atol, rtol = spec.tolerance("float32")
        worst = max(c.worst("max_abs_err") for c in result.cases)
        assert 1e-9 < worst < atol * 100, worst  # far above float64 rounding, at float32's


@pytest.mark.parametrize("impl", sorted(FRAMEWORK))
def test_missing_framework_skips_every_case_with_install_advice(spec, impl, monkeypatch):
    framework = FRAMEWORK[impl]
    for name in list(sys.modules):
        if name == framework or name.startswith(framework + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, framework, None)  # import now raises ImportError
    adapter = load_adapter(impl)
    result = run_conformance(adapter, dtype="float32", spec=spec, patterns=["base-T3-*"])
    (case,) = result.cases
    assert case.status == "skipped"
    assert f"{framework} is not installed" in case.reasons[0] and "pip install" in case.reasons[0], case.reasons


# ---------------------------------------------------------------- the spec's packings name what each framework has

def _params(spec, H=3, I=2):
    rng = np.random.default_rng(0)
    return {n: rng.standard_normal(spec.shape_of("parameters", n, {"H": H, "I": I})) for n in spec.parameter_names}


def test_torch_packing_matches_torch_state_dicts(spec):
    _require("torch")
    import torch

    tensors = to_packing(spec, "torch", _params(spec))
    lstm = torch.nn.LSTM(2, 3)
    assert {k: tuple(v.shape) for k, v in lstm.state_dict().items()} == {k: v.shape for k, v in tensors.items()}
    cell = torch.nn.LSTMCell(2, 3)
    assert {k: tuple(v.shape) for k, v in cell.state_dict().items()} == \
        {k.removesuffix("_l0"): v.shape for k, v in tensors.items()}


def test_keras_packing_matches_keras_weights(spec):
    _require("keras")
    from lstm_adapters.keras_lstm import KerasLSTMAdapter

    keras = KerasLSTMAdapter().keras
    layer = keras.layers.LSTM(3)
    layer.build((1, 1, 2))
    tensors = to_packing(spec, "keras", _params(spec))
    assert {w.name: tuple(w.shape) for w in layer.weights} == {k: v.shape for k, v in tensors.items()}


def test_flax_packing_matches_flax_parameters(spec):
    _require("flax")
    import jax
    import flax.linen as nn

    for cell in (nn.LSTMCell(features=3), nn.OptimizedLSTMCell(features=3)):
        carry = cell.initialize_carry(jax.random.key(0), (1, 2))
        variables = cell.init(jax.random.key(1), carry, np.zeros((1, 2), np.float32))
        flat = {"/".join(str(getattr(k, "key", k)) for k in path): tuple(leaf.shape)
                for path, leaf in jax.tree_util.tree_flatten_with_path(variables["params"])[0]}
        assert flat == {k: v.shape for k, v in to_packing(spec, "flax", _params(spec)).items()}


def test_diagnosis_names_a_conversion_bug_in_a_real_framework(spec):
    """torch fed ONNX-packed tensors (gate blocks i, o, f, c read as torch's i, f, g, o)."""
    _require("torch")
    from lstm_adapters.torch_lstm import TorchLSTMAdapter
    from lstm_conformance.diagnosis.search import diagnose

    class TorchFedOnnxBlocks(TorchLSTMAdapter):
        def tensors(self, packing, params):
            onnx = super().tensors("onnx", params)
            return {"weight_ih_l0": onnx["W"][0], "weight_hh_l0": onnx["R"][0],
                    "bias_ih_l0": onnx["B"][0, :onnx["W"].shape[1]], "bias_hh_l0": onnx["B"][0, onnx["W"].shape[1]:]}

    result = diagnose(TorchFedOnnxBlocks(), dtype="float32", spec=spec, patterns=["base-*"])
    assert [f.hypothesis.id for f in result.explained_by] == ["gate_order:igof"], result.lines()


class _ProbeAdapter:
    """A FrameworkAdapter over numpy (always installed) whose run fails as told."""

    @staticmethod
    def make(fails_at):
        from lstm_adapters.base import FrameworkAdapter
        from lstm_adapters.numpy_lstm import NumpyLSTMAdapter

        class Probe(FrameworkAdapter):
            name, framework, install = "probe", "numpy", "pip install numpy"

            def run(self, x, h0, c0, params):
                if x.dtype.name in fails_at:
                    raise KeyError("W_x")
                out = NumpyLSTMAdapter().compute({"x": x, "h0": h0, "c0": c0}, params, {})
                return out["y"], out["h_n"], out["c_n"]

        return Probe()


def test_a_dtype_the_framework_refuses_is_skipped_with_its_words(spec):
    result = run_conformance(_ProbeAdapter.make({"float64"}), dtype="float64", spec=spec, patterns=["base-T3-*"])
    (case,) = result.cases
    assert case.status == "skipped" and case.reasons == ["numpy cannot run float64: KeyError: 'W_x'"]


def test_an_adapter_that_fails_at_every_dtype_errors_instead_of_skipping(spec):
    result = run_conformance(_ProbeAdapter.make({"float64", "float32"}), dtype="float64", spec=spec,
                             patterns=["base-T3-*"])
    (case,) = result.cases
    assert case.status == "error" and "KeyError" in case.reasons[0], case.reasons
