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
    sizes: tuple[tuple[str, int | None, str], ...] = ()  # (dimension, the feature's value or None, default)

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
        _check_value(spec, declared[name], value, f"{where}.{name}")
    for name in variant:
        missing = [r for r in declared[name].get("requires", []) if r not in variant]
        if missing:
            raise VariantError(f"{where}.{name}={variant[name]!r} requires {missing}, which the variant does not set")
    _check_runs(spec, variant, where)
    return dict(variant)


def _check_runs(spec: Spec, variant: Mapping[str, Any], where: str) -> None:
    """A per-run feature given as a list has one entry per run of the direction, not all equal."""
    declared = features(spec)
    direction = variant.get("direction", declared["direction"]["default"])
    runs = declared["direction"]["values"][direction]["runs"]
    for name, value in variant.items():
        if isinstance(value, list):
            if len(value) != len(runs):
                raise VariantError(f"{where}.{name} lists {len(value)} values, but should list one per run "
                                   f"{runs} (direction={direction})")
            if all(v == value[0] for v in value):
                raise VariantError(f"{where}.{name} lists the same value for every run: write it once")


def _check_value(spec: Spec, feature: dict, value: Any, where: str) -> None:
    kind = feature["type"]
    if value == feature.get("default") and type(value) is type(feature.get("default")):
        raise VariantError(f"{where}={value!r} is the default: a variant lists only what differs (leave it out)")
    if kind == "object" and feature.get("per_run") and isinstance(value, list):
        if not value:
            raise VariantError(f"{where}=[], but should be an object or a list of one object per run")
        for k, v in enumerate(value):
            _check_object(spec, feature, v, f"{where}[{k}]")
        return
    if kind == "number":
        _check_number(value, feature, where)
    elif kind == "integer":
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
        _check_object(spec, feature, value, where)
        if value == base_object(spec, feature):
            raise VariantError(f"{where}={value!r} is what the base LSTM computes: a variant lists only what "
                               f"differs (leave it out)")
    else:  # the schema allows no other type
        raise VariantError(f"{where}: the spec declares type {kind!r}, which this harness does not know")


def _check_number(v: Any, field: Mapping[str, Any], where: str) -> None:
    import math

    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
            ("min_exclusive" in field and not v > field["min_exclusive"]):
        raise VariantError(f"{where}={v!r}, but should be a finite number"
                           + (f" > {field['min_exclusive']}" if "min_exclusive" in field else ""))


def _check_object(spec: Spec, feature: dict, value: Any, where: str) -> None:
    """An object-valued feature: exactly its fields; `convention` one of its values; numbers finite and above
    their `min_exclusive`; activations by a name the spec defines, with alpha and beta."""
    fields = feature["fields"]
    if not isinstance(value, Mapping) or set(value) != set(fields):
        raise VariantError(f"{where}={value!r}, but should be an object with exactly the fields {sorted(fields)}")
    for name, field in fields.items():
        v = value[name]
        if name == "convention":
            if v not in feature["values"]:
                raise VariantError(f"{where}.convention={v!r}, but should be one of {list(feature['values'])}")
        elif field["type"] == "number":
            _check_number(v, field, f"{where}.{name}")
        elif field["type"] == "activation":
            _check_activation(spec, v, f"{where}.{name}")
        elif not isinstance(v, str):
            raise VariantError(f"{where}.{name}={v!r}, but should be a string")


ACTIVATION_NUMBERS = ("alpha", "beta")


def _check_activation(spec: Spec, value: Any, where: str) -> None:
    """{"name": an activation's onnx name, "alpha": number, "beta": number}; a number the function does not take
    must be 0, so that equal activations are equal objects."""
    from ..spec.cell import activation_by_onnx_name, onnx_activation

    names = activation_by_onnx_name(spec)
    if not isinstance(value, Mapping) or set(value) != {"name", *ACTIVATION_NUMBERS}:
        raise VariantError(f"{where}={value!r}, but should be an object with exactly the fields "
                           f"['alpha', 'beta', 'name']")
    if value["name"] not in names:
        raise VariantError(f"{where}.name={value['name']!r}, but should be one of {sorted(names)}")
    _, takes = onnx_activation(spec, value["name"])
    for number in ACTIVATION_NUMBERS:
        _check_number(value[number], {}, f"{where}.{number}")
        if number not in takes and value[number] != 0:
            raise VariantError(f"{where}.{number}={value[number]!r}, but {value['name']} takes no {number}: "
                               f"write 0")


def base_object(spec: Spec, feature: Mapping[str, Any]) -> dict | None:
    """What an object feature without a convention computes in the base LSTM, if its edits say: each
    activation field is the function whose name, put in place of the field's alias, gives back the base
    equations (activations: gate Sigmoid, cell_input Tanh, cell_output Tanh); None if there is none."""
    if "convention" in feature.get("fields", {}):
        return None
    base, onnx = spec.data["step"]["equations"], {n: e.get("onnx") for n, e in spec.data["activations"].items()}
    out: dict[str, Any] = {}
    for alias, field in feature.get("binds", {}).items():
        uses = {k: t for k, t in feature.get("edits", {}).items() if alias in t}
        match = [n for n in onnx if uses and all(" ".join(t.replace(alias, n).split()) == " ".join(base[k].split())
                                                 for k, t in uses.items())]
        if len(match) != 1 or onnx[match[0]] is None:
            return None
        out[field] = {"name": onnx[match[0]], "alpha": 0, "beta": 0}
    return out


def structure(spec: Spec, variant: Mapping[str, Any]) -> Structure:
    """The sequence structure of a (checked) variant."""
    variant = check_variant(spec, variant)
    declared = features(spec)
    direction = variant.get("direction", declared["direction"]["default"])
    sizes = tuple((dim, variant.get(e["from"]), e["default"]) for dim, e in spec.data["dimensions"].items()
                  if "default" in e)  # P: proj_size, else H
    return Structure(runs=tuple(declared["direction"]["values"][direction]["runs"]),
                     layers=variant.get("num_layers", declared["num_layers"]["default"]),
                     lengths=variant.get("lengths"),
                     empty_rows=variant.get("empty_rows", declared["empty_rows"]["default"]),
                     sizes=sizes)


def dims_of(st: Structure, dims: Mapping[str, int]) -> dict[str, int]:
    """The case's dimensions with the structure's: D (runs per layer), L (layers) and those a feature sizes
    (P: proj_size, or its default H)."""
    full = {**dims, "D": st.D, "L": st.L}
    for dim, value, default in st.sizes:
        full[dim] = value if value is not None else eval_dim(default, full)
    return full


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
    LSTM ("D * P" without its D = 1, and P, the projection's width, is H without one), ["T", "B", "D * H"]
    when bidirectional, ["T", "B", "P"] with a projection."""
    st = structure(spec, variant)
    entry = spec.data[kind][name]
    fixed = {"D": st.D, "L": st.L}
    unset = {dim: default for dim, value, default in st.sizes if value is None}  # P is H without a projection
    labels = []
    for dim in (entry["stacked_shape"] if st.stacked and "stacked_shape" in entry else entry["shape"]):
        factors = [unset.get(f.strip(), f.strip()) for f in str(dim).split("*")]
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
