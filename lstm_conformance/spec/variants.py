"""Variants: the features a golden case (or a call to an adapter) sets, checked against the spec's
`features`, and the sequence structure that follows from them (runs per layer, layers, parameter
names, shapes), read from the spec's `structure`. No feature, name or shape is spelled out here.

A variant holds only the features that differ from the base LSTM, in canonical form: a default
written out is refused, so equal variants are equal dicts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..spec.cell import cell_parameters
from ..spec.loader import Spec, eval_dim


class VariantError(ValueError):
    """A variant the spec does not allow: names the feature, the value and what is allowed."""


@dataclass(frozen=True)
class Structure:
    """What a variant makes of the sequence structure."""

    runs: tuple[str, ...]          # the runs of every layer, in output order: ("forward",), ("forward", "reverse")
    layers: int                    # L
    lengths: str | None            # the padding convention, when rows have lengths
    empty_rows: str                # what a row of length 0 returns as its final state

    @property
    def D(self) -> int:  # noqa: N802 - the spec's name
        return len(self.runs)

    @property
    def L(self) -> int:  # noqa: N802
        return self.layers

    @property
    def stacked(self) -> bool:
        """Whether states are (L * D, B, H) rather than (B, H)."""
        return self.layers * len(self.runs) > 1


def features(spec: Spec) -> dict[str, dict]:
    return spec.data["features"]


def check_variant(spec: Spec, variant: Any, where: str = "variant") -> dict:
    """`variant` as a plain dict, or VariantError saying what the spec allows."""
    if not isinstance(variant, Mapping):
        raise VariantError(f"{where}={variant!r}, but should be a mapping of feature -> value")
    declared = features(spec)
    for name, value in variant.items():
        if name not in declared:
            raise VariantError(f"{where}.{name}: unknown feature; the spec declares {sorted(declared)}")
        _check_value(declared[name], value, f"{where}.{name}")
    for name in variant:
        missing = [r for r in declared[name].get("requires", []) if r not in variant]
        if missing:
            raise VariantError(f"{where}.{name}={variant[name]!r} requires {missing}, which the variant does not set")
    return dict(variant)


def _check_value(feature: dict, value: Any, where: str) -> None:
    kind = feature["type"]
    if value == feature.get("default") and type(value) is type(feature.get("default")):
        raise VariantError(f"{where}={value!r} is the default: a variant lists only what differs (leave it out)")
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool) or value < feature.get("min", 0):
            raise VariantError(f"{where}={value!r}, but should be an integer >= {feature.get('min', 0)}")
    elif kind == "string":
        allowed = [v for v in feature["values"] if v != feature.get("default")]
        if value not in allowed:
            raise VariantError(f"{where}={value!r}, but should be one of {allowed}")
    elif kind == "boolean":
        if value is not True:
            raise VariantError(f"{where}={value!r}, but should be true (false is the default: leave it out)")
    elif kind == "object":
        _check_object(feature, value, where)
    else:  # the schema allows no other type
        raise VariantError(f"{where}: the spec declares type {kind!r}, which this harness does not know")


def _check_object(feature: dict, value: Any, where: str) -> None:
    """An object-valued feature: exactly its fields; `convention` one of its values; numbers finite and above
    their `min_exclusive`."""
    import math

    fields = feature["fields"]
    if not isinstance(value, Mapping) or set(value) != set(fields):
        raise VariantError(f"{where}={value!r}, but should be an object with exactly the fields {sorted(fields)}")
    for name, field in fields.items():
        v = value[name]
        if name == "convention":
            if v not in feature["values"]:
                raise VariantError(f"{where}.convention={v!r}, but should be one of {list(feature['values'])}")
        elif field["type"] == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
                    ("min_exclusive" in field and not v > field["min_exclusive"]):
                raise VariantError(f"{where}.{name}={v!r}, but should be a finite number"
                                   + (f" > {field['min_exclusive']}" if "min_exclusive" in field else ""))
        elif not isinstance(v, str):
            raise VariantError(f"{where}.{name}={v!r}, but should be a string")


def structure(spec: Spec, variant: Mapping[str, Any]) -> Structure:
    """The sequence structure of a (checked) variant."""
    variant = check_variant(spec, variant)
    declared = features(spec)
    direction = variant.get("direction", declared["direction"]["default"])
    return Structure(runs=tuple(declared["direction"]["values"][direction]["runs"]),
                     layers=variant.get("num_layers", declared["num_layers"]["default"]),
                     lengths=variant.get("lengths"),
                     empty_rows=variant.get("empty_rows", declared["empty_rows"]["default"]))


def dims_of(st: Structure, dims: Mapping[str, int]) -> dict[str, int]:
    """The case's dimensions with the structure's: D (runs per layer) and L (layers)."""
    return {**dims, "D": st.D, "L": st.L}


def layer_dims(spec: Spec, st: Structure, dims: Mapping[str, int], layer: int) -> dict[str, int]:
    """The dimensions layer `layer` sees: from layer 1 on, its input is the previous layer's y."""
    full = dims_of(st, dims)
    if layer == 0:
        return full
    widths = spec.data["structure"]["layer_input"]
    return {**full, **{name: eval_dim(expr, full) for name, expr in widths.items()}}


