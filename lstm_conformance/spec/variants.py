"""Variants: the features a golden case (or a call to an adapter) sets, checked against the spec's
`features`, and the sequence structure that follows from them (runs per layer, layers, parameter
names, shapes), read from the spec's `structure`. No feature, name or shape is spelled out here.

A variant holds only the features that differ from the base LSTM, in canonical form: a default
written out is refused, so equal variants are equal dicts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

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
    else:  # the schema allows no other type
        raise VariantError(f"{where}: the spec declares type {kind!r}, which this harness does not know")


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


def parameters(spec: Spec, variant: Mapping[str, Any], dims: Mapping[str, int]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (its name in `parameters`, shape) for every parameter of a variant: layer by layer, run by
    run, in the spec's order."""
    st = structure(spec, variant)
    out = {}
    for layer in range(st.L):
        ldims = layer_dims(spec, st, dims, layer)
        for run in range(st.D):
            for base in spec.parameter_names:
                out[parameter_name(spec, st, base, layer, run)] = (base, spec.shape_of("parameters", base, ldims))
    return out


def cell_params(spec: Spec, variant: Mapping[str, Any], params: Mapping[str, Any], layer: int,
                run: int) -> dict[str, Any]:
    """One layer's one run's parameters under their names in `parameters` (W_i ... b_o), e.g. to pack
    them with a framework's packing and rename its tensors for that layer and run."""
    st = structure(spec, variant)
    return {base: params[parameter_name(spec, st, base, layer, run)] for base in spec.parameter_names}


def parameter_names(spec: Spec, variant: Mapping[str, Any]) -> list[str]:
    """Every parameter a variant has, layer by layer, run by run, in the spec's order."""
    st = structure(spec, variant)
    return [parameter_name(spec, st, base, layer, run)
            for layer in range(st.L) for run in range(st.D) for base in spec.parameter_names]


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


def describe(variant: Mapping[str, Any]) -> str:
    """A variant in words for messages and tables: "base" or "direction=reverse, num_layers=2"."""
    return ", ".join(f"{k}={v}" for k, v in sorted(variant.items())) or "base"
