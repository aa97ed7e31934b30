"""An ONNX model of any of the spec's sequence structures, as exporters write it, for the adapters
that run ONNX's LSTM operator (ONNX Runtime, onnx.reference).

One LSTM node per layer, with ONNX's `direction` attribute ("forward", "reverse", "bidirectional")
and, when rows have lengths, the `sequence_lens` input. The weights of each node come from the
spec's `onnx` packing, one direction at a time (`variants.cell_params` + `to_packing`), stacked along
ONNX's leading num_directions axis in the order of the spec's `runs` (forward, then reverse); no
gate permutation is written here. Between layers, and after the last, the node's Y [T, D, B, H] is
turned into the spec's y (T, B, D * H) by the Transpose(0, 2, 1, 3) + Reshape(0, 0, -1) that
exporters write between LSTM nodes: [forward | reverse] on the last axis. The final states Y_h, Y_c [D, B, H]
of the layers are concatenated along axis 0: index layer * D + direction, as the spec's state_index.

Graph inputs: X [T, B, I]; initial_h_l{k}, initial_c_l{k} [D, B, H] per layer; sequence_lens [B]
(int32, as the operator requires) when rows have lengths. Graph outputs: y (T, B, D * H),
h_n, c_n (L * D, B, H).

OnnxOperatorAdapter, the adapters' shared base, builds the model for a case and refuses every feature
the model does not encode or its evaluator cannot run (`refused`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .base import FrameworkAdapter

OPSET = 14  # LSTM-14 (adds `layout`); the default attributes are the standard LSTM
IR_VERSION = 8

# spec direction (features.direction value) -> ONNX's direction attribute; the spelling is the same
ONNX_DIRECTION = {"forward": "forward", "reverse": "reverse", "bidirectional": "bidirectional"}
# ONNX's Y [T, D, B, H] -> [T, B, D, H], which Reshape(0, 0, -1) makes (T, B, D * H): the spec's y, with
# [forward | reverse] on its last axis
Y_PERM = (0, 2, 1, 3)


@dataclass
class OnnxLSTM:
    """A built model and how to feed it."""

    model: Any                        # onnx.ModelProto
    feeds: dict[str, np.ndarray]      # graph input name -> array
    stacked: bool                     # whether the spec's states are (L * D, B, H)

    def outputs(self, y: np.ndarray, h_n: np.ndarray, c_n: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's outputs under the spec's names and shapes: (L * D, B, H) states lose their
        leading axis when L * D = 1."""
        if not self.stacked:
            h_n, c_n = h_n[0], c_n[0]
        return {"y": y, "h_n": h_n, "c_n": c_n}


def direction_of(spec: Any, variant: Mapping[str, Any]) -> str:
    return variant.get("direction", spec.data["features"]["direction"]["default"])


