"""spec/conventions.yaml: the known conventions diagnosis tries, and what each of its keys does.

A hypothesis undoes one convention: `feed` transforms what the implementation is
given, `read` transforms what it returns, `model` changes the expected outputs
(the scalar reference on a changed spec). The primitives behind those keys live
here; diagnosis.py only applies a hypothesis and judges the result.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import paths
from .packing_convert import from_packing, to_packing, without_run_time_constants
from .spec_loader import Spec, SpecError, eval_dim, read_yaml_document, spec_from_data

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
    if not entry.get("for_each_gate_order"):
        return [Hypothesis(entry["id"], " ".join(entry["explains"].split()), **base)]
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
                              feed, base["read"], base["model"]))
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
        dims = {d: 2 + 3 * k for k, d in enumerate(spec.dimensions)}  # distinct sizes: "I + H" equals "H + I"
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
    if not hyp.model:
        return hyp
    return Hypothesis(hyp.id, hyp.explains, hyp.feed, hyp.read, hyp.model, _model_spec(spec, hyp, path))


def _model_spec(spec: Spec, hyp: Hypothesis, path: Path) -> Spec:
    data = copy.deepcopy(spec.data)
    for name, definition in hyp.model.get("activations", {}).items():
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


# ---------------------------------------------------------------- feed: what the implementation is given

def feed(spec: Spec, hyp: Hypothesis, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    """The inputs and parameters that undo `hyp`'s convention."""
    inputs, params = dict(inputs), dict(params)
    for key, arg in hyp.feed.items():
        inputs, params = FEED[key](spec, arg, inputs, params)
    return inputs, params


def _gate_order(spec: Spec, order: str, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    # the implementation uses block k (spec gate k) as gate order[k]: give block k gate order[k]'s parameters
    gates = list(spec.data["gates"])
    by_gate = {g: {e["role"]: n for n, e in spec.data["parameters"].items() if e["gate"] == g} for g in gates}  # role -> name
    out = dict(params)
    for spec_gate, used_as in zip(gates, order.split(",")):
        for role, name in by_gate[spec_gate].items():
            out[name] = params[by_gate[used_as][role]]
    return inputs, out


def _transposed_reads(spec: Spec, names: list, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    # it takes an (r, c) buffer as (c, r) and transposes: give it P.T laid out as (r, c)
    return inputs, {n: (np.ascontiguousarray(a.T).reshape(a.shape) if n in names else a) for n, a in params.items()}


def _repack(spec: Spec, arg: dict, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    # it computes with from_packing(read, to_packing(written, P)); feed from_packing(written, to_packing(read, P))
    return inputs, from_packing(spec, arg["written"], to_packing(spec, arg["read"], params))


def _subtract_constants(spec: Spec, packing: str, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    return inputs, without_run_time_constants(spec.packings[packing], params)


def _scale(spec: Spec, factors: dict, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    return inputs, {n: (a * np.asarray(factors[n], a.dtype) if n in factors else a) for n, a in params.items()}


def _reverse_inputs(spec: Spec, names: list, inputs: Arrays, params: Arrays) -> tuple[Arrays, Arrays]:
    return {n: (np.ascontiguousarray(a[::-1]) if n in names else a) for n, a in inputs.items()}, params


FEED: dict[str, Callable[[Spec, Any, Arrays, Arrays], tuple[Arrays, Arrays]]] = {
    "gate_order": _gate_order,
    "transposed_reads": _transposed_reads,
    "repack": _repack,
    "subtract_run_time_constants_of": _subtract_constants,
    "scale": _scale,
    "reverse_time": _reverse_inputs,
}


# ---------------------------------------------------------------- read: what it returns

def read(hyp: Hypothesis, outputs: Arrays) -> Arrays:
    """The outputs with `hyp`'s convention undone (ndarrays; a transform that does not fit their
    shapes raises ValueError or IndexError)."""
    outputs = dict(outputs)
    for key, arg in hyp.read.items():
        outputs = READ[key](arg, outputs)
    return outputs


def _reverse_outputs(names: list, outputs: Arrays) -> Arrays:
    return {n: (np.ascontiguousarray(a[::-1]) if n in names else a) for n, a in outputs.items()}


def _swap_axes(axes: dict, outputs: Arrays) -> Arrays:
    # it returns the output with two axes exchanged, e.g. y as (B, T, H): exchange them back, (T, B, H)
    return {n: (np.ascontiguousarray(np.swapaxes(a, *axes[n])) if n in axes else a) for n, a in outputs.items()}


def _shift_time(arg: dict, outputs: Arrays) -> Arrays:
    # y[t] holds h_(t-1): the spec's y[t] is its y[t + 1], and the last step is fill_last_from
    y = outputs["y"]
    return {**outputs, "y": np.concatenate([y[1:], outputs[arg["fill_last_from"]][None]], axis=0)}


READ: dict[str, Callable[[Any, Arrays], Arrays]] = {
    "reverse_time": _reverse_outputs,
    "shift_time": _shift_time,
    "swap_axes": _swap_axes,
}
