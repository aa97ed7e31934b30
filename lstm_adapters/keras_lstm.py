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
  y[:, -1] == h_n; its final state is the state after consuming x[0] (canonical). Declared as
  conventions = {"reverse_output": "processing_order"} (spec/lstm.yaml derived_conventions): the
  harness flips y back; the adapter returns what Keras returned.
- lengths: Keras has no lengths, it has masks. Each layer is called with mask[b, t] = t < len_b (B, T),
  which is post-padding. Measured (Keras 3.15.1, torch backend, lengths [5, 3, 0], T = 5):
  * a masked step holds the state, so h_n, c_n are the state after the row's last valid step, and a row
    of length 0 keeps h0, c0 (the canonical empty_rows);
  * with zero_output_for_mask=False (LSTM's default) y at a masked step repeats the previous output (row
    of length 3: y[3] = y[4] = y[2] = -0.0792), 0 before any valid step (the row of length 0): the spec's
    lengths=repeat_last; with zero_output_for_mask=True it is 0 (lengths=zero_fill), and Bidirectional sets
    zero_output_for_mask=True on both its layers. This adapter sets it on every layer: zero_fill throughout;
  * go_backwards with a mask reverses the whole time axis, mask included: the padding comes first, the
    state is held through it (h0), then the row runs from x[len_b - 1] down to x[0]; y in processing
    order is 0 over the padding, so flipped back it is zero_fill exactly;
  * pre-padding (the valid steps last, mask[b, t] = t >= T - len_b) gives the same final state and the
    same valid outputs, shifted to the end of the row, 0 before them. A pre-padded input is the same
    case with each row's steps moved: no golden or (T, B) mask input is needed for it, and the harness
    keeps one padding side (post) as the canonical input; tests/test_adapter_keras_flax.py pins both.
  * float64 with a mask is float32-accurate on the torch backend: without a mask Keras runs the LSTM
    through torch's own kernel (keras/src/backend/torch/rnn.py `lstm`), with one it raises
    NotImplementedError there and falls back to the generic loop, whose keras.ops.matmul casts float64
    operands to dtypes.result_type(float64, float64) = float32. Measured on the goldens at float64: y off
    by 1.1e-6 (len-T6-B4-I3-H5), 7.0e-4 (bidir-len-T210-B3-I2-H3-long), against 1e-14 without a mask. The
    float64 cases with lengths are skipped with that reason (MASKED_FLOAT64); float32 runs them all.
- direction "reverse" with num_layers: a chain of go_backwards layers is not a stacked reverse LSTM.
  Layer 2 reads layer 1's y in processing order and, going backwards over it, processes layer 1's
  outputs in input time order: the directions alternate (stack2-rev-T4-B2-I3-H4 is off by 9.7 in y).
  Refused in supports(); stacked bidirectional is Bidirectional's own flip and passes.

