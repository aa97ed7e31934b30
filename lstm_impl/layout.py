"""Canonical parameter names and the fused internal layout.

Canonical dict: W_k (H, I), U_k (H, P), b_k (H,) for gates k in i, f, g, o
(P = H unless the variant sets ``proj_size``), plus the cell features' own
parameters (:func:`cell_param_names`): p_k (H,), ln_k (H,), W_proj (P, H),
b_proj (P,).

Stacked and bidirectional models (L layers, D directions) hold one such set per
cell, a cell being one (layer, direction) pair; :func:`cell_suffix` names them.
Layer 0's forward direction keeps the plain names, layer k >= 1 adds ``_l{k}``,
the reverse direction of a bidirectional model adds ``_reverse`` after that
(``U_f_l1_reverse``); a reverse-only model uses the plain names.  The input of
layer k >= 1 is the previous layer's output, so its ``W_k`` is (H, D*P).

Fused layout used by the kernel ("feature-major"): the four gates stacked
along the first axis in the order ``FUSED_ORDER = (i, f, o, g)``::

    W_aug (4H, I + 1) = [s W_i, s b_i; s W_f, s b_f; s W_o, s b_o; W_g, b_g]
    U_all (4H, P)     = [s U_i; s U_f; s U_o; U_g]

(the bias is W_aug's last column, met by a column of ones appended to the
inputs, so the input-projection GEMM adds it for free), and the per-step
pre-activations ``U_all @ h^T`` come out as a (4H, B) array
whose three sigmoid gates are the one contiguous block ``[:3H]`` and whose
candidate ``g`` is ``[3H:]``.  ``s`` is the sigmoid pre-scale chosen by the
activation kernel (-1 or 1/2, see ``activations.SIGMOID_SCALE``): a power of
two, so the scaled GEMMs round exactly as the unscaled ones would.
"""
from __future__ import annotations

import numpy as np

GATES: tuple[str, ...] = ("i", "f", "g", "o")
PARAM_NAMES: tuple[str, ...] = tuple(
    f"{role}_{k}" for role in ("W", "U", "b") for k in GATES
)
FUSED_ORDER: tuple[str, ...] = ("i", "f", "o", "g")


def cell_suffix(layer: int, direction: int, bidirectional: bool) -> str:
    """The name suffix of cell (layer, direction): "", "_l2", "_reverse", "_l1_reverse".

    ``direction`` is 0 (forward, or the only direction) or 1 (the reverse
    direction of a bidirectional model).
    """
    return (f"_l{layer}" if layer else "") + ("_reverse" if bidirectional and direction else "")


PEEPHOLE_NAMES: tuple[str, ...] = ("p_i", "p_f", "p_o")
LAYER_NORM_NAMES: tuple[str, ...] = tuple(f"ln_{k}" for k in GATES)
CIFG_ABSENT: frozenset[str] = frozenset({"W_i", "U_i", "b_i", "p_i", "ln_i"})


def cell_param_names(variant: dict | None = None) -> tuple[str, ...]:
    """One cell's canonical names under a variant: PARAM_NAMES, then p_i, p_f, p_o with peepholes, ln_i,
    ln_f, ln_g, ln_o with layer norm, W_proj with proj_size and b_proj with proj_bias; without the input
    gate's under coupling "cifg"."""
    variant = variant or {}
    names = PARAM_NAMES + (PEEPHOLE_NAMES if variant.get("peephole") else ()) \
        + (LAYER_NORM_NAMES if variant.get("layer_norm") else ()) \
        + (("W_proj",) if "proj_size" in variant else ()) + (("b_proj",) if variant.get("proj_bias") else ())
    if variant.get("coupling") == "cifg":
        names = tuple(n for n in names if n not in CIFG_ABSENT)
    return names


def param_names(num_layers: int = 1, bidirectional: bool = False, variant: dict | None = None) -> tuple[str, ...]:
    """All canonical names, cell by cell (index layer*D + direction), each as cell_param_names(variant)."""
    d = 2 if bidirectional else 1
    return tuple(
        name + cell_suffix(layer, direction, bidirectional)
        for layer in range(num_layers)
        for direction in range(d)
        for name in cell_param_names(variant)
    )


def pack_params(
    params: dict[str, np.ndarray], dtype: np.dtype, sigmoid_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(W_aug (4H, I + 1), U_all (4H, P))`` in the fused layout, C-contiguous.

    The i, f, o blocks are multiplied by ``sigmoid_scale`` (-1, 1/2 or 1).
    """
    scale = {"i": sigmoid_scale, "f": sigmoid_scale, "o": sigmoid_scale, "g": 1.0}
    if "W_i" not in params:  # coupling "cifg": no input gate; its block is never read
        like = {"W": params["W_f"], "U": params["U_f"], "b": params["b_f"]}
        params = {**params, **{f"{r}_i": np.zeros_like(a) for r, a in like.items()}}
    # Cast first, then scale: halving a float16 value could lose a bit, a float32 one cannot.
    w_aug = np.concatenate(
        [scale[k] * np.column_stack([params[f"W_{k}"], params[f"b_{k}"]]).astype(dtype)
         for k in FUSED_ORDER],
        axis=0,
    )  # (4H, I + 1)
    u_all = np.concatenate(
        [scale[k] * params[f"U_{k}"].astype(dtype) for k in FUSED_ORDER], axis=0
    )  # (4H, P)
    return np.ascontiguousarray(w_aug), np.ascontiguousarray(u_all)
