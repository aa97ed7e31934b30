"""spec/conventions.yaml: the known conventions diagnosis tries, and what each of its keys does.

A hypothesis undoes one convention: `feed` transforms what the implementation is
given, `read` transforms what it returns, `model` changes the expected outputs
(the scalar reference on a changed spec, or runs composed differently). The primitives
behind those keys live here; search.py only applies a hypothesis and judges the result.
`applies_when` limits a hypothesis to the cases whose variant sets the features it means
something in (a swapped pair of directions needs two directions).

Every primitive works on named arrays under any variant: parameter transforms apply to
each layer's each run (W_i, W_i_reverse, W_i_l1, ...), read transforms know the case's
structure (runs, layers, each row's length) through a CaseContext.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import paths
from ..packing.convert import from_packing, to_packing, without_run_time_constants
from ..spec.cell import all_feature_parameters
from ..spec.loader import Spec, SpecError, eval_dim, read_yaml_document, spec_from_data
from ..spec.variants import (Structure, VariantError, array_dtype, cell_bases, check_variant, names_of,
                             parameter_name, parameter_names, structure)

CONVENTIONS_FILE = "conventions.yaml"
SCHEMA_FILE = "conventions.schema.json"
Arrays = dict[str, np.ndarray]
FILLS = {"order", "order_id", "spec_order", "packings"}  # placeholders of a for_each_gate_order entry


@dataclass(frozen=True)
class Hypothesis:
    id: str
    explains: str
    feed: dict = field(default_factory=dict)
    read: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    model_spec: Spec | None = None  # the spec with `model` applied, when there is one
    applies_when: tuple[str, ...] = ()  # "FEATURE" (set, any value) or "FEATURE=VALUE" (default included)

    def applies(self, spec: Spec, variant: Mapping[str, Any]) -> bool:
        """Whether the hypothesis means something for a case of `variant` (every condition holds)."""
        return all(_condition_holds(spec, cond, variant) for cond in self.applies_when)

    def where(self) -> str:
        """The conditions in words, e.g. "direction=bidirectional, num_layers set" ("" when it applies everywhere)."""
        return ", ".join(c if "=" in c else f"{c} set" for c in self.applies_when)


def _condition_holds(spec: Spec, cond: str, variant: Mapping[str, Any]) -> bool:
    feature, eq, value = cond.partition("=")
    if not eq:
        return feature in variant
    have = variant.get(feature, spec.data["features"][feature].get("default"))
    if isinstance(have, Mapping):  # an object-valued feature: its convention
        have = have.get("convention")
    return (str(have).lower() if isinstance(have, bool) else str(have)) == value


def load_conventions(spec: Spec, path: str | Path | None = None) -> list[Hypothesis]:
    """Every hypothesis, gate orders expanded, each checked against `spec`."""
    path = Path(path) if path is not None else paths.spec_dir() / CONVENTIONS_FILE
    data, _, fail = read_yaml_document(path, SCHEMA_FILE, "the conventions file")
    out: list[Hypothesis] = []
    seen: set[str] = set()
    for k, entry in enumerate(data["hypotheses"]):
        try:
            expanded = _expand(spec, entry)
        except (KeyError, ValueError, IndexError) as exc:
            raise fail(("hypotheses", k), f"cannot fill in {entry['id']!r}: {type(exc).__name__}: {exc}; with "
                                          f"for_each_gate_order, id, explains and feed may use only {sorted(FILLS)} "
                                          f"(write a literal brace as {{{{ or }}}})") from None
        for hyp in expanded:
            if hyp.id in seen:
                raise fail(("hypotheses", k, "id"), f"id {hyp.id!r} is used twice")
            seen.add(hyp.id)
            try:
                out.append(_checked(spec, hyp, path))
            except ValueError as exc:
                raise fail(("hypotheses", k), f"{hyp.id}: {exc}") from None
    return out


def _expand(spec: Spec, entry: Mapping[str, Any]) -> list[Hypothesis]:
    base = {k: copy.deepcopy(entry.get(k, {})) for k in ("feed", "read", "model")}
    when = tuple(entry.get("applies_when", ()))
    if not entry.get("for_each_gate_order"):
        return [Hypothesis(entry["id"], " ".join(entry["explains"].split()), **base, applies_when=when)]
    gates = list(spec.data["gates"])
    out = []
    for perm in itertools.permutations(gates):
        if list(perm) == gates:
            continue
        order = ",".join(perm)
        # read in order perm: blocks stacked in the spec's order but read in a packing's order;
        # the inverse: blocks packed in a packing's order but read in the spec's
        inverse = [gates[perm.index(g)] for g in gates]
        reads = [f"packing {n}: {lay.framework_gate_order()}" for n, lay in spec.packings.items()
                 if list(lay.gate_order) == list(perm)]
        packs = [f"packing {n}'s ({lay.framework_gate_order()})" for n, lay in spec.packings.items()
                 if list(lay.gate_order) == inverse]
        notes = ([f"the order of {', '.join(reads)}"] if reads else []) + \
            ([f"{'or ' if reads else ''}blocks packed in {', '.join(packs)} order and read in the spec's"] if packs else [])
        fill = {"order": order, "order_id": "".join(perm), "spec_order": ",".join(gates),
                "packings": f" ({'; '.join(notes)})" if notes else ""}
        assert set(fill) == FILLS
        feed = {k: (v.format(**fill) if isinstance(v, str) else v) for k, v in base["feed"].items()}
        out.append(Hypothesis(entry["id"].format(**fill), " ".join(entry["explains"].format(**fill).split()),
                              feed, base["read"], base["model"], applies_when=when))
    return out


def _checked(spec: Spec, hyp: Hypothesis, path: Path) -> Hypothesis:
    """Raise ValueError for names the spec does not have; build the model spec."""
    params, outputs = set(spec.parameter_names), set(spec.output_names)
    timed_inputs = set(spec.step_inputs.values())
    timed_outputs = {n for n, e in spec.data["outputs"].items() if e["take"] == "all_steps"}
    f = hyp.feed
    if "gate_order" in f:
        order = f["gate_order"].split(",")
        if sorted(order) != sorted(spec.data["gates"]):
            raise ValueError(f"gate_order={f['gate_order']!r}, but should order the gates {list(spec.data['gates'])}")
    for name in f.get("transposed_reads", []):
        if name not in params or len(spec.data["parameters"][name]["shape"]) != 2:
            raise ValueError(f"transposed_reads: {name!r} is not a matrix parameter of the spec")
    for key in ("written", "read"):
        if "repack" in f and f["repack"][key] not in spec.packings:
            raise ValueError(f"repack.{key}: unknown packing {f['repack'][key]!r}; the spec has {sorted(spec.packings)}")
    if "repack" in f:
        written, read_as = (spec.packings[f["repack"][k]] for k in ("written", "read"))
        dims = spec.with_defaults({d: 2 + 3 * k for k, d in enumerate(spec.dimensions)})  # distinct: "I + H" equals "H + I"
        shapes_w = {n: [eval_dim(d, dims) for d in t.shape] for n, t in written.tensors.items()}
        shapes_r = {n: [eval_dim(d, dims) for d in t.shape] for n, t in read_as.tensors.items()}
        if shapes_w != shapes_r:
            raise ValueError(f"repack: packings {written.name!r} and {read_as.name!r} must hold the same tensors with "
                             f"the same shapes to be confused, but have {shapes_w} and {shapes_r}")
    lay = f.get("subtract_run_time_constants_of")
    if lay is not None and (lay not in spec.packings or not spec.packings[lay].adds_at_run_time):
        raise ValueError(f"subtract_run_time_constants_of: {lay!r} is not a packing with run-time constants")
    for name in f.get("scale", {}):
        if name not in params:
            raise ValueError(f"scale: unknown parameter {name!r}")
    every_param = params | set(all_feature_parameters(spec))
    for pair in f.get("swap_parameters", []):
        if len(pair) != 2 or not set(pair) <= every_param:
            raise ValueError(f"swap_parameters: {pair} should be two parameters of the spec or of a cell feature")
    if "variant" in hyp.model:
        for feature in hyp.model["variant"]:
            if feature not in spec.data["features"]:
                raise ValueError(f"model.variant: unknown feature {feature!r}")
    for name, axes in f.get("swap_axes", {}).items():
        if name not in spec.data["inputs"]:
            raise ValueError(f"feed.swap_axes: {name!r} is not an input of the spec {sorted(spec.data['inputs'])}")
        rank = len(spec.data["inputs"][name]["shape"])
        if len(set(axes)) != 2 or not all(0 <= a < rank for a in axes):
            raise ValueError(f"feed.swap_axes.{name}: {axes} should be two different axes of its {rank}")
    for name in f.get("reverse_time", []):
        if name not in timed_inputs:
            raise ValueError(f"feed.reverse_time: {name!r} is not an input with a time axis {sorted(timed_inputs)}")
    for name in hyp.read.get("reverse_time", []):
        if name not in timed_outputs:
            raise ValueError(f"read.reverse_time: {name!r} is not an output with a time axis {sorted(timed_outputs)}")
    for name, axes in hyp.read.get("swap_axes", {}).items():
        if name not in outputs:
            raise ValueError(f"read.swap_axes: {name!r} is not an output of the spec {sorted(outputs)}")
        rank = len(spec.data["outputs"][name]["shape"])
        if len(set(axes)) != 2 or not all(0 <= a < rank for a in axes):
            raise ValueError(f"read.swap_axes.{name}: {axes} should be two different axes of its {rank}")
    shift = hyp.read.get("shift_time")
    if shift is not None and shift["fill_last_from"] not in outputs:
        raise ValueError(f"shift_time.fill_last_from: unknown output {shift['fill_last_from']!r}")
    _check_structure_keys(spec, hyp, outputs, timed_outputs)
    if not hyp.model:
        return hyp
    return Hypothesis(hyp.id, hyp.explains, hyp.feed, hyp.read, hyp.model, _model_spec(spec, hyp, path),
                      hyp.applies_when)


def _all_runs(spec: Spec) -> set[str]:
    """Every run name a variant can have (the `runs` of the features' values)."""
    return {r for f in spec.data["features"].values() for v in (f.get("values") or {}).values()
            if isinstance(v, dict) for r in v.get("runs", [])}


def _stacked_outputs(spec: Spec) -> set[str]:
    return {n for n, e in spec.data["outputs"].items() if "stacked_shape" in e}


def _check_structure_keys(spec: Spec, hyp: Hypothesis, outputs: set[str], timed_outputs: set[str]) -> None:
    """applies_when, and the read and model keys about sequence structure."""
    features = spec.data["features"]
    for cond in hyp.applies_when:
        feature, eq, value = cond.partition("=")
        if feature not in features:
            raise ValueError(f"applies_when: unknown feature {feature!r}; the spec declares {sorted(features)}")
        allowed = [str(v) for v in features[feature].get("values") or {}]
        if eq and allowed and value not in allowed:
            raise ValueError(f"applies_when: {cond!r}, but {feature} is one of {allowed}")
    r, runs, stacked = hyp.read, _all_runs(spec), _stacked_outputs(spec)
    for name, named_runs in r.get("processing_order", {}).items():
        if name not in timed_outputs:
            raise ValueError(f"read.processing_order: {name!r} is not an output with a time axis {sorted(timed_outputs)}")
        if not set(named_runs) <= runs:
            raise ValueError(f"read.processing_order.{name}: {named_runs} should be runs of the spec {sorted(runs)}")
    for key in ("reversed_runs", "units_major", "zero_past_lengths", "repeated_past_lengths"):
        for name in r.get(key, []):
            if name not in outputs:
                raise ValueError(f"read.{key}: {name!r} is not an output of the spec {sorted(outputs)}")
    for name in r.get("units_major", []) + r.get("zero_past_lengths", []) + r.get("repeated_past_lengths", []):
        if name not in timed_outputs:
            raise ValueError(f"read: {name!r} is not an output with a time axis {sorted(timed_outputs)}")
    for name, expr in r.get("state_index", {}).items():
        if name not in stacked:
            raise ValueError(f"read.state_index: {name!r} is not an output with a stacked_shape {sorted(stacked)}")
        _check_state_index(expr, f"read.state_index.{name}")
    inits = {e["init"] for e in spec.data["step"]["state"].values()}
    for name, init in r.get("initial_state_for_empty_rows", {}).items():
        if name not in outputs or spec.data["outputs"][name]["take"] != "last_step":
            raise ValueError(f"read.initial_state_for_empty_rows: {name!r} is not a last-step output of the spec")
        if init not in inits:
            raise ValueError(f"read.initial_state_for_empty_rows.{name}: {init!r} is not an initial state "
                             f"{sorted(inits)}")
    unmasked = hyp.model.get("unmasked_runs")
    if unmasked is not None:
        if not set(unmasked["runs"]) <= runs:
            raise ValueError(f"model.unmasked_runs.runs: {unmasked['runs']} should be runs of the spec {sorted(runs)}")
        if unmasked["ignores"] not in features:
            raise ValueError(f"model.unmasked_runs.ignores: unknown feature {unmasked['ignores']!r}")


def _check_state_index(expr: str, where: str) -> None:
    """`expr` over layer, run, L and D must number the L * D states 0 .. L*D - 1, each once."""
    try:
        for L, D in ((2, 2), (3, 2), (2, 3)):
            got = sorted(eval_dim(expr, {"layer": k, "run": r, "L": L, "D": D}) for k in range(L) for r in range(D))
            if got != list(range(L * D)):
                raise ValueError(f"{where}: {expr!r} does not number the {L} * {D} states 0 .. {L * D - 1} once each")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: {expr!r} may use only layer, run, L and D ({type(exc).__name__}: {exc})") from None


def _model_spec(spec: Spec, hyp: Hypothesis, path: Path) -> Spec:
    if not {"activations", "gates", "feature_edits"} & set(hyp.model):
        return spec  # a model of how runs are composed, or another variant: the step is the spec's
    data = copy.deepcopy(spec.data)
    for feature, edits in hyp.model.get("feature_edits", {}).items():  # a cell feature that edits differently
        entry = data["features"].get(feature)
        if entry is None or "edits" not in entry:
            raise ValueError(f"model.feature_edits: {feature!r} is not a feature with its own edits")
        for eq, text in edits.items():
            if eq not in entry["edits"]:
                raise ValueError(f"model.feature_edits.{feature}: the feature does not edit {eq!r}")
            entry["edits"][eq] = text
    for name, definition in hyp.model.get("activations", {}).items():
        if name in data["activations"]:
            raise ValueError(f"model.activations: {name!r} is already an activation of the spec; name a new one")
        data["activations"][name] = {"definition": definition}
    for gate, act in hyp.model.get("gates", {}).items():
        if gate not in data["gates"]:
            raise ValueError(f"model.gates: unknown gate {gate!r}")
        old = data["gates"][gate]["activation"]
        equation = data["step"]["equations"][gate]
        if not equation.startswith(old + "("):
            raise ValueError(f"model.gates.{gate}: the equation {equation!r} does not start with {old}(")
        data["gates"][gate]["activation"] = act
        data["step"]["equations"][gate] = act + equation[len(old):]
    try:
        return spec_from_data(data, f"{path} (hypothesis {hyp.id})")
    except SpecError as exc:
        raise ValueError(f"model: {exc}") from None


# ---------------------------------------------------------------- the case a transform works on

@dataclass(frozen=True)
class CaseContext:
    """What a read transform may need to know about the case: its variant, structure, the case's
    inputs (at the dtype under test) and each row's length (None when rows have none)."""

    spec: Spec
    variant: dict
    structure: Structure
    inputs: Arrays
    lengths: np.ndarray | None

    @property
    def timed(self) -> set[str]:
        return {n for n, e in self.spec.data["outputs"].items() if e["take"] == "all_steps"}


def case_context(spec: Spec, variant: Mapping[str, Any], inputs: Mapping[str, Any]) -> CaseContext:
    """The context of a case of `variant` with `inputs` (the lengths: its input of a fixed integer dtype)."""
    variant = dict(variant)
    lengths = [np.asarray(inputs[n], dtype=np.int64) for n in names_of(spec, "inputs", variant)
               if array_dtype(spec, "inputs", n) is not None and n in inputs]
    return CaseContext(spec, variant, structure(spec, variant), {k: np.asarray(v) for k, v in inputs.items()},
                       lengths[0] if lengths else None)


def _cells(spec: Spec, variant: Mapping[str, Any]) -> list[dict[str, str]]:
    """For each layer's each run: the spec's parameter name -> that cell's name (W_i -> W_i_l1_reverse)."""
    st = structure(spec, variant)
    return [{base: parameter_name(spec, st, base, layer, run) for base in cell_bases(spec, variant)}
            for layer in range(st.L) for run in range(st.D)]


# ---------------------------------------------------------------- feed: what the implementation is given

def feed(spec: Spec, hyp: Hypothesis, inputs: Arrays, params: Arrays,
         variant: Mapping[str, Any] | None = None) -> tuple[Arrays, Arrays]:
    """The inputs and parameters that undo `hyp`'s convention, for a case of `variant` (default: the base
    LSTM): parameter transforms apply to every layer's every run, under that cell's names."""
    inputs, params = dict(inputs), dict(params)
    cells = _cells(spec, variant or {})
    for key, arg in hyp.feed.items():
        if key in FEED_INPUTS:
            inputs = FEED_INPUTS[key](spec, arg, inputs)
            continue
        for names in cells:
            cell = {base: params[name] for base, name in names.items()}
            changed = FEED[key](spec, arg, cell)
            params.update({names[base]: a for base, a in changed.items()})
    return inputs, params


def _gate_order(spec: Spec, order: str, params: Arrays) -> Arrays:
    # the implementation uses block k (spec gate k) as gate order[k]: give block k gate order[k]'s parameters
    gates = list(spec.data["gates"])
    by_gate = {g: {e["role"]: n for n, e in spec.data["parameters"].items() if e["gate"] == g} for g in gates}  # role -> name
    out = dict(params)
    for spec_gate, used_as in zip(gates, order.split(",")):
        for role, name in by_gate[spec_gate].items():
            out[name] = params[by_gate[used_as][role]]
    return out


def _transposed_reads(spec: Spec, names: list, params: Arrays) -> Arrays:
    # it takes an (r, c) buffer as (c, r) and transposes: give it P.T laid out as (r, c)
    return {n: (np.ascontiguousarray(a.T).reshape(a.shape) if n in names else a) for n, a in params.items()}


def _repack(spec: Spec, arg: dict, params: Arrays) -> Arrays:
    # it computes with from_packing(read, to_packing(written, P)); feed from_packing(written, to_packing(read, P))
    return from_packing(spec, arg["written"], to_packing(spec, arg["read"], params))


def _subtract_constants(spec: Spec, packing: str, params: Arrays) -> Arrays:
    return without_run_time_constants(spec.packings[packing], params)


def _swap_parameters(spec: Spec, pairs: list, params: Arrays) -> Arrays:
    # it uses parameter a where the spec has b and the other way round: give it each in the other's place
    out = dict(params)
    for a, b in pairs:
        if a in params and b in params:
            out[a], out[b] = params[b], params[a]
    return out


def _scale(spec: Spec, factors: dict, params: Arrays) -> Arrays:
    return {n: (a * np.asarray(factors[n], a.dtype) if n in factors else a) for n, a in params.items()}


def _reverse_inputs(spec: Spec, names: list, inputs: Arrays) -> Arrays:
    return {n: (np.ascontiguousarray(a[::-1]) if n in names else a) for n, a in inputs.items()}


def _swap_input_axes(spec: Spec, axes: dict, inputs: Arrays) -> Arrays:
    # it reads the input with two axes exchanged, e.g. x as (B, T, I): give it that
    return {n: (np.ascontiguousarray(np.swapaxes(a, *axes[n])) if n in axes else a) for n, a in inputs.items()}


# parameter transforms: one cell's parameters under the spec's names (W_i ... b_o) in, the same out
FEED: dict[str, Callable[[Spec, Any, Arrays], Arrays]] = {
    "gate_order": _gate_order,
    "transposed_reads": _transposed_reads,
    "repack": _repack,
    "subtract_run_time_constants_of": _subtract_constants,
    "scale": _scale,
    "swap_parameters": _swap_parameters,
}
FEED_INPUTS: dict[str, Callable[[Spec, Any, Arrays], Arrays]] = {
    "reverse_time": _reverse_inputs,
    "swap_axes": _swap_input_axes,
}


# ---------------------------------------------------------------- read: what it returns

def read(hyp: Hypothesis, outputs: Arrays, context: CaseContext | None = None) -> Arrays:
    """The outputs with `hyp`'s convention undone (ndarrays; a transform that does not fit their
    shapes raises ValueError or IndexError). `context`: the case (needed by the structure keys)."""
    outputs = dict(outputs)
    for key, arg in hyp.read.items():
        outputs = READ[key](arg, outputs, context)
    return outputs


def _reverse_outputs(names: list, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    return {n: (np.ascontiguousarray(a[::-1]) if n in names else a) for n, a in outputs.items()}


def _swap_axes(axes: dict, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # it returns the output with two axes exchanged, e.g. y as (B, T, H): exchange them back, (T, B, H)
    return {n: (np.ascontiguousarray(np.swapaxes(a, *axes[n])) if n in axes else a) for n, a in outputs.items()}


def _shift_time(arg: dict, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # y[t] holds h_(t-1): the spec's y[t] is its y[t + 1], and the last step is fill_last_from
    y = outputs["y"]
    return {**outputs, "y": np.concatenate([y[1:], outputs[arg["fill_last_from"]][None]], axis=0)}


def _need(ctx: CaseContext | None) -> CaseContext:
    if ctx is None:
        raise ValueError("this transform needs the case (its variant and inputs)")
    return ctx


def _run_blocks(a: np.ndarray, D: int) -> list[np.ndarray]:
    """An all-steps output's last axis (D * H) as the D runs' blocks, [forward | reverse]."""
    if a.ndim < 1 or a.shape[-1] % D:
        raise ValueError(f"last axis {a.shape[-1:]} is not {D} runs wide")
    return np.split(a, D, axis=-1)


def _lengths_or_T(ctx: CaseContext, a: np.ndarray) -> np.ndarray:
    T, B = a.shape[0], a.shape[1]
    if ctx.lengths is None:
        return np.full(B, T, dtype=np.int64)
    if ctx.lengths.shape != (B,) or (ctx.lengths > T).any():
        raise ValueError(f"lengths {ctx.lengths.tolist()} do not fit an output of shape {a.shape}")
    return ctx.lengths


def _processing_order(arg: dict, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # the named runs' part of an all-steps output comes in processing order (a reverse run's: from the
    # row's last valid step down to 0): flip it back within each row's valid prefix
    ctx = _need(ctx)
    out = dict(outputs)
    for name, runs in arg.items():
        a = np.array(outputs[name])
        blocks = _run_blocks(a, ctx.structure.D)
        lengths = _lengths_or_T(ctx, a)
        for k, run in enumerate(ctx.structure.runs):
            if run not in runs:
                continue
            for b, n in enumerate(lengths):
                blocks[k][:n, b] = blocks[k][:n, b][::-1].copy()
        out[name] = np.ascontiguousarray(np.concatenate(blocks, axis=-1))
    return out


def _state_runs(a: np.ndarray, st: Structure) -> np.ndarray:
    """A stacked state (L * D, B, H) as (L, D, B, H)."""
    if a.ndim != 3 or a.shape[0] != st.L * st.D:
        raise ValueError(f"shape {a.shape} is not a stacked state of {st.L} * {st.D}")
    return a.reshape(st.L, st.D, *a.shape[1:])


def _reversed_runs(names: list, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # its runs come in the opposite order: [reverse | forward] on y's last axis, run index D-1-r in the states
    ctx = _need(ctx)
    st, out = ctx.structure, dict(outputs)
    for name in names:
        a = np.asarray(outputs[name])
        if name in ctx.timed:
            out[name] = np.ascontiguousarray(np.concatenate(_run_blocks(a, st.D)[::-1], axis=-1))
        elif st.stacked:
            out[name] = np.ascontiguousarray(_state_runs(a, st)[:, ::-1].reshape(a.shape))
    return out


def _units_major(names: list, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # its last axis holds (H, D), units major, where the spec has (D, H): [T, B, H, D] read as [T, B, D, H]
    ctx = _need(ctx)
    D, out = ctx.structure.D, dict(outputs)
    for name in names:
        a = np.asarray(outputs[name])
        if a.shape[-1] % D:
            raise ValueError(f"{name}'s last axis {a.shape[-1]} is not {D} runs wide")
        H = a.shape[-1] // D
        out[name] = np.ascontiguousarray(np.swapaxes(a.reshape(*a.shape[:-1], H, D), -1, -2).reshape(a.shape))
    return out


def _state_index(arg: dict, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # its stacked states are numbered by another expression of (layer, run): put each at the spec's index
    ctx = _need(ctx)
    st, out = ctx.structure, dict(outputs)
    if not st.stacked:
        return out
    spec_index = ctx.spec.data["structure"]["state_index"]
    for name, expr in arg.items():
        a = np.asarray(outputs[name])
        _state_runs(a, st)  # checks the shape
        fixed = np.empty_like(a)
        for layer in range(st.L):
            for run in range(st.D):
                at = {"layer": layer, "run": run, "L": st.L, "D": st.D}
                fixed[eval_dim(spec_index, at)] = a[eval_dim(expr, at)]
        out[name] = fixed
    return out


def _past_lengths(names: list, outputs: Arrays, ctx: CaseContext | None,
                  fix: Callable[[np.ndarray, int, int], None]) -> Arrays:
    """Each named all-steps output, copied, with fix(a, b, n) applied to every row b of length n."""
    ctx = _need(ctx)
    out = dict(outputs)
    for name in names:
        a = np.array(outputs[name])
        for b, n in enumerate(_lengths_or_T(ctx, a)):
            fix(a, b, n)
        out[name] = a
    return out


def _zero_past_lengths(names: list, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # its all-steps output past each row's length is not zero: zero it
    def zero(a: np.ndarray, b: int, n: int) -> None:
        a[n:, b] = 0
    return _past_lengths(names, outputs, ctx, zero)


def _repeated_past_lengths(names: list, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # past each row's length it repeats the row's last valid output (0 for a row of length 0): subtract
    # that, so a true repetition reads 0 (as the spec's y does there) and anything else stays visible
    def unrepeat(a: np.ndarray, b: int, n: int) -> None:
        if n > 0:
            a[n:, b] -= a[n - 1, b]
    return _past_lengths(names, outputs, ctx, unrepeat)


def _initial_state_for_empty_rows(arg: dict, outputs: Arrays, ctx: CaseContext | None) -> Arrays:
    # it returns zeros as the final state of a row of length 0: that row's final state is its initial state
    ctx = _need(ctx)
    out = dict(outputs)
    if ctx.lengths is None:
        return out
    empty = np.flatnonzero(ctx.lengths == 0)
    for name, init in arg.items():
        a, start = np.array(outputs[name]), ctx.inputs[init]
        if a.shape != start.shape:
            raise ValueError(f"{name} has shape {a.shape}, its initial state {init} {start.shape}")
        row_axis = a.ndim - 2  # (B, H) or (L * D, B, H)
        rows = np.take(a, empty, axis=row_axis)
        if rows.size and np.any(rows != 0):
            raise ValueError(f"{name} is not zero in the rows of length 0")
        index = [slice(None)] * a.ndim
        index[row_axis] = empty
        a[tuple(index)] = start[tuple(index)]
        out[name] = a
    return out


READ: dict[str, Callable[[Any, Arrays, CaseContext | None], Arrays]] = {
    "reverse_time": _reverse_outputs,
    "shift_time": _shift_time,
    "swap_axes": _swap_axes,
    "processing_order": _processing_order,
    "reversed_runs": _reversed_runs,
    "units_major": _units_major,
    "state_index": _state_index,
    "zero_past_lengths": _zero_past_lengths,
    "repeated_past_lengths": _repeated_past_lengths,
    "initial_state_for_empty_rows": _initial_state_for_empty_rows,
}


# ---------------------------------------------------------------- model: what the expected outputs are

def expected_outputs(spec: Spec, hyp: Hypothesis, record: Mapping[str, Any]) -> dict[str, Any]:
    """The case's expected outputs under `hyp`'s model: the scalar reference (float mode) on the
    hypothesis's spec, with the runs composed as `model` says."""
    from ..reference.lstm import run_reference

    model_spec = hyp.model_spec or spec
    if "variant" in hyp.model or "swap_activation_numbers" in hyp.model:  # another value of a cell feature
        variant = replaced_variant(spec, record["variant"], hyp.model.get("variant", {}))
        if hyp.model.get("swap_activation_numbers"):
            variant = swapped_activation_numbers(spec, variant)
        wanted = parameter_names(spec, variant)
        params = {n: record["params"][n] for n in wanted}  # KeyError: the case lacks what it would read
        return run_reference(model_spec, record["inputs"], params, variant=variant, mode="float")
    unmasked = hyp.model.get("unmasked_runs")
    if unmasked is None or not set(unmasked["runs"]) & set(structure(spec, record["variant"]).runs) \
            or unmasked["ignores"] not in record["variant"]:
        return run_reference(model_spec, record["inputs"], record["params"], variant=record["variant"],
                             mode="float")
    return _unmasked_runs(spec, model_spec, unmasked, record, run_reference)


def swapped_activation_numbers(spec: Spec, variant: Mapping[str, Any]) -> dict:
    """`variant` with alpha and beta exchanged in every activation it picks (a number the function does not
    take becomes 0), checked against the spec; a variant whose functions then compute what they did (every
    swapped number untaken or equal) is returned as it is."""
    from ..spec.cell import onnx_activation

    out = dict(variant)
    for feature, value in variant.items():
        fields = spec.data["features"][feature].get("fields", {})
        roles = [f for f, e in fields.items() if e["type"] == "activation"]
        if not roles:
            continue

        def swap(obj: Mapping[str, Any]) -> dict:
            new = dict(obj)
            for role in roles:
                fn = obj[role]
                _, takes = onnx_activation(spec, fn["name"])
                new[role] = {"name": fn["name"], "alpha": fn["beta"] if "alpha" in takes else 0,
                             "beta": fn["alpha"] if "beta" in takes else 0}
            return new
        out[feature] = [swap(v) for v in value] if isinstance(value, list) else swap(value)
        if isinstance(out[feature], list) and all(v == out[feature][0] for v in out[feature]):
            out[feature] = out[feature][0]
    try:
        return check_variant(spec, out)
    except ValueError:
        return dict(variant)  # e.g. swapped back into the base LSTM's functions


def replaced_variant(spec: Spec, variant: Mapping[str, Any], patch: Mapping[str, Any]) -> dict:
    """`variant` with each feature in `patch` set to its value there (an object value is updated field by
    field: {"clip": {"convention": "cell_state"}} keeps the threshold; null drops the feature), checked
    against the spec."""
    out = dict(variant)
    for feature, value in patch.items():
        if value is None:  # it ignores the feature: the case's variant without it
            out.pop(feature, None)
            continue
        out[feature] = {**out[feature], **value} if isinstance(value, Mapping) and isinstance(out.get(feature), Mapping) \
            else value
    return check_variant(spec, out)


def _without(spec: Spec, variant: Mapping[str, Any], feature: str) -> dict:
    """`variant` without `feature` and every feature that requires it."""
    declared = spec.data["features"]
    drop = {feature} | {f for f in variant if feature in declared[f].get("requires", [])}
    return {k: v for k, v in variant.items() if k not in drop}


def _one_layer(spec: Spec, variant: Mapping[str, Any]) -> dict:
    """`variant` with the features that stack layers left out (one layer, the same runs)."""
    out = dict(variant)
    for feature in list(variant):
        try:
            alone = structure(spec, {feature: variant[feature]})
        except VariantError:
            continue
        if alone.L > 1:
            del out[feature]
    check_variant(spec, out)
    return out


def _unmasked_runs(spec: Spec, model_spec: Spec, arg: dict, record: Mapping[str, Any], run_reference) -> dict:
    """Runs `arg["runs"]` step through every t as if the variant had no `arg["ignores"]` (a reverse run starts
    at T-1 and reads the padding), their all-steps outputs still zero past each row's length and their
    final state taken after the whole run; the other runs as the variant says. Layer by layer."""
    variant = dict(record["variant"])
    st = structure(spec, variant)
    layer_variant = _one_layer(spec, variant)
    plain_variant = _without(spec, layer_variant, arg["ignores"])
    one = structure(spec, layer_variant)
    timed = [n for n, e in spec.data["outputs"].items() if e["take"] == "all_steps"]
    finals = [n for n, e in spec.data["outputs"].items() if e["take"] != "all_steps"]
    state_inputs = [n for n, e in spec.data["inputs"].items() if "stacked_shape" in e]
    (x_name,) = spec.step_inputs.values()
    inputs = {k: np.asarray(v) for k, v in record["inputs"].items()}
    ctx = case_context(spec, variant, inputs)
    spec_index = spec.data["structure"]["state_index"]
    layer_in = np.asarray(inputs[x_name], dtype=np.float64)
    stacks: dict[str, dict[int, np.ndarray]] = {n: {} for n in finals}
    for layer in range(st.L):
        indices = [eval_dim(spec_index, {"layer": layer, "run": r, "L": st.L, "D": st.D}) for r in range(st.D)]
        states = {n: (inputs[n][indices] if one.stacked else inputs[n][indices[0]]) if st.stacked else inputs[n]
                  for n in state_inputs}
        params = {parameter_name(spec, one, base, 0, r): record["params"][parameter_name(spec, st, base, layer, r)]
                  for base in spec.parameter_names for r in range(st.D)}
        def reference(v: dict) -> dict[str, np.ndarray]:
            given = {n: (layer_in if n == x_name else states[n] if n in states else inputs[n]).tolist()
                     for n in names_of(spec, "inputs", v)}
            return {k: np.asarray(a, dtype=np.float64)
                    for k, a in run_reference(model_spec, given, params, variant=v, mode="float").items()}

        masked, free = reference(layer_variant), reference(plain_variant)
        out = {}
        for name in timed:
            parts = []
            for r, run in enumerate(st.runs):
                part = _run_blocks(free[name] if run in arg["runs"] else masked[name], st.D)[r].copy()
                if run in arg["runs"] and ctx.lengths is not None:
                    for b, n in enumerate(ctx.lengths):
                        part[n:, b] = 0
                parts.append(part)
            out[name] = np.concatenate(parts, axis=-1)
        for name in finals:
            for r, run in enumerate(st.runs):
                src = free[name] if run in arg["runs"] else masked[name]
                stacks[name][indices[r]] = src[r] if one.stacked else src
        layer_in = out[timed[0]]
    result = {name: out[name].tolist() for name in timed}
    for name in finals:
        ordered = [stacks[name][k] for k in sorted(stacks[name])]
        result[name] = (np.stack(ordered) if st.stacked else ordered[0]).tolist()
    return result