- activations: LSTM(activation=A, recurrent_activation=F) applies F to i, f, o and A to both g and h's
  cell output, so a variant runs when its cell_input and cell_output are the same function and both are
  among KERAS_ACTIVATIONS (Keras 3's own functions in the spec's ONNX terms: hard_sigmoid is
  HardSigmoid(1/6, 0.5), relu6(x + 3) / 6, not ONNX's default (0.2, 0.5); elu's alpha and leaky_relu's
  negative_slope are Keras's defaults, 1.0 and 0.2). Per-direction functions (a list) are not run: they
  would need Bidirectional(backward_layer=...) built by this adapter. unit_forget_bias only initialises
  b_f, which the goldens set: nothing to run.

No gate permutation lives here: each layer's and run's parameters (lstm_conformance.spec.variants.cell_params)
are packed with the spec's `keras` packing and assigned to that layer's weights by name. Built layers
are cached per structure, shape and dtype, and reloaded for each call.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Mapping

import numpy as np

from .base import FrameworkAdapter

# Why a float64 case with lengths is not judged on the torch backend (measured: module docstring).
MASKED_FLOAT64 = ("deviation: Keras 3.15.1 (torch backend) runs a masked LSTM through its generic RNN loop, whose "
                  "keras.ops.matmul computes float64 in float32 (keras dtypes.result_type(float64, float64) is "
                  "float32): |error| up to 7e-4 at float64, float32-accurate (README, Deviations)")
# The features this adapter runs through Keras's own layers (empty_rows only at its canonical default).
RUNS_FEATURES = frozenset({"direction", "num_layers", "lengths", "activations"})
# Keras 3's activation names -> the same function in the spec's terms (ONNX name, alpha, beta), measured
# against keras.activations (hard_sigmoid within 1.2e-16 of max(0, min(1, x / 6 + 0.5))).
KERAS_ACTIVATIONS = {
    "sigmoid": {"name": "Sigmoid", "alpha": 0, "beta": 0},
    "tanh": {"name": "Tanh", "alpha": 0, "beta": 0},
    "relu": {"name": "Relu", "alpha": 0, "beta": 0},
    "hard_sigmoid": {"name": "HardSigmoid", "alpha": 1 / 6, "beta": 0.5},
    "softsign": {"name": "Softsign", "alpha": 0, "beta": 0},
    "softplus": {"name": "Softplus", "alpha": 0, "beta": 0},
    "elu": {"name": "Elu", "alpha": 1.0, "beta": 0},
    "leaky_relu": {"name": "LeakyRelu", "alpha": 0.2, "beta": 0},
    "linear": {"name": "Affine", "alpha": 1.0, "beta": 0},
}


def keras_activations(variant: Mapping[str, Any]) -> tuple[str, str] | None:
    """(activation, recurrent_activation) for the variant's functions, or None if Keras has no such LSTM."""
    value = variant.get("activations")
    if value is None:
        return "tanh", "sigmoid"
    if not isinstance(value, Mapping) or value["cell_input"] != value["cell_output"]:
        return None
    names = {}
    for role in ("gate", "cell_input"):
        match = [k for k, fn in KERAS_ACTIVATIONS.items() if fn == value[role]]
        if not match:
            return None
        names[role] = match[0]
    return names["cell_input"], names["gate"]


class KerasLSTMAdapter(FrameworkAdapter):
    """keras.layers.LSTM(return_sequences=True, return_state=True), batch-major inside."""

    name = "keras.layers.LSTM"
    framework = "keras"
    install = "pip install keras torch==2.13.0 (or jax, for the jax backend)"
    backend: str | None = None  # None: KERAS_BACKEND if set, else torch
    conventions = {"reverse_output": "processing_order"}  # LSTM(go_backwards=True): see the module docstring

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
        # a chain of go_backwards layers alternates direction (module docstring): no stacked reverse-only LSTM
        return (set(variant) <= RUNS_FEATURES and not (variant.get("direction") == "reverse" and "num_layers" in variant)
                and keras_activations(variant) is not None)

    def skip_reason(self, variant: dict, dtype: str) -> str | None:
        reason = super().skip_reason(variant, dtype)
        if reason or "lengths" not in variant or dtype != "float64" or self.keras.backend.backend() != "torch":
            return reason
        return MASKED_FLOAT64

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
        from lstm_conformance.spec.variants import cell_params, structure

        if not self.supports(variant):  # pragma: no cover - the runner asks supports() first
            raise ValueError(f"{self.name} does not run variant {variant}")
        st = structure(self.spec, variant)
        if st.runs not in (("forward",), ("reverse",), ("forward", "reverse")):  # pragma: no cover
            raise ValueError(f"runs {st.runs}: Keras's Bidirectional concatenates [forward | backward]")
        to_numpy = self.keras.ops.convert_to_numpy
        x, h0, c0 = inputs["x"], inputs["h0"], inputs["c0"]
        if not st.stacked:  # (B, H) -> (1, B, H)
            h0, c0 = h0[None], c0[None]
        t_len, b, i_sz = x.shape
        h_sz = h0.shape[-1]
        layers = self._layers(st.runs, st.L, (b, t_len, i_sz), h_sz, x.dtype.name, keras_activations(variant))
        seq = np.ascontiguousarray(x.transpose(1, 0, 2))  # Keras is batch-major
        mask = None  # (B, T): step t of row b is valid while t < len_b (post-padding)
        if st.lengths is not None:
            mask = np.arange(t_len)[None, :] < np.asarray(inputs["seq_lengths"])[:, None]
        h_n, c_n = [], []
        for layer, keras_layer in enumerate(layers):
            k = layer * st.D  # the spec's structure.state_index: layer * D + run
            if st.D == 2:
                self._load(keras_layer.forward_layer, cell_params(self.spec, variant, params, layer, 0))
                self._load(keras_layer.backward_layer, cell_params(self.spec, variant, params, layer, 1))
                seq, h_f, c_f, h_b, c_b = keras_layer(seq, initial_state=[h0[k], c0[k], h0[k + 1], c0[k + 1]],
                                                      mask=mask)
                h_n += [h_f, h_b]
                c_n += [c_f, c_b]
            else:
                self._load(keras_layer, cell_params(self.spec, variant, params, layer, 0))
                seq, h, c = keras_layer(seq, initial_state=[h0[k], c0[k]], mask=mask)
                h_n.append(h)
                c_n.append(c)
        y = to_numpy(seq).transpose(1, 0, 2)  # (T, B, D * H)
        h_n, c_n = np.stack([to_numpy(a) for a in h_n]), np.stack([to_numpy(a) for a in c_n])
        if not st.stacked:
            h_n, c_n = h_n[0], c_n[0]
        return {"y": np.ascontiguousarray(y), "h_n": h_n, "c_n": c_n}

    def _layers(self, runs: tuple[str, ...], n_layers: int, batch_shape: tuple[int, int, int], h_sz: int,
                dtype: str, functions: tuple[str, str]) -> list[Any]:
        """The built Keras layers for this structure, shape, dtype and (activation, recurrent_activation)
        (cached; weights are assigned per call)."""
        key = (runs, n_layers, batch_shape, h_sz, dtype, functions)
        cache = self.__dict__.setdefault("_built", {})
        if key not in cache:
            keras = self.keras
            b, t_len, width = batch_shape
            layers = []
            for _ in range(n_layers):
                # zero_output_for_mask: 0 past a row's length (lengths=zero_fill); Bidirectional sets it anyway
                lstm = keras.layers.LSTM(h_sz, return_sequences=True, return_state=True, dtype=dtype,
                                         go_backwards=runs == ("reverse",), zero_output_for_mask=True,
                                         activation=functions[0], recurrent_activation=functions[1])
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
