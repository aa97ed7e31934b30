"""Cell features, and the kernel that runs them.

``activations``
    ``{"gate": A, "cell_input": A, "cell_output": A}``, each ``A = {"name":
    an ONNX activation, "alpha": x, "beta": y}`` (activations.py): ``gate``
    for i, f and o, ``cell_input`` for g, ``cell_output`` for h = o *
    cell_output(c).  A bidirectional model may give a list of two, forward
    direction first.
``peephole``
    i and f add ``p_i * c_prev`` and ``p_f * c_prev`` to their pre-activations,
    o adds ``p_o * c_t`` (the new cell); p_k are (H,) per cell.
``coupling``
    ``"input_forget"``: f = 1 - i (the forget gate's parameters are kept and
    unused, as ONNX Runtime keeps them); ``"cifg"``: i = 1 - f, and the input
    gate has no parameters (TFLite).
``layer_norm``
    Each gate's z = W x + U h (with its peephole term) is normalised over the
    H units of each batch row (population variance, epsilon 1e-8 inside the
    square root), scaled per unit by ``ln_k`` (H,), and only then is ``b_k``
    added (TFLite).  c is not normalised.
``clip``
    ``{"convention": C, "threshold": t}`` clips to [-t, t]: the four gate
    pre-activations (``"gate_preactivations"``, ONNX Runtime), those and the
    argument of h's activation (``"activation_inputs"``, the ONNX operator
    text), or the stored cell state (``"cell_state"``, TF/TFLite cell_clip).
``proj_size``, ``proj_bias``, ``proj_clip``
    h = clip(W_proj (o * cell_output(c)) + b_proj, -proj_clip, proj_clip):
    W_proj (P, H), b_proj (P,); h (and h0, y, h_n) is P wide, U_k (H, P), c
    stays H wide (torch's proj_size; TFLite's projection with bias and clip).

Order inside one step: z (with peephole terms) -> layer norm (in place of
z + b) -> gate clip -> activations -> coupling -> c -> cell clip -> o (its
peephole reads the new, clipped c) -> h = o * cell_output(a_h), a_h clipped
under "activation_inputs" -> projection, its bias and its clip.

The base LSTM keeps the fused kernel (kernel.py) untouched.  A model with any
of these features runs this plainer per-step kernel instead: unscaled fused
weights (i, f, o, g), the stable exp-form sigmoid, and the features applied
where they act; o is computed after the new cell, which its peephole reads.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import activation, sigmoid

#: The cell features of a variant, with the values lstm_impl accepts.
CELL_KEYS = ("activations", "peephole", "coupling", "layer_norm", "clip", "proj_size", "proj_bias", "proj_clip")
COUPLINGS = ("input_forget", "cifg")
CLIP_CONVENTIONS = ("gate_preactivations", "activation_inputs", "cell_state")
#: The fields of ``activations`` and the base LSTM's value of it (which a variant may not write out).
ACTIVATION_SLOTS = ("gate", "cell_input", "cell_output")
BASE_ACTIVATIONS = {
    "gate": {"name": "Sigmoid", "alpha": 0.0, "beta": 0.0},
    "cell_input": {"name": "Tanh", "alpha": 0.0, "beta": 0.0},
    "cell_output": {"name": "Tanh", "alpha": 0.0, "beta": 0.0},
}
#: Layer norm's epsilon, added to the variance inside the square root (TFLite's).
LN_EPSILON = 1.0e-8

Activation = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CellFeatures:
    """What one cell runs besides the base LSTM; every array feature-major ((H, 1), (P, H), (P, 1)) in the
    compute dtype."""

    peephole: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (p_i, p_f, p_o), p_i zeros under cifg
    coupling: str | None
    clip: str | None
    threshold: float
    acts: tuple[Activation, Activation, Activation] | None = None  # (gate, cell_input, cell_output)
    layer_norm: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # (ln_i, ln_f, ln_o, ln_g)
    bias: np.ndarray | None = None  # (4H, 1), gates i, f, o, g: added after the layer norm
    w_proj: np.ndarray | None = None  # (P, H)
    b_proj: np.ndarray | None = None  # (P, 1)
    proj_clip: float | None = None


def has_cell_features(variant: dict) -> bool:
    return any(k in variant for k in CELL_KEYS)


def cell_features(variant: dict, params: dict[str, np.ndarray], suffix: str, dtype: np.dtype) -> CellFeatures:
    """One cell's features from the canonical variant and parameter dict (names with `suffix`).

    Under ``layer_norm`` the biases are returned here (``bias``), to be added after the normalisation:
    the caller packs the cell's weights with zero biases.
    """
    def vec(name: str, like: str) -> np.ndarray:  # (H,) -> (H, 1); zeros for cifg's absent input gate
        v = params[name + suffix] if name + suffix in params else np.zeros_like(params[like + suffix])
        return np.ascontiguousarray(np.asarray(v, dtype=dtype)[:, None])

    peep = (vec("p_i", "p_f"), vec("p_f", "p_f"), vec("p_o", "p_f")) if variant.get("peephole") else None
    clip = variant.get("clip") or {}
    acts = None
    if "activations" in variant:
        spec = variant["activations"]
        if isinstance(spec, list):  # one per direction of a bidirectional model, forward first
            spec = spec[1 if suffix.endswith("_reverse") else 0]
        acts = tuple(activation(spec[s]["name"], spec[s]["alpha"], spec[s]["beta"]) for s in ACTIVATION_SLOTS)
    ln = bias = None
    if variant.get("layer_norm"):
        ln = (vec("ln_i", "ln_f"), vec("ln_f", "ln_f"), vec("ln_o", "ln_f"), vec("ln_g", "ln_f"))
        bias = np.ascontiguousarray(np.concatenate([vec(f"b_{k}", "b_f") for k in "ifog"], axis=0))  # (4H, 1)
    w_proj = b_proj = None
    if "proj_size" in variant:
        w_proj = np.ascontiguousarray(np.asarray(params["W_proj" + suffix], dtype=dtype))  # (P, H)
        if variant.get("proj_bias"):
            b_proj = np.ascontiguousarray(np.asarray(params["b_proj" + suffix], dtype=dtype)[:, None])  # (P, 1)
    return CellFeatures(peep, variant.get("coupling"), clip.get("convention"), float(clip.get("threshold", 0.0)),
                        acts, ln, bias, w_proj, b_proj, variant.get("proj_clip"))


def layer_norm(z: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``scale * (z - mean(z)) / sqrt(var(z) + 1e-8) + bias`` over the units (axis 0) of each column.

    z (H, B); scale, bias (H, 1); population variance.  No overflow at any finite z: a column whose
    largest |z| could overflow the squares is first divided by it (exact rescaling of the ratio; the
    epsilon is divided by its square), other columns are computed as written.  Returns a new (H, B) array.
    """
    h_sz = z.shape[0]
    cd = z.dtype
    limit = 0.25 * np.sqrt(np.finfo(cd).max / h_sz)  # |z| <= limit: sums and squares stay finite
    s = np.max(np.abs(z), axis=0, keepdims=True)  # (1, B)
    big = s > limit
    if np.any(big):
        s = np.where(big, s, cd.type(1.0))  # (1, B)
        zs = z / s  # (H, B), |zs| <= 1 in the rescaled columns
        eps = (cd.type(LN_EPSILON) / s) / s  # (1, B); underflows to 0 where s is huge
    else:
        zs, eps = z, cd.type(LN_EPSILON)
    d = zs - np.mean(zs, axis=0, keepdims=True)  # (H, B)
    var = np.mean(d * d, axis=0, keepdims=True)  # (1, B)
    d /= np.sqrt(var + eps)
    d *= scale
    d += bias
    return d


