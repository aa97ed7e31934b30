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

Fused layout used by the kernels ("feature-major"): the four gates stacked
along the first axis in the order ``FUSED_ORDER = (i, f, o, g)``, and the
recurrent weights, the input weights and the bias side by side, so that one
GEMM per step computes every pre-activation::

    UW (4H, P + I + 1) = [s U_i, s W_i, s b_i;  s U_f, s W_f, s b_f;
                          s U_o, s W_o, s b_o;    U_g,   W_g,   b_g]

    gates (4H, B) = UW @ [h_{t-1}; x_t; 1]   (the operand (P + I + 1, B), see kernel.StepInputs)

whose three sigmoid gates are the one contiguous block ``[:3H]`` and whose
candidate ``g`` is ``[3H:]``.  ``s`` is the sigmoid pre-scale of the form
(``activations.SIGMOID_SCALE``: -1 for the exp form, 1/2 for the tanh form; 1
where the feature kernel needs ``z`` itself): a power of two, so the scaled GEMM
rounds exactly as the unscaled one would.
"""
from __future__ import annotations

from typing import Any, NamedTuple

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


class Cell(NamedTuple):
    """One (layer, direction) cell as the kernels run it: its fused weights, the sigmoid form they are
    scaled for, the width of its h and, for a model with cell features, its :class:`features.CellFeatures`."""

    uw: np.ndarray  # (4H, P + In + 1), see the module docstring
    # the sigmoid form, "exp" or "tanh" (activations.gate_form), or "own" (a variant's own activations);
    # the base kernel takes uw's i, f, o rows scaled by SIGMOID_SCALE[form], the feature kernel by
    # features.weights_scale (the same, but 1 under layer norm or "own")
    form: str
    p: int  # the width of h (P; H without projection)
    features: Any = None  # CellFeatures or None

    @property
    def h(self) -> int:
        """H, the width of the cell state."""
        return self.uw.shape[0] // 4


def pack_params(params: dict[str, np.ndarray], dtype: np.dtype, sigmoid_scale: float) -> np.ndarray:
    """Return ``UW (4H, P + In + 1) = [U | W | b]`` in the fused layout, C-contiguous.

    The i, f, o blocks are multiplied by ``sigmoid_scale`` (-1, 1/2 or 1).
    """
    scale = {"i": sigmoid_scale, "f": sigmoid_scale, "o": sigmoid_scale, "g": 1.0}
    if "W_i" not in params:  # coupling "cifg": no input gate; its block is never read
        like = {"W": params["W_f"], "U": params["U_f"], "b": params["b_f"]}
        params = {**params, **{f"{r}_i": np.zeros_like(a) for r, a in like.items()}}
    # Cast first, then scale: halving a float16 value could lose a bit, a float32 one cannot.
    uw = np.concatenate(
        [scale[k] * np.column_stack([params[f"U_{k}"], params[f"W_{k}"], params[f"b_{k}"]]).astype(dtype)
         for k in FUSED_ORDER],
        axis=0,
    )  # (4H, P + In + 1)
    return np.ascontiguousarray(uw)
