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
``activations``, ``peephole``, ``coupling``, ``layer_norm``, ``clip``,
``proj_size``, ``proj_bias``, ``proj_clip``
    The cell features (features.py): ``{"gate": A, "cell_input": A,
    "cell_output": A}`` with ``A = {"name": an ONNX activation, "alpha": x,
    "beta": y}`` (0 for a number the function does not take; bidirectional:
    also a list of two such objects, forward first); ``True``;
    ``"input_forget"`` or ``"cifg"``; ``True``; ``{"convention": ...,
    "threshold": t}``; an int P >= 1; ``True``; a number > 0 (the last two
    require ``proj_size``).
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from .activations import ACTIVATION_TAKES
from .features import ACTIVATION_SLOTS, BASE_ACTIVATIONS, CLIP_CONVENTIONS, COUPLINGS

#: The keys a variant may hold, with the values lstm_impl accepts for each.
VARIANT_KEYS: dict[str, str] = {
    "direction": "'reverse' or 'bidirectional'",
    "num_layers": "an int >= 2",
    "lengths": "'zero_fill'",
    "empty_rows": "'zeros'",
    "activations": "{'gate': A, 'cell_input': A, 'cell_output': A} with A = {'name': an ONNX activation name, "
                   "'alpha': a number, 'beta': a number}, or (direction 'bidirectional') a list of two such "
                   "objects, forward first",
    "peephole": "True",
    "coupling": "'input_forget' or 'cifg'",
    "layer_norm": "True",
    "clip": "{'convention': 'gate_preactivations', 'activation_inputs' or 'cell_state', 'threshold': a number > 0}",
    "proj_size": "an int >= 1",
    "proj_bias": "True (requires 'proj_size')",
    "proj_clip": "a finite number > 0 (requires 'proj_size')",
}

#: Keys that are only meaningful with another key set.
REQUIRES: dict[str, str] = {"proj_bias": "proj_size", "proj_clip": "proj_size"}


def check_variant(variant: Any, name: str = "variant") -> dict[str, Any]:
    """Return ``variant`` as a new canonical dict; raise on anything else.

    ``None`` means the base LSTM (``{}``).  Not a mapping: ``TypeError``; an
    unknown key, a default written out or a value lstm_impl does not implement:
    ``ValueError``; ``num_layers`` or ``proj_size`` not an int (bools are
    not): ``TypeError``.
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
        if key in ("peephole", "layer_norm", "proj_bias"):
            if value is not True:
                raise ValueError(f"{where}, but should be True (leave {key!r} out for none)")
            out[key] = True
            continue
        if key == "clip":
            out[key] = _check_clip(value, where)
            continue
        if key == "activations":
            out[key] = _check_activations(value, f"{name}[{key!r}]", variant.get("direction"))
            continue
        if key == "proj_size":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{where} ({type(value).__name__}), but should be an int >= 1")
            if value < 1:
                raise ValueError(f"{where}, but should be an int >= 1")
            out[key] = int(value)
            continue
        if key == "proj_clip":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                    or not np.isfinite(value) or not value > 0:
                raise ValueError(f"{where}, but should be a finite number > 0")
            out[key] = float(value)
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
    for key, needed in REQUIRES.items():
        if key in out and needed not in out:
            raise ValueError(
                f"{name}[{key!r}]={variant[key]!r} requires {needed!r}, which the variant does not set"
            )
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


def _check_activations(value: Any, where: str, direction: Any) -> Any:
    """{'gate': A, 'cell_input': A, 'cell_output': A}, not the base LSTM's; or, bidirectional, a list of two
    such objects (one per direction, forward first), not equal."""
    if isinstance(value, (list, tuple)):
        if direction != "bidirectional":
            raise ValueError(
                f"{where} is a list, but a list (one object per direction) needs direction "
                f"'bidirectional' (direction={direction!r}): give one object"
            )
        if len(value) != 2:
            raise ValueError(
                f"{where} lists {len(value)} object(s), but should list two, one per direction "
                f"(forward first)"
            )
        runs = [_check_activation_slots(v, f"{where}[{k}]") for k, v in enumerate(value)]
        if runs[0] == runs[1]:
            raise ValueError(f"{where} lists the same activations for both directions: write it once")
        return runs
    out = _check_activation_slots(value, where)
    if out == BASE_ACTIVATIONS:
        raise ValueError(
            f"{where} is the default (Sigmoid, Tanh, Tanh), but a variant holds only what differs from "
            f"the base LSTM: leave 'activations' out"
        )
    return out


def _check_activation_slots(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or set(value) != set(ACTIVATION_SLOTS):
        raise ValueError(
            f"{where}={value!r}, but should be {{'gate': A, 'cell_input': A, 'cell_output': A}} "
            f"(A = {{'name': ..., 'alpha': ..., 'beta': ...}})"
        )
    return {slot: _check_activation(value[slot], f"{where}[{slot!r}]") for slot in ACTIVATION_SLOTS}


def _check_activation(value: Any, where: str) -> dict[str, Any]:
    """{'name': an ONNX activation, 'alpha': x, 'beta': y}, finite numbers, 0 for a number it does not take."""
    if not isinstance(value, Mapping) or set(value) != {"name", "alpha", "beta"}:
        raise ValueError(f"{where}={value!r}, but should be {{'name': ..., 'alpha': ..., 'beta': ...}}")
    name = value["name"]
    if not isinstance(name, str) or name not in ACTIVATION_TAKES:
        raise ValueError(
            f"{where}['name']={name!r}, but should be one of {', '.join(ACTIVATION_TAKES)}"
        )
    out: dict[str, Any] = {"name": name}
    for number in ("alpha", "beta"):
        v = value[number]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise ValueError(f"{where}[{number!r}]={v!r}, but should be a finite number")
        if number not in ACTIVATION_TAKES[name] and v != 0:
            takes = " and ".join(ACTIVATION_TAKES[name]) or "no number"
            raise ValueError(
                f"{where}[{number!r}]={v!r}, but {name} takes no {number} ({name} takes {takes}): write 0"
            )
        out[number] = float(v)
    return out
