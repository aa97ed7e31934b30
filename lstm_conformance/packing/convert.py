"""Convert canonical parameters to and from any packing in the spec's `packings:` section.

One generic converter: it walks the blocks that packings.py parsed from the spec,
so a framework's gate order, transposes, bias split and run-time constants all
come from spec/lstm.yaml.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..packing.packings import Block, Extra, Packing, Param, block_shape, fits, leaves
from ..spec.cell import all_feature_parameters
from ..spec.loader import Spec, dim_products, dim_terms, eval_dim


class ConversionError(ValueError):
    """Arrays that do not fit the packing they are converted from or to."""


def get_packing(spec: Spec, name: str) -> Packing:
    if name not in spec.packings:
        raise ConversionError(f"packing={name!r}, but the spec defines {sorted(spec.packings)}")
    return spec.packings[name]


def to_packing(spec: Spec, packing: str, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Canonical parameters -> the packing's tensors, in the parameters' dtype."""
    lay = get_packing(spec, packing)
    missing = [p for p in spec.parameter_names if p not in params]
    if missing:
        raise ConversionError(f"params lack {missing} (converting to packing {packing!r})")
    # the framework adds the run-time constants back
    arrays = without_run_time_constants(lay, {p: np.asarray(params[p]) for p in spec.parameter_names})
    dims = infer_dims(spec, {("parameters", p): a.shape for p, a in arrays.items()})
    out = {}
    for name, tensor in lay.tensors.items():
        if tensor.when is not None:  # a cell feature's tensor: there when its parameters are
            held = [leaf.name for leaf, _ in leaves(tensor.block)]
            given = [p for p in held if p in params]
            if not given:
                continue
            if len(given) != len(held):
                raise ConversionError(f"params hold {given} but not {sorted(set(held) - set(given))} of tensor "
                                      f"{name!r} (packing {packing!r}, when {tensor.when})")
            arrays = {**arrays, **{p: np.asarray(params[p]) for p in held}}
        built = _build(tensor.block, arrays)
        shape = tuple(eval_dim(s, dims) for s in tensor.shape)
        out[name] = np.ascontiguousarray(built.reshape(shape))  # only unit axes differ (checked at load)
    return out


