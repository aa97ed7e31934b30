"""Variants: the features that make a model differ from the base LSTM.

A variant is a dict holding only what differs from the base (one layer, forward
direction, rows of length 0 keep their initial state), so equal variants are
equal dicts: writing a default out (``{"num_layers": 1}``,
``{"direction": "forward"}``) is refused, and so is any key not listed here.

``direction``
    ``"reverse"`` (one direction, reading x_{T-1} .. x_0; plain parameter
    names) or ``"bidirectional"`` (D = 2: a forward and a reverse direction,
    with their own parameters ``..._reverse`` and outputs concatenated,
    forward half first).
``num_layers``
    An int >= 2: layer k reads layer k-1's output (T, B, D*H); no dropout.
``lengths``
    ``"zero_fill"``, the one padding convention lstm_impl implements (and the
    one ``forward_sequence(..., lengths=...)`` always follows, with or without
    this key): y is 0 past a row's length, h_n / c_n are the row's state after
    its last valid step, the reverse direction starts at the row's last valid
    step and padding is never read.  Any other convention raises ValueError.
``empty_rows``
    ``"zeros"``: a row of length 0 returns h_n = c_n = 0 (as ONNX Runtime does)
    instead of its initial state.  With no ``lengths``, every row has length T,
    so this matters only when T == 0.
``peephole``, ``coupling``, ``clip``
    The cell features (features.py): ``True``; ``"input_forget"`` or
    ``"cifg"``; ``{"convention": ..., "threshold": t}``.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from .features import CLIP_CONVENTIONS, COUPLINGS

#: The keys a variant may hold, with the values lstm_impl accepts for each.
VARIANT_KEYS: dict[str, str] = {
    "direction": "'reverse' or 'bidirectional'",
    "num_layers": "an int >= 2",
    "lengths": "'zero_fill'",
    "empty_rows": "'zeros'",
    "peephole": "True",
    "coupling": "'input_forget' or 'cifg'",
    "clip": "{'convention': 'gate_preactivations', 'activation_inputs' or 'cell_state', 'threshold': a number > 0}",
}


def check_variant(variant: Any, name: str = "variant") -> dict[str, Any]:
    """Return ``variant`` as a new canonical dict; raise on anything else.

    ``None`` means the base LSTM (``{}``).  Not a mapping: ``TypeError``; an
    unknown key, a default written out or a value lstm_impl does not implement:
    ``ValueError``; ``num_layers`` not an int (bools are not): ``TypeError``.
    """
    if variant is None:
        return {}
    if not isinstance(variant, Mapping):
        raise TypeError(
            f"{name} is a {type(variant).__name__}, but should be a mapping (dict) or None"
        )
    unknown = sorted(repr(k) for k in variant if k not in VARIANT_KEYS)
    if unknown:
        raise ValueError(
            f"{name} has unknown key(s) {', '.join(unknown)}, but should only hold "
            f"{', '.join(repr(k) for k in VARIANT_KEYS)}"
        )
    out: dict[str, Any] = {}
    for key in VARIANT_KEYS:  # canonical key order
        if key not in variant:
            continue
        value = variant[key]
        where = f"{name}[{key!r}]={value!r}"
        if key == "num_layers":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(
                    f"{where} ({type(value).__name__}), but should be an int >= 2"
                )
            if value == 1:
                raise ValueError(
                    f"{where} is the default, but a variant holds only what differs from "
                    f"the base LSTM: leave 'num_layers' out for one layer"
                )
            if value < 2:
                raise ValueError(f"{where}, but should be an int >= 2")
            out[key] = int(value)
            continue
        if key == "peephole":
            if value is not True:
                raise ValueError(f"{where}, but should be True (leave 'peephole' out for none)")
            out[key] = True
            continue
        if key == "clip":
            out[key] = _check_clip(value, where)
            continue
        if key == "direction" and value == "forward":
            raise ValueError(
                f"{where} is the default, but a variant holds only what differs from "
                f"the base LSTM: leave 'direction' out for the forward direction"
            )
        allowed = {"direction": ("reverse", "bidirectional"), "lengths": ("zero_fill",),
                   "empty_rows": ("zeros",), "coupling": COUPLINGS}[key]
        if not isinstance(value, str) or value not in allowed:
            extra = {
                "lengths": " (the only padding convention lstm_impl implements: y is 0 "
                           "past a row's length, h_n / c_n from its last valid step)",
                "empty_rows": " (the only non-default value; leave 'empty_rows' out for "
                              "rows of length 0 to keep h0 / c0)",
            }.get(key, "")
            raise ValueError(f"{where}, but should be {VARIANT_KEYS[key]}{extra}")
        out[key] = value
    return out


def _check_clip(value: Any, where: str) -> dict[str, Any]:
    """{'convention': C, 'threshold': t} with C one of the three and t a finite number > 0."""
    conventions = CLIP_CONVENTIONS
    if not isinstance(value, Mapping) or set(value) != {"convention", "threshold"}:
        raise ValueError(f"{where}, but should be {{'convention': ..., 'threshold': ...}}")
    if value["convention"] not in conventions:
        raise ValueError(f"{where}: convention should be one of {conventions}")
    t = value["threshold"]
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real) or not np.isfinite(t) or not t > 0:
        raise ValueError(f"{where}: threshold should be a finite number > 0")
    return {"convention": value["convention"], "threshold": float(t)}
