"""Cell features: how a variant edits the one step (spec/lstm.yaml `features` with `parameters`,
`removes` and `edits`), and the order its equations are evaluated in.

An edit replaces an equation's definition; "{previous}" in it stands for the definition before the
edit (parenthesized), and a key holding "{gate}" is one edit per gate of the spec. Features apply in
the order the spec declares them. Nothing about any feature is spelled out here: it is all data.
"""
from __future__ import annotations

from typing import Any, Mapping

from .expressions import Expression, parse_expression

PREVIOUS = "{previous}"
GATE = "{gate}"


def cell_features(spec: Any) -> dict[str, dict]:
    """The features that edit the step (those with parameters, removes or edits), in declared order."""
    return {n: f for n, f in spec.data["features"].items() if _edits_anything(f)}


def _edits_anything(feature: Mapping[str, Any]) -> bool:
    keys = ("parameters", "removes", "edits", "disables")
    return any(k in feature for k in keys) or any(k in v for v in (feature.get("values") or {}).values()
                                                  for k in keys if isinstance(v, dict))


def chosen(feature: Mapping[str, Any], value: Any) -> dict:
    """What a feature set to `value` does: its own parameters/removes/edits, and those of the value it picks
    (a string value, or an object's `convention`)."""
    key = value.get("convention") if isinstance(value, Mapping) else value
    picked = (feature.get("values") or {}).get(key, {}) if isinstance(key, str) else {}
    out: dict[str, Any] = {"parameters": {}, "removes": [], "edits": [], "disables": []}
    for part in (feature, picked):
        out["parameters"].update(part.get("parameters", {}))
        out["removes"] += part.get("removes", [])
        out["disables"] += part.get("disables", [])
        if "edits" in part:
            out["edits"].append(part["edits"])
    return out


def expand_edits(spec: Any, edits: Mapping[str, str]) -> dict[str, str]:
    """{gate} keys written out for every gate of the spec: {"a_{gate}": E} -> {"a_i": E_i, ...}."""
    out = {}
    for key, text in edits.items():
        if GATE in key:
            for gate in spec.data["gates"]:
                out[key.replace(GATE, gate)] = text.replace(GATE, gate)
        else:
            out[key] = text
    return out


def edited_texts(spec: Any, variant: Mapping[str, Any]) -> dict[str, str]:
    """The step's equation texts under `variant`'s cell features."""
    texts = dict(spec.data["step"]["equations"])
    for name, feature in cell_features(spec).items():
        if name not in variant:
            continue
        for edits in chosen(feature, variant[name])["edits"]:
            for key, text in expand_edits(spec, edits).items():
                if key not in texts:
                    raise KeyError(f"features.{name} edits {key!r}, which is not an equation of the step")
                texts[key] = text.replace(PREVIOUS, f"({texts[key]})")
    return texts


def equations_for(spec: Any, variant: Mapping[str, Any]) -> dict[str, Expression]:
    """The step's parsed equations under `variant` (the base step's, already parsed, where unedited)."""
    texts = edited_texts(spec, variant)
    base = spec.data["step"]["equations"]
    return {n: (spec.equations[n] if t == base[n] and n in spec.equations else parse_expression(t))
            for n, t in texts.items()}


VALUE = "value"  # what a number feature's `binds` names: the feature's own value


def bound_values(spec: Any, variant: Mapping[str, Any], run: int = 0) -> dict[str, Any]:
    """The names features bind for the equations of run `run` (its index in the direction's runs):
    {"clip_threshold": 3.0, "proj_threshold": 0.5, "gate_activation": {"name": "HardSigmoid", ...}}. A
    per-run feature given as a list binds its entry for the run."""
    out = {}
    for name, feature in spec.data["features"].items():
        if name not in variant or "binds" not in feature:
            continue
        value = variant[name]
        if isinstance(value, list):
            value = value[run]
        for alias, field in feature["binds"].items():
            out[alias] = value if field == VALUE else value[field]
    return out


