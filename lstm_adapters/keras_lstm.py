"""keras.layers.LSTM (Keras 3), loaded through the spec's `keras` packing.

Keras picks its backend once, at import, from KERAS_BACKEND. `KerasLSTMAdapter`
keeps a backend the user chose and otherwise takes torch; `KerasJaxLSTMAdapter`
takes jax (with jax_enable_x64, without which jax silently computes float64 in
float32). Both must be built before anything imports keras, which is what the
harness's worker process (the default) gives them.

Seen with Keras 3.15.1 on jax: keras.ops.tanh computes a float64 tensor in
float32 (keras's result_type maps 64-bit types to 32-bit "to be aligned with
JAX's default"), so a float64 LSTM is only float32-accurate there. The harness
reports it; the torch backend computes float64 throughout.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .base import FrameworkAdapter


class KerasLSTMAdapter(FrameworkAdapter):
    """keras.layers.LSTM(return_sequences=True, return_state=True), batch-major inside."""

    name = "keras.layers.LSTM"
    framework = "keras"
    install = "pip install keras torch==2.13.0 (or jax, for the jax backend)"
    backend: str | None = None  # None: KERAS_BACKEND if set, else torch

    def _import(self) -> None:
        want = self.backend or os.environ.get("KERAS_BACKEND") or "torch"
        if sys.modules.get("keras") is not None:
            have = sys.modules["keras"].backend.backend()
            if have != want:
                raise RuntimeError(f"keras is already imported with the {have} backend, but this adapter needs {want}; "
                                   f"run it in its own process (the harness's default, without --no-isolation)")
        os.environ["KERAS_BACKEND"] = want
        if want == "jax":
            import jax

            jax.config.update("jax_enable_x64", True)
        import keras

        self.keras = keras
        self.name = f"keras {keras.__version__} LSTM ({keras.backend.backend()} backend)"

    def run(self, x, h0, c0, params):
        keras = self.keras
        t_len, b, i_sz = x.shape
        h_sz = h0.shape[1]
        layer = keras.layers.LSTM(h_sz, return_sequences=True, return_state=True, dtype=x.dtype.name)
        layer.build((b, t_len, i_sz))
        tensors = self.tensors("keras", params)
        weights = {w.name: w for w in layer.weights}
        if sorted(weights) != sorted(tensors):
            raise RuntimeError(f"keras LSTM weights are {sorted(weights)}, but the spec's keras packing has {sorted(tensors)}")
        for name, value in tensors.items():
            weights[name].assign(value)
        # Keras is batch-major: (B, T, I) in, (B, T, H) out
        y, h_n, c_n = layer(np.ascontiguousarray(x.transpose(1, 0, 2)), initial_state=[h0, c0])
        to_numpy = keras.ops.convert_to_numpy
        return to_numpy(y).transpose(1, 0, 2), to_numpy(h_n), to_numpy(c_n)  # (T, B, H), (B, H), (B, H)


class KerasJaxLSTMAdapter(KerasLSTMAdapter):
    """keras.layers.LSTM on the jax backend."""

    name = "keras.layers.LSTM (jax backend)"
    install = "pip install keras jax"
    backend = "jax"
