"""Cell features: peepholes, coupled gates and clipping, and the kernel that runs them.

``peephole``
    i and f add ``p_i * c_prev`` and ``p_f * c_prev`` to their pre-activations,
    o adds ``p_o * c_t`` (the new cell); p_k are (H,) per cell.
``coupling``
    ``"input_forget"``: f = 1 - i (the forget gate's parameters are kept and
    unused, as ONNX Runtime keeps them); ``"cifg"``: i = 1 - f, and the input
    gate has no parameters (TFLite).
``clip``
    ``{"convention": C, "threshold": t}`` clips to [-t, t]: the four gate
    pre-activations (``"gate_preactivations"``, ONNX Runtime), those and the
    argument of h's tanh (``"activation_inputs"``, the ONNX operator text), or
    the stored cell state (``"cell_state"``, TF/TFLite cell_clip).

The base LSTM keeps the fused kernel (kernel.py) untouched.  A model with any
of these features runs this plainer per-step kernel instead: unscaled fused
weights (i, f, o, g), the stable exp-form sigmoid, and the features applied
where they act; o is computed after the new cell, which its peephole reads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import sigmoid

#: The cell features of a variant, with the values lstm_impl accepts.
CELL_KEYS = ("peephole", "coupling", "clip")
COUPLINGS = ("input_forget", "cifg")
CLIP_CONVENTIONS = ("gate_preactivations", "activation_inputs", "cell_state")


@dataclass(frozen=True)
class CellFeatures:
    """What one cell runs besides the base LSTM: its peephole weights (each (H, 1), feature-major) and the
    model's coupling and clip."""

    peephole: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (p_i, p_f, p_o), p_i zeros under cifg
    coupling: str | None
    clip: str | None
    threshold: float


def has_cell_features(variant: dict) -> bool:
    return any(k in variant for k in CELL_KEYS)


def cell_features(variant: dict, params: dict[str, np.ndarray], suffix: str, dtype: np.dtype) -> CellFeatures:
    """One cell's features from the canonical variant and parameter dict (names with `suffix`)."""
    peep = None
    if variant.get("peephole"):
        def p(k: str) -> np.ndarray:
            name = f"p_{k}{suffix}"
            v = params[name] if name in params else np.zeros_like(params[f"p_f{suffix}"])
            return np.ascontiguousarray(np.asarray(v, dtype=dtype)[:, None])  # (H, 1)
        peep = (p("i"), p("f"), p("o"))
    clip = variant.get("clip") or {}
    return CellFeatures(peep, variant.get("coupling"), clip.get("convention"), float(clip.get("threshold", 0.0)))


def run_sequence_features(
    w_aug: np.ndarray, u_all: np.ndarray, feats: CellFeatures, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence with cell features, in the dtype of ``w_aug`` (unscaled, gates i, f, o, g).

    x3 (T, B, I); h0, c0 (B, H).  Returns y (T, B, H), h_n (B, H), c_n (B, H), newly allocated.
    """
    t_len, b, i_sz = x3.shape
    h_sz = u_all.shape[1]
    cd = w_aug.dtype
    y = np.empty((t_len, b, h_sz), dtype=cd)  # (T, B, H)
    c = np.array(c0.T, dtype=cd, order="C")  # (H, B)
    h = np.array(h0.T, dtype=cd, order="C")  # (H, B)
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    t_clip = cd.type(feats.threshold)
    clip_gates = feats.clip in ("gate_preactivations", "activation_inputs")
    with np.errstate(under="ignore"):
        x_aug = np.empty((t_len * b, i_sz + 1), dtype=cd)  # (T*B, I + 1)
        x_aug.reshape(t_len, b, i_sz + 1)[:, :, :i_sz] = x3
        x_aug[:, i_sz] = 1.0
        xp = np.matmul(w_aug, x_aug.T).reshape(4 * h_sz, t_len, b)  # (4H, T, B): W x + b, gates i, f, o, g
        del x_aug
        for t in range(t_len):
            a = np.matmul(u_all, h) + xp[:, t]  # (4H, B) pre-activations
            a_i, a_f, a_o, a_g = (a[k * h_sz:(k + 1) * h_sz] for k in range(4))  # (H, B) views
            if feats.peephole is not None:
                a_i += feats.peephole[0] * c
                a_f += feats.peephole[1] * c
            if clip_gates:  # o is clipped below, after its peephole term
                for block in (a_i, a_f, a_g):
                    np.clip(block, -t_clip, t_clip, out=block)
            i = sigmoid(a_i)
            f = sigmoid(a_f)
            if feats.coupling == "input_forget":
                f = 1.0 - i
            elif feats.coupling == "cifg":
                i = 1.0 - f
            c = f * c + i * np.tanh(a_g)  # (H, B)
            if feats.clip == "cell_state":
                np.clip(c, -t_clip, t_clip, out=c)
            if feats.peephole is not None:
                a_o += feats.peephole[2] * c
            if clip_gates:
                np.clip(a_o, -t_clip, t_clip, out=a_o)
            arg = np.clip(c, -t_clip, t_clip) if feats.clip == "activation_inputs" else c
            h = sigmoid(a_o) * np.tanh(arg)  # (H, B)
            y[t] = h.T
    return y, y[t_len - 1].copy(), np.ascontiguousarray(c.T)