def bound_numbers(spec: Any, variant: Mapping[str, Any], run: int = 0) -> dict[str, float]:
    """The numbers among bound_values: {"clip_threshold": 3.0}."""
    return {k: v for k, v in bound_values(spec, variant, run).items() if not isinstance(v, Mapping)}


def bound_functions(spec: Any, variant: Mapping[str, Any], run: int = 0) -> dict[str, Mapping[str, Any]]:
    """The activations among bound_values: {"gate_activation": {"name": "HardSigmoid", "alpha": .., "beta": ..}}."""
    return {k: v for k, v in bound_values(spec, variant, run).items() if isinstance(v, Mapping)}


def function_aliases(spec: Any) -> set[str]:
    """The names that stand for a function an object feature's activation field picks."""
    return {alias for f in spec.data["features"].values() for alias, field in f.get("binds", {}).items()
            if f.get("fields", {}).get(field, {}).get("type") == "activation"}


def all_bound_names(spec: Any) -> set[str]:
    """The names that stand for a number a feature binds."""
    return {alias for f in spec.data["features"].values() for alias in f.get("binds", {})} - function_aliases(spec)


def disabled_invariants(spec: Any, variant: Mapping[str, Any]) -> set[str]:
    """The invariants the variant's features say no longer hold (their `disables`)."""
    out: set[str] = set()
    for name, feature in spec.data["features"].items():
        if name in variant:
            out |= set(chosen(feature, variant[name])["disables"])
    return out


def activation_by_onnx_name(spec: Any) -> dict[str, str]:
    """An activation's onnx name -> its name in the spec's `activations`."""
    return {e["onnx"]: n for n, e in spec.data["activations"].items() if "onnx" in e}


def onnx_activation(spec: Any, onnx_name: str) -> tuple[str, list[str]]:
    """An activation's name in the spec and the numbers it takes (alpha, beta), from its onnx name."""
    name = activation_by_onnx_name(spec)[onnx_name]
    return name, list(spec.data["activations"][name].get("takes", []))


def cell_parameters(spec: Any, variant: Mapping[str, Any]) -> dict[str, dict]:
    """The parameters of one cell (one layer's one run) under `variant`: the spec's, then each feature's,
    without those a feature removes; name -> its entry (shape, gate, role)."""
    params = dict(spec.data["parameters"])
    removed: set[str] = set()
    for name, feature in cell_features(spec).items():
        if name in variant:
            change = chosen(feature, variant[name])
            params.update(change["parameters"])
            removed |= set(change["removes"])
    return {n: e for n, e in params.items() if n not in removed}


def all_feature_parameters(spec: Any) -> dict[str, dict]:
    """Every parameter any cell feature can add."""
    out: dict[str, dict] = {}
    for feature in cell_features(spec).values():
        out.update(feature.get("parameters", {}))
        for value in (feature.get("values") or {}).values():
            out.update(value.get("parameters", {}))
    return out


def evaluation_order(equations: Mapping[str, Expression], roots: list[str]) -> list[str]:
    """The equations `roots` need, each after the equations it reads, ties in the listed order; ValueError
    naming a cycle."""
    listed = list(equations)
    needed: set[str] = set()
    stack = list(roots)
    while stack:  # everything the roots read, directly or not
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack += [d for d in equations[name].names if d in equations]
    reads = {n: {d for d in equations[n].names if d in equations} for n in needed}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(needed):
        ready = [n for n in listed if n in needed and n not in done and reads[n] <= done]
        if not ready:
            raise ValueError(f"the equations read each other in a cycle: {_cycle(reads, needed - done)}")
        order.append(ready[0])
        done.add(ready[0])
    return order


def _cycle(reads: Mapping[str, set], left: set) -> str:
    """One cycle among `left`, as a -> b -> a."""
    path = [min(left)]
    while True:
        nxt = min(d for d in reads[path[-1]] if d in left)
        if nxt in path:
            return " -> ".join(path[path.index(nxt):] + [nxt])
        path.append(nxt)