def run_sequence_features(
    w_aug: np.ndarray, u_all: np.ndarray, feats: CellFeatures, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence with cell features, in the dtype of ``w_aug`` (unscaled, gates i, f, o, g).

    w_aug (4H, I + 1) (zero bias column under layer norm), u_all (4H, P) (P = H without projection);
    x3 (T, B, I); h0 (B, P), c0 (B, H).  Returns y (T, B, P), h_n (B, P), c_n (B, H), newly allocated.
    """
    t_len, b, i_sz = x3.shape
    h_sz, p_sz = u_all.shape[0] // 4, u_all.shape[1]
    cd = w_aug.dtype
    y = np.empty((t_len, b, p_sz), dtype=cd)  # (T, B, P)
    c = np.array(c0.T, dtype=cd, order="C")  # (H, B)
    h = np.array(h0.T, dtype=cd, order="C")  # (P, B)
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    t_clip = cd.type(feats.threshold)
    clip_gates = feats.clip in ("gate_preactivations", "activation_inputs")
    gate_act, cell_in_act, cell_out_act = feats.acts or (sigmoid, np.tanh, np.tanh)
    ln = feats.layer_norm
    bias = None if feats.bias is None else [feats.bias[k * h_sz:(k + 1) * h_sz] for k in range(4)]  # (H, 1) each
    p_clip = None if feats.proj_clip is None else cd.type(feats.proj_clip)
    with np.errstate(under="ignore"):
        x_aug = np.empty((t_len * b, i_sz + 1), dtype=cd)  # (T*B, I + 1)
        x_aug.reshape(t_len, b, i_sz + 1)[:, :, :i_sz] = x3
        x_aug[:, i_sz] = 1.0
        xp = np.matmul(w_aug, x_aug.T).reshape(4 * h_sz, t_len, b)  # (4H, T, B): W x (+ b), gates i, f, o, g
        del x_aug
        for t in range(t_len):
            a = np.matmul(u_all, h) + xp[:, t]  # (4H, B): z (+ b without layer norm)
            a_i, a_f, a_o, a_g = (a[k * h_sz:(k + 1) * h_sz] for k in range(4))  # (H, B) views
            if feats.peephole is not None:
                a_i += feats.peephole[0] * c
                a_f += feats.peephole[1] * c
            if ln is not None:  # a = ln * normalised(z) + b, in place of z + b
                a_i[...] = layer_norm(a_i, ln[0], bias[0])
                a_f[...] = layer_norm(a_f, ln[1], bias[1])
                a_g[...] = layer_norm(a_g, ln[3], bias[3])
            if clip_gates:  # o is clipped below, after its peephole term
                for block in (a_i, a_f, a_g):
                    np.clip(block, -t_clip, t_clip, out=block)
            i = gate_act(a_i)  # (H, B)
            f = gate_act(a_f)  # (H, B)
            if feats.coupling == "input_forget":
                f = 1.0 - i
            elif feats.coupling == "cifg":
                i = 1.0 - f
            c = f * c + i * cell_in_act(a_g)  # (H, B)
            if feats.clip == "cell_state":
                np.clip(c, -t_clip, t_clip, out=c)
            if feats.peephole is not None:
                a_o += feats.peephole[2] * c
            if ln is not None:
                a_o[...] = layer_norm(a_o, ln[2], bias[2])
            if clip_gates:
                np.clip(a_o, -t_clip, t_clip, out=a_o)
            arg = np.clip(c, -t_clip, t_clip) if feats.clip == "activation_inputs" else c  # a_h (H, B)
            h = gate_act(a_o) * cell_out_act(arg)  # (H, B)
            if feats.w_proj is not None:
                h = np.matmul(feats.w_proj, h)  # (P, B)
                if feats.b_proj is not None:
                    h += feats.b_proj
                if p_clip is not None:
                    np.clip(h, -p_clip, p_clip, out=h)
            y[t] = h.T  # (B, P)
    return y, y[t_len - 1].copy(), np.ascontiguousarray(c.T)
