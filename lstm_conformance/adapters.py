"""The adapter protocol, the built-in adapters, and loading an adapter by name.

An adapter wraps one LSTM implementation for the harness. `MODULE:ATTR` names a
zero-argument callable (a class or a function) that returns an object with:

  name: str
  supports(variant: dict) -> bool               False: the case is reported as skipped
  forward(x, h0, c0, params, variant) -> (y, h_n, c_n)

forward takes NumPy arrays in the canonical layout (x (T, B, I), h0 and c0 (B, H),
params keyed W_i ... b_o as in spec/lstm.yaml) at the dtype under test, and
returns NumPy arrays y (T, B, H), h_n (B, H), c_n (B, H) at that dtype.

Optional: skip_reason(variant: dict, dtype: str) -> str | None. A string skips
the case with that reason (e.g. "ONNX Runtime's LSTM has no float64 kernel").
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
    "torch-cell": "lstm_adapters.torch_lstm:TorchLSTMCellAdapter",
    "onnxruntime": "lstm_adapters.onnxruntime_lstm:OnnxRuntimeLSTMAdapter",
    "keras": "lstm_adapters.keras_lstm:KerasLSTMAdapter",
    "keras-jax": "lstm_adapters.keras_lstm:KerasJaxLSTMAdapter",
    "flax": "lstm_adapters.flax_lstm:FlaxLSTMCellAdapter",
    "flax-optimized": "lstm_adapters.flax_lstm:FlaxOptimizedLSTMCellAdapter",
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
    missing = [m for m in ("name", "supports", "forward") if not hasattr(adapter, m)]
    if missing:
        raise AdapterError(f"{ref or type(adapter).__name__} returned {type(adapter).__name__}, which lacks {missing} "
                           f"(an adapter needs name, supports(variant), forward(x, h0, c0, params, variant))")
    for method in ("supports", "forward"):
        if not callable(getattr(adapter, method)):
            raise AdapterError(f"{ref or type(adapter).__name__}: {method} is not callable")
    return adapter


def load_adapter(ref: str) -> Any:
    """Import, build and check the adapter named by `ref`."""
    return build_adapter(load_factory(ref), ref)
