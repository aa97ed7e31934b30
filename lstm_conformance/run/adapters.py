"""The adapter protocol, the built-in adapters, and loading an adapter by name.

An adapter wraps one LSTM implementation for the harness. `MODULE:ATTR` names a
zero-argument callable (a class or a function) that returns an object with:

  name: str
  supports(variant: dict) -> bool               False: the case is reported as skipped
  compute(inputs: dict, params: dict, variant: dict) -> dict
      named NumPy arrays in and out, with the spec's names under the variant
      (inputs x, h0, c0 and seq_lengths when rows have lengths; params W_i ... b_o,
      W_i_l1, U_f_reverse, ...; outputs y, h_n, c_n), at the dtype under test
      (seq_lengths: int64). The judge takes the outputs by name, never by position.
  or, for the base LSTM only (variant {}), the older
  forward(x, h0, c0, params, variant) -> (y, h_n, c_n)

`variant` holds only the features that differ from the base LSTM (spec/lstm.yaml
`features`), e.g. {"direction": "bidirectional", "num_layers": 2}. An adapter with
only forward is skipped on every other variant.

Optional: skip_reason(variant: dict, dtype: str) -> str | None. A string skips
the case with that reason (e.g. "ONNX Runtime's LSTM has no float64 kernel").
Optional: skip_case(inputs: dict, variant: dict, dtype: str) -> str | None, the same
for a case the implementation refuses for its data (e.g. torch refuses rows of length 0).
Optional: conventions = {name: value}, the named conventions it follows: a value of a
feature with goldens of its own (spec/lstm.yaml `features`, e.g. {"empty_rows": "zeros"}),
judged on those goldens; or a derived convention (spec/lstm.yaml `derived_conventions`, e.g.
{"layout": "batch_first"}, {"reverse_output": "processing_order"}, {"lengths": "valid_steps"}),
which the harness applies: it gives the adapter the inputs as that convention lays them out
and judges the outputs after undoing it. The adapter hands back what its framework returned.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

# Built-in implementations by name: name -> MODULE:ATTR. The third-party ones skip
# every case, saying how to install their framework, when it is missing.
BUILTIN = {
    "numpy": "lstm_adapters.numpy_lstm:NumpyLSTMAdapter",
    "torch": "lstm_adapters.torch_lstm:TorchLSTMAdapter",
    "torch-batch-first": "lstm_adapters.torch_lstm:TorchBatchFirstLSTMAdapter",
    "torch-cell": "lstm_adapters.torch_lstm:TorchLSTMCellAdapter",
    "onnxruntime": "lstm_adapters.onnxruntime_lstm:OnnxRuntimeLSTMAdapter",
    "onnxruntime-batch-first": "lstm_adapters.onnxruntime_lstm:OnnxRuntimeBatchFirstLSTMAdapter",
    "onnx-reference": "lstm_adapters.onnx_reference_lstm:OnnxReferenceLSTMAdapter",
    "onnx-reference-batch-first": "lstm_adapters.onnx_reference_lstm:OnnxReferenceBatchFirstLSTMAdapter",
    "keras": "lstm_adapters.keras_lstm:KerasLSTMAdapter",
    "keras-jax": "lstm_adapters.keras_lstm:KerasJaxLSTMAdapter",
    "flax": "lstm_adapters.flax_lstm:FlaxLSTMCellAdapter",
    "flax-optimized": "lstm_adapters.flax_lstm:FlaxOptimizedLSTMCellAdapter",
    "tflite": "lstm_adapters.tflite_lstm:TFLiteLSTMAdapter",
    # GPU implementations: every case is skipped (NOT RUN) where the framework sees no GPU
    "torch-cuda": "lstm_adapters.torch_lstm:TorchCudaLSTMAdapter",
    "torch-cuda-tf32": "lstm_adapters.torch_lstm:TorchCudaTF32LSTMAdapter",
    "flax-gpu": "lstm_adapters.flax_lstm:FlaxGpuLSTMCellAdapter",
    "flax-optimized-gpu": "lstm_adapters.flax_lstm:FlaxGpuOptimizedLSTMCellAdapter",
}


class AdapterError(ValueError):
    """An adapter that cannot be found, built, or that lacks the protocol."""


@runtime_checkable
class Adapter(Protocol):
    name: str

    def supports(self, variant: dict) -> bool: ...

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                params: Mapping[str, np.ndarray], variant: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def resolve(ref: str) -> str:
    """A built-in name or MODULE:ATTR, as MODULE:ATTR."""
    if ref in BUILTIN:
        return BUILTIN[ref]
    if ":" not in ref:
        raise AdapterError(f"--impl={ref!r}, but should be a built-in name ({', '.join(sorted(BUILTIN))}) "
                           f"or MODULE:ATTR naming a zero-argument callable")
    return ref


def load_factory(ref: str) -> Callable[[], Any]:
    """Import MODULE:ATTR (or a built-in name) and return the callable."""
    target = resolve(ref)
    module_name, _, attr = target.partition(":")
    # `python path/to/tools/conformance.py` puts tools/ on sys.path, not the folder the
    # user stands in; an adapter module there should import as it does with `python -m`.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is the adapter's, reported plainly
        raise AdapterError(f"cannot import module {module_name!r} for --impl={ref!r}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AdapterError(f"module {module_name!r} has no attribute {attr!r} (--impl={ref!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise AdapterError(f"{target} is {type(obj).__name__}, but should be a zero-argument callable")
    return obj


def build_adapter(factory: Callable[[], Any], ref: str = "") -> Any:
    """Call the factory and check the result has the protocol's members."""
    try:
        adapter = factory()
    except Exception as exc:
        raise AdapterError(f"calling {ref or factory!r}() failed: {type(exc).__name__}: {exc}") from None
    return check_adapter(adapter, ref)


def check_adapter(adapter: Any, ref: str = "") -> Any:
    """The adapter, if it has name, supports and compute or forward (AdapterError naming what it lacks)."""
    who = ref or type(adapter).__name__
    missing = [m for m in ("name", "supports") if not hasattr(adapter, m)]
    if not (hasattr(adapter, "compute") or hasattr(adapter, "forward")):
        missing.append("compute or forward")
    if missing:
        raise AdapterError(f"{who} returned {type(adapter).__name__}, which lacks {missing} (an adapter needs name, "
                           f"supports(variant), and compute(inputs, params, variant) or forward(x, h0, c0, params, variant))")
    for method in ("supports", "compute", "forward"):
        if hasattr(adapter, method) and not callable(getattr(adapter, method)):
            raise AdapterError(f"{who}: {method} is not callable")
    conventions = getattr(adapter, "conventions", None)
    if conventions is not None and not isinstance(conventions, dict):
        raise AdapterError(f"{who}: conventions={conventions!r}, but should be a dict feature -> convention name")
    return adapter


def load_adapter(ref: str) -> Any:
    """Import, build and check the adapter named by `ref`."""
    return build_adapter(load_factory(ref), ref)
