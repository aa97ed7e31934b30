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

What Keras does with the spec's sequence structure (spec/lstm.yaml `features`), pinned by running
Keras 3.15.1 on the torch and the jax backend against separately run LSTM layers with the same weights
(tests/test_adapter_keras_flax.py runs the goldens); both backends agree:

- direction "bidirectional": keras.layers.Bidirectional(LSTM(units, return_sequences=True,
  return_state=True), merge_mode="concat"). It returns [y, h_fwd, c_fwd, h_bwd, c_bwd]; y (B, T, 2H) is
  [forward | backward] on its last axis, both halves in input time order (Bidirectional flips the
  go_backwards layer's output back); initial_state is [h_fwd, c_fwd, h_bwd, c_bwd] (split in halves:
  forward first). The backward layer's final state is the state after consuming x[0].
- num_layers: a chain of LSTM (or Bidirectional) layers, layer k >= 1 reading layer k-1's y, each called
  with its own initial state h0/c0[layer * D + run].
- direction "reverse" (one run): Keras's reverse-only LSTM is LSTM(go_backwards=True). It processes
  x[T-1] .. x[0] and returns y in PROCESSING order: y[:, t] is the state after consuming x[T-1-t], so
  y[:, -1] == h_n; its final state is the state after consuming x[0] (canonical). The y order is not the
  canonical one (input order) but a named convention the harness does not have yet; adapters never
  repair a framework's values, so supports() refuses direction "reverse" alone until it has.
- lengths: not run yet (supports() refuses any variant with lengths).

No gate permutation lives here: each layer's and run's parameters (lstm_conformance.variants.cell_params)
are packed with the spec's `keras` packing and assigned to that layer's weights by name. Built layers
are cached per structure, shape and dtype, and reloaded for each call.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Mapping

import numpy as np

from .base import FrameworkAdapter

# The features this adapter runs through Keras's own layers; lengths (and empty_rows) are not run yet.
RUNS_FEATURES = frozenset({"direction", "num_layers"})


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
        # Keras reads KERAS_BACKEND once, at import. Set it for that import only: left set, it would leak into
        # every worker this process starts later (keras-jax's choice made the next `keras` run on jax).
        before = os.environ.get("KERAS_BACKEND")
        os.environ["KERAS_BACKEND"] = want
        try:
            if want == "jax":
                import jax

                jax.config.update("jax_enable_x64", True)
            import keras
        finally:
            if before is None:
                os.environ.pop("KERAS_BACKEND", None)
            else:
                os.environ["KERAS_BACKEND"] = before

        self.keras = keras
        self.name = f"keras {keras.__version__} LSTM ({keras.backend.backend()} backend)"

    def supports(self, variant: dict) -> bool:
        # direction "reverse" alone is LSTM(go_backwards=True), whose y is in processing order (module docstring)
        return set(variant) <= RUNS_FEATURES and variant.get("direction") != "reverse"

    def _load(self, layer, params: Mapping[str, np.ndarray]) -> None:
        """Assign one LSTM layer's weights from canonical parameters W_i ... b_o, through the `keras` packing."""
        tensors = self.tensors("keras", params)
        weights = {w.name: w for w in layer.weights}
        if sorted(weights) != sorted(tensors):
            raise RuntimeError(f"keras LSTM weights are {sorted(weights)}, "
                               f"but the spec's keras packing has {sorted(tensors)}")
        for name, value in tensors.items():
            weights[name].assign(value)

    def run(self, x, h0, c0, params):
        keras = self.keras
        t_len, b, i_sz = x.shape
        h_sz = h0.shape[1]
        layer = keras.layers.LSTM(h_sz, return_sequences=True, return_state=True, dtype=x.dtype.name)
        layer.build((b, t_len, i_sz))
        self._load(layer, params)
        # Keras is batch-major: (B, T, I) in, (B, T, H) out
        y, h_n, c_n = layer(np.ascontiguousarray(x.transpose(1, 0, 2)), initial_state=[h0, c0])
        to_numpy = keras.ops.convert_to_numpy
        return to_numpy(y).transpose(1, 0, 2), to_numpy(h_n), to_numpy(c_n)  # (T, B, H), (B, H), (B, H)

    def run_variant(self, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                    variant: dict) -> dict[str, np.ndarray]:
        from lstm_conformance.variants import cell_params, structure

        if not self.supports(variant):  # pragma: no cover - the runner asks supports() first
            raise ValueError(f"{self.name} does not run variant {variant}")
        st = structure(self.spec, variant)
        if st.runs not in (("forward",), ("forward", "reverse")):  # pragma: no cover - supports() refuses
            raise ValueError(f"runs {st.runs}: Keras's Bidirectional concatenates [forward | backward]")
        to_numpy = self.keras.ops.convert_to_numpy
        x, h0, c0 = inputs["x"], inputs["h0"], inputs["c0"]
        if not st.stacked:  # (B, H) -> (1, B, H)
            h0, c0 = h0[None], c0[None]
        t_len, b, i_sz = x.shape
        h_sz = h0.shape[-1]
        layers = self._layers(st.runs, st.L, (b, t_len, i_sz), h_sz, x.dtype.name)
        seq = np.ascontiguousarray(x.transpose(1, 0, 2))  # Keras is batch-major
        h_n, c_n = [], []
        for layer, keras_layer in enumerate(layers):
            k = layer * st.D  # the spec's structure.state_index: layer * D + run
            if st.D == 2:
                self._load(keras_layer.forward_layer, cell_params(self.spec, variant, params, layer, 0))
                self._load(keras_layer.backward_layer, cell_params(self.spec, variant, params, layer, 1))
                seq, h_f, c_f, h_b, c_b = keras_layer(seq, initial_state=[h0[k], c0[k], h0[k + 1], c0[k + 1]])
                h_n += [h_f, h_b]
                c_n += [c_f, c_b]
            else:
                self._load(keras_layer, cell_params(self.spec, variant, params, layer, 0))
                seq, h, c = keras_layer(seq, initial_state=[h0[k], c0[k]])
                h_n.append(h)
                c_n.append(c)
        y = to_numpy(seq).transpose(1, 0, 2)  # (T, B, D * H)
        h_n, c_n = np.stack([to_numpy(a) for a in h_n]), np.stack([to_numpy(a) for a in c_n])
        if not st.stacked:
            h_n, c_n = h_n[0], c_n[0]
        return {"y": np.ascontiguousarray(y), "h_n": h_n, "c_n": c_n}

    def _layers(self, runs: tuple[str, ...], n_layers: int, batch_shape: tuple[int, int, int], h_sz: int,
                dtype: str) -> list[Any]:
        """The built Keras layers for this structure, shape and dtype (cached; weights are assigned per call)."""
        key = (runs, n_layers, batch_shape, h_sz, dtype)
        cache = self.__dict__.setdefault("_built", {})
        if key not in cache:
            keras = self.keras
            b, t_len, width = batch_shape
            layers = []
            for _ in range(n_layers):
                lstm = keras.layers.LSTM(h_sz, return_sequences=True, return_state=True, dtype=dtype)
                layer = keras.layers.Bidirectional(lstm, merge_mode="concat", dtype=dtype) if len(runs) == 2 else lstm
                layer.build((b, t_len, width))
                layers.append(layer)
                width = len(runs) * h_sz  # the next layer reads this one's y
            cache[key] = layers
        return cache[key]


class KerasJaxLSTMAdapter(KerasLSTMAdapter):
    """keras.layers.LSTM on the jax backend."""

    name = "keras.layers.LSTM (jax backend)"
    install = "pip install keras jax"
    backend = "jax"