def parameter_name(spec: Spec, st: Structure, base: str, layer: int, run: int) -> str:
    """The name of parameter `base` (a name from `parameters`) in layer `layer`, run `run`."""
    names = spec.data["structure"]["names"]
    layer_part = names["layer"].format(layer=layer) if layer else ""
    run_part = names["run"][st.runs[run]] if st.D > 1 else ""
    return names["parameter"].format(name=base, layer=layer_part, run=run_part)


def cell_bases(spec: Spec, variant: Mapping[str, Any]) -> dict[str, dict]:
    """The parameters of one cell (one layer's one run) under `variant`, by their names in `parameters` or
    in a cell feature's `parameters` (W_i ... b_o, p_i, ...): name -> entry (shape, gate, role)."""
    return cell_parameters(spec, variant)


def parameters(spec: Spec, variant: Mapping[str, Any], dims: Mapping[str, int]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (its name in `parameters` or in a feature's, shape) for every parameter of a variant: layer by
    layer, run by run, in the spec's order, then the features'."""
    st = structure(spec, variant)
    bases = cell_bases(spec, variant)
    out = {}
    for layer in range(st.L):
        ldims = layer_dims(spec, st, dims, layer)
        for run in range(st.D):
            for base, entry in bases.items():
                shape = tuple(eval_dim(d, ldims) for d in entry["shape"])
                out[parameter_name(spec, st, base, layer, run)] = (base, shape)
    return out


def cell_params(spec: Spec, variant: Mapping[str, Any], params: Mapping[str, Any], layer: int,
                run: int) -> dict[str, Any]:
    """One layer's one run's parameters under their cell names (W_i ... b_o, and a feature's, e.g. p_i), e.g.
    to pack them with a framework's packing and rename its tensors for that layer and run."""
    st = structure(spec, variant)
    return {base: params[parameter_name(spec, st, base, layer, run)] for base in cell_bases(spec, variant)}


def parameter_names(spec: Spec, variant: Mapping[str, Any]) -> list[str]:
    """Every parameter a variant has, layer by layer, run by run, in the spec's order, then the features'."""
    st = structure(spec, variant)
    bases = list(cell_bases(spec, variant))
    return [parameter_name(spec, st, base, layer, run)
            for layer in range(st.L) for run in range(st.D) for base in bases]


def parameter_shapes(spec: Spec, variant: Mapping[str, Any], dims: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
    """name -> shape of every parameter of a variant."""
    return {name: shape for name, (_, shape) in parameters(spec, variant, dims).items()}


def present(entry: Mapping[str, Any], variant: Mapping[str, Any]) -> bool:
    """Whether an input or output declared with `when: FEATURE` exists under `variant`."""
    return "when" not in entry or entry["when"] in variant


def names_of(spec: Spec, kind: str, variant: Mapping[str, Any]) -> list[str]:
    """The inputs (or outputs) a variant has."""
    return [n for n, e in spec.data[kind].items() if present(e, variant)]


def array_shape(spec: Spec, kind: str, name: str, variant: Mapping[str, Any],
                dims: Mapping[str, int]) -> tuple[int, ...]:
    """Shape of an input or output under `variant`: its `stacked_shape` when states are stacked."""
    st = structure(spec, variant)
    entry = spec.data[kind][name]
    shape = entry["stacked_shape"] if st.stacked and "stacked_shape" in entry else entry["shape"]
    full = dims_of(st, dims)
    return tuple(eval_dim(d, full) for d in shape)


def shape_labels(spec: Spec, kind: str, name: str, variant: Mapping[str, Any]) -> list[str]:
    """An input's or output's shape in the spec's words under `variant`: ["T", "B", "H"] for y of the base
    LSTM ("D * H" without its D = 1), ["T", "B", "D * H"] when bidirectional."""
    st = structure(spec, variant)
    entry = spec.data[kind][name]
    fixed = {"D": st.D, "L": st.L}
    labels = []
    for dim in (entry["stacked_shape"] if st.stacked and "stacked_shape" in entry else entry["shape"]):
        factors = [f.strip() for f in str(dim).split("*")]
        kept = [f for f in factors if fixed.get(f) != 1] or ["1"]
        labels.append(" * ".join(kept) if "+" not in str(dim) else str(dim))
    return labels


def array_dtype(spec: Spec, kind: str, name: str) -> str | None:
    """An input's fixed dtype (seq_lengths: int64), or None for one of the dtype under test."""
    return spec.data[kind][name].get("dtype")


def value_words(value: Any) -> str:
    """A feature's value in words: true, reverse, 2, or gate_preactivations(threshold=3.0) for an object."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        rest = ", ".join(f"{k}={v}" for k, v in value.items() if k != "convention")
        return f"{value.get('convention')}({rest})" if rest else str(value.get("convention"))
    return str(value)


def describe(variant: Mapping[str, Any]) -> str:
    """A variant in words for messages and tables: "base" or "direction=reverse, num_layers=2"."""
    return ", ".join(f"{k}={value_words(v)}" for k, v in sorted(variant.items())) or "base"