def build(spec: Any, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
          variant: Mapping[str, Any], *, opset: int = OPSET, check: bool = True, layout: int = 0) -> OnnxLSTM:
    """The model for `variant` over these inputs and parameters (named as the spec names them), at
    x's dtype, with the parameters as initializers. With layout=1 (ONNX's batch-first) x is (B, T, I)
    and y comes out (B, T, D * H); the states keep the spec's shapes (the graph transposes ONNX's
    (B, D, H) ones)."""
    import onnx
    from onnx import helper, numpy_helper

    from lstm_conformance.packing.convert import to_packing
    from lstm_conformance.spec.variants import cell_params, structure

    st = structure(spec, variant)
    x = np.asarray(inputs["x"])
    t_len, b, i_sz = x.shape if not layout else (x.shape[1], x.shape[0], x.shape[2])
    dtype = x.dtype
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    d = st.D
    h0 = np.asarray(inputs["h0"])
    c0 = np.asarray(inputs["c0"])
    h_sz = h0.shape[-1]
    if not st.stacked:
        h0, c0 = h0[None], c0[None]  # (B, H) -> (1, B, H)
    direction = ONNX_DIRECTION[direction_of(spec, variant)]

    nodes, initializers = [], []
    graph_inputs = [helper.make_tensor_value_info("X", elem, list(x.shape))]
    feeds: dict[str, np.ndarray] = {"X": x}
    seq_name = ""
    if st.lengths is not None:
        lengths = np.asarray(inputs["seq_lengths"])
        if lengths.min(initial=0) < 0 or lengths.max(initial=0) > np.iinfo(np.int32).max:
            raise ValueError(f"seq_lengths {lengths.tolist()}: ONNX's sequence_lens is int32 and a length "
                             f"cannot be negative")
        seq_name = "sequence_lens"
        graph_inputs.append(helper.make_tensor_value_info(seq_name, onnx.TensorProto.INT32, [b]))
        feeds[seq_name] = lengths.astype(np.int32)
    initializers.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "y_shape"))

    layer_x = "X"
    h_outs, c_outs = [], []
    for layer in range(st.L):
        per_run = [to_packing(spec, "onnx", cell_params(spec, variant, params, layer, run)) for run in range(d)]
        names = {}
        for tensor in per_run[0]:  # W, R, B (and P with peepholes); the leading axis is num_directions, in `runs` order
            names[tensor] = f"{tensor}_l{layer}"
            stacked = np.concatenate([packed[tensor] for packed in per_run], axis=0)
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(stacked.astype(dtype)), names[tensor]))
        ih, ic = f"initial_h_l{layer}", f"initial_c_l{layer}"
        for name, state in ((ih, h0), (ic, c0)):
            part = state[layer * d:(layer + 1) * d]  # (D, B, H); layout=1 reads (B, D, H)
            feeds[name] = np.ascontiguousarray(part.transpose(1, 0, 2) if layout else part)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, list(feeds[name].shape)))
        y, yh, yc = f"Y_l{layer}", f"Y_h_l{layer}", f"Y_c_l{layer}"
        nodes.append(helper.make_node(
            "LSTM", [layer_x, names["W"], names["R"], names["B"], seq_name, ih, ic] + ([names["P"]] if "P" in names else []),
            [y, yh, yc], name=f"lstm_l{layer}", hidden_size=h_sz, direction=direction,
            **({"layout": 1} if layout else {}), **cell_attributes(spec, variant)))
        layer_x = "y" if layer == st.L - 1 else f"X_l{layer + 1}"
        if layout:  # Y [B, T, D, H] -> (B, T, D * H); Y_h, Y_c [B, D, H] -> the spec's (D, B, H)
            nodes.append(helper.make_node("Reshape", [y, "y_shape"], [layer_x]))
            for state in (yh, yc):
                nodes.append(helper.make_node("Transpose", [state], [f"{state}_dbh"], perm=[1, 0, 2]))
            yh, yc = f"{yh}_dbh", f"{yc}_dbh"
        else:  # Y [T, D, B, H] -> [T, B, D, H] -> (T, B, D * H): [forward | reverse] on the last axis
            nodes.append(helper.make_node("Transpose", [y], [f"Y_tbdh_l{layer}"], perm=list(Y_PERM)))
            nodes.append(helper.make_node("Reshape", [f"Y_tbdh_l{layer}", "y_shape"], [layer_x]))
        h_outs.append(yh)
        c_outs.append(yc)
    for name, parts in (("h_n", h_outs), ("c_n", c_outs)):
        if len(parts) == 1:
            nodes.append(helper.make_node("Identity", parts, [name]))
        else:
            nodes.append(helper.make_node("Concat", parts, [name], axis=0))

    graph = helper.make_graph(
        nodes, "lstm", inputs=graph_inputs,
        outputs=[helper.make_tensor_value_info("y", elem, [b, t_len, d * h_sz] if layout else [t_len, b, d * h_sz]),
                 helper.make_tensor_value_info("h_n", elem, [st.L * d, b, h_sz]),
                 helper.make_tensor_value_info("c_n", elem, [st.L * d, b, h_sz])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(model, full_check=True)
    return OnnxLSTM(model, feeds, st.stacked)


def cell_attributes(spec: Any, variant: Mapping[str, Any]) -> dict[str, Any]:
    """The LSTM node's attributes for the variant's cell features: input_forget=1 for coupling
    "input_forget" (f = 1 - i), clip=threshold for the gate-pre-activation clip (the input P carries
    peepholes), and activations with activation_alpha / activation_beta (activation_lists)."""
    out: dict[str, Any] = {}
    if variant.get("coupling") == "input_forget":
        out["input_forget"] = 1
    if "clip" in variant:
        out["clip"] = float(variant["clip"]["threshold"])
    if "activations" in variant:
        out.update(activation_lists(spec, variant))
    return out


# ONNX's order of an LSTM's functions (f, g, h), as the spec's activations feature names them
ONNX_FUNCTION_ORDER = ("gate", "cell_input", "cell_output")


def activation_lists(spec: Any, variant: Mapping[str, Any]) -> dict[str, list]:
    """activations (3 names per direction, forward first), activation_alpha and activation_beta as ONNX
    Runtime reads them: an alpha only for each function that takes one, a beta likewise, in function order
    across both directions (rnn_helpers.cc; measured, see onnxruntime_lstm.py). A value given once stands
    for every direction."""
    from lstm_conformance.spec.cell import onnx_activation
    from lstm_conformance.spec.variants import structure

    value = variant["activations"]
    per_run = value if isinstance(value, list) else [value] * structure(spec, variant).D
    names, alphas, betas = [], [], []
    for run in per_run:
        for role in ONNX_FUNCTION_ORDER:
            fn = run[role]
            _, takes = onnx_activation(spec, fn["name"])
            names.append(fn["name"])
            alphas += [float(fn["alpha"])] if "alpha" in takes else []
            betas += [float(fn["beta"])] if "beta" in takes else []
    return {"activations": names, **({"activation_alpha": alphas} if alphas else {}),
            **({"activation_beta": betas} if betas else {})}


# What the model above encodes: feature -> the values it can express (None: any value the spec allows; for
# an object-valued feature, the conventions). A feature not listed here is refused.
ENCODED = {"direction": {"reverse", "bidirectional"}, "num_layers": None, "lengths": {"zero_fill"},
           "empty_rows": None, "peephole": None, "coupling": {"input_forget"},
           # what ONNX's clip means is the evaluator's business: ONNX Runtime clips the gate pre-activations,
           # the operator text says the inputs of every activation; an evaluator declares which it runs
           "clip": {"gate_preactivations", "activation_inputs"},
           "activations": None}


class OnnxOperatorAdapter(FrameworkAdapter):
    """ONNX's LSTM operator in the models `build` writes; subclasses say what evaluates them
    (`evaluate`) and which of ENCODED they cannot do (`refused`)."""

    opset = OPSET
    layout = 0  # ONNX's layout attribute; 1 (batch-first) needs conventions = {"layout": "batch_first"}

    def refused(self, variant: dict) -> str | None:
        """Why this evaluator does not run `variant` although the model encodes it (an attribute it ignores, a
        deviation it has), or None: the case is skipped with these words."""
        return None

    def not_encoded(self, variant: dict) -> str | None:
        """Why the model cannot express `variant`, or None."""
        for feature, value in variant.items():
            if feature not in ENCODED:
                return f"the ONNX model does not encode feature {feature!r}"
            key = value.get("convention") if isinstance(value, Mapping) else value
            if ENCODED[feature] is not None and key not in ENCODED[feature]:
                return f"the ONNX model does not encode {feature}={value!r}"
        return None

    def why_not(self, variant: dict) -> str | None:
        """Why `variant` is not run, or None."""
        return self.not_encoded(variant) or self.refused(variant)

    def supports(self, variant: dict) -> bool:
        if self.missing:
            return True  # skip_reason skips every case, saying how to install the framework
        return self.not_encoded(variant) is None

    def skip_reason(self, variant: dict, dtype: str) -> str | None:
        return super().skip_reason(variant, dtype) or self.refused(variant) or self._layout_refused()

    def _layout_refused(self) -> str | None:
        """The evaluator's own words if it refuses this adapter's layout where it runs layout 0 (a probe of
        one step at float32, made once), else None."""
        if not self.layout:
            return None
        if "_layout_reason" not in self.__dict__:
            error = self._probe_error("float32")
            if error is not None:
                layout, self.layout = self.layout, 0
                try:
                    base = self._probe_error("float32")
                finally:
                    self.layout = layout
                error = error if base is None else None  # failing at layout 0 too: a bug, let the cases say it
            self._layout_reason = None if error is None else f"{self.framework} refuses layout=1: {error}"
        return self._layout_reason

    def evaluate(self, built: OnnxLSTM) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
        """The graph's outputs y, h_n, c_n."""
        raise NotImplementedError

    def run_variant(self, inputs, params, variant):
        why = self.why_not(variant)
        if why:  # supports() keeps the runner away; a direct call must not run a silently ignored attribute
            raise ValueError(f"{self.name} cannot run variant {variant}: {why}")
        built = build(self.spec, inputs, params, variant, opset=self.opset, layout=self.layout)
        return built.outputs(*self.evaluate(built))

    def run(self, x, h0, c0, params):
        out = self.run_variant({"x": x, "h0": h0, "c0": c0}, params, {})
        return out["y"], out["h_n"], out["c_n"]