def without_run_time_constants(lay: Packing, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``params`` less the constants packing ``lay`` adds at run time (TF1's forget bias), dtypes kept."""
    consts = lay.adds_at_run_time
    return {n: (a - np.asarray(consts[n], dtype=a.dtype) if n in consts else a) for n, a in params.items()}


def from_packing(spec: Spec, packing: str, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The packing's tensors -> canonical parameters; `extra` copies are summed in."""
    lay = get_packing(spec, packing)
    missing = [t for t, tensor in lay.tensors.items() if t not in tensors and tensor.when is None]
    if missing:
        raise ConversionError(f"packing {packing!r} needs tensors {missing}; got {sorted(tensors)}")
    present = {t: tensor for t, tensor in lay.tensors.items() if t in tensors}
    arrays = {t: np.asarray(tensors[t]) for t in present}
    dims = infer_dims(spec, {("tensor", t): a.shape for t, a in arrays.items() if present[t].when is None}, lay)
    shapes = {**spec.data["parameters"], **all_feature_parameters(spec)}

    def param_shape(p: str) -> tuple[int, ...]:
        return tuple(eval_dim(s, dims) for s in shapes[p]["shape"])

    params: dict[str, np.ndarray] = {}
    extras: list[tuple[str, np.ndarray]] = []
    for name, tensor in present.items():
        want = block_shape(tensor.block, param_shape)
        a = arrays[name]
        if not fits(a.shape, want) or a.size != int(np.prod(want)):
            raise ConversionError(f"{packing}.{name}.shape={a.shape}, but should be "
                                  f"{tuple(eval_dim(s, dims) for s in tensor.shape)} for dims {dims}")
        _scatter(tensor.block, a.reshape(want), param_shape, params, extras, False)
    for p, value in extras:
        params[p] = params[p] + value
    for p, const in lay.adds_at_run_time.items():
        params[p] = params[p] + np.asarray(const, dtype=params[p].dtype)
    features = [p for p in params if p not in spec.parameter_names]  # from the `when` tensors given
    return {p: np.ascontiguousarray(params[p]) for p in list(spec.parameter_names) + features}


def _build(block: Block, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(block, Param):
        a = arrays[block.name]
        return a.T if block.transpose else a
    if isinstance(block, Extra):
        return np.zeros_like(_build(block.block, arrays))
    return np.concatenate([_build(p, arrays) for p in block.parts], axis=block.axis)


def _scatter(block: Block, a: np.ndarray, param_shape, params: dict, extras: list, extra: bool) -> None:
    if isinstance(block, Param):
        value = a.T if block.transpose else a
        (extras.append((block.name, value)) if extra else params.__setitem__(block.name, value))
        return
    if isinstance(block, Extra):
        _scatter(block.block, a, param_shape, params, extras, True)
        return
    sizes = [block_shape(p, param_shape)[block.axis] for p in block.parts]
    for part, piece in zip(block.parts, np.split(a, np.cumsum(sizes)[:-1], axis=block.axis)):
        _scatter(part, piece, param_shape, params, extras, extra)


def infer_dims(spec: Spec, shapes: Mapping[tuple[str, str], tuple[int, ...]], packing: Packing | None = None) -> dict[str, int]:
    """Solve the spec's dimensions from array shapes.

    `shapes` maps ("parameters", name) or ("tensor", name) to a shape. Each
    dimension takes the value most arrays agree on; entries like "4 * H" or
    "I + H" are solved once all but one of their dimensions are known. An array
    that disagrees is named, with the shape it should have.
    """
    equations: list[tuple[list[tuple[int, str | None]], int, str]] = []
    where_of: dict[str, str] = {}
    declared_of: dict[str, Sequence[str | int]] = {}
    for (kind, name), shape in shapes.items():
        declared = spec.data["parameters"][name]["shape"] if kind == "parameters" else packing.tensors[name].shape
        label = f"params[{name!r}]" if kind == "parameters" else f"{packing.name}.{name}"
        where_of[label] = f"{label}.shape={tuple(shape)}"
        declared_of[label] = declared
        if len(shape) != len(declared):
            # ONNX-style unit axes: match the non-unit declared entries to the non-unit actual ones
            declared = [d for d in declared if d != 1]
            shape = tuple(s for s in shape if s != 1) if len(shape) != len(declared) else shape
        if len(shape) != len(declared):
            raise ConversionError(f"{where_of[label]}, but should have {len(declared)} axes {list(declared)}")
        for d, n in zip(declared, shape):
            equations.append((dim_terms(d), int(n), label))
    dims: dict[str, int] = {}
    while True:
        votes: dict[str, list[int]] = {}
        for terms, n, _ in equations:
            unknown = {name for _, name in terms if name is not None and name not in dims}
            if len(unknown) != 1:
                continue
            (u,) = unknown
            coef = sum(c for c, name in terms if name == u)
            rest = sum(c * (1 if name is None else dims[name]) for c, name in terms if name != u)
            if (n - rest) % coef == 0 and n - rest >= 0:
                votes.setdefault(u, []).append((n - rest) // coef)
        if not votes:
            defaulted = {n: e["default"] for n, e in spec.data["dimensions"].items()
                         if "default" in e and n not in dims and n in {name for t, _, _ in equations for _, name in t}}
            solvable = {n: d for n, d in defaulted.items() if all(x in dims for _, xs in dim_products(d) for x in xs)}
            if not solvable:
                break
            dims.update({n: eval_dim(d, dims) for n, d in solvable.items()})  # P + I with P unknown: P = H
            continue
        for u, values in votes.items():
            dims[u] = max(set(values), key=values.count)  # the value most arrays agree on
    bad = set()
    for terms, n, label in equations:
        unsolved = any(name is not None and name not in dims for _, name in terms)
        if unsolved or sum(c * (1 if name is None else dims[name]) for c, name in terms) != n:
            bad.add(label)
    if bad:
        labels = sorted(bad)
        raise ConversionError("; ".join(f"{where_of[lab]}, but should be {_expected_shape(declared_of[lab], dims)}"
                                        for lab in labels[:3]) + f" (dims {dims}, from the other arrays)")
    return dims


def _expected_shape(declared: Sequence[str | int], dims: dict[str, int]) -> str:
    try:
        return str(tuple(eval_dim(d, dims) for d in declared))
    except KeyError:
        return str(list(declared))
