"""The golden case list (golden/case_list.yaml) and its seeded input generator."""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import paths
from ..spec.loader import Spec, SpecError, read_yaml_document
from ..spec.variants import VariantError, array_dtype, array_shape, cell_bases, check_variant, names_of, parameters

CASE_LIST_SCHEMA = "lstm-case-list/1"
ROLE_ALIASES = {"input_weight": "W", "recurrent_weight": "U", "bias": "b", "peephole": "p", "layer_norm": "ln",
                "projection": "W_proj", "projection_bias": "b_proj"}
DISTRIBUTIONS = ("uniform", "magnitude")
EXACT_IN = {"float64": np.float64, "float32": np.float32}

# flag -> (what it promises, a check on the generated case); see check_flags.
FLAG_TEXT = {
    "general": "a general case",
    "edge_size": "I = 1 or H = 1",
    "long_sequence": "T >= 64",
    "full_precision_inputs": "some input or parameter is not exactly representable in float32",
    "saturating_50": "pre-activations beyond +50 and below -50",
    "saturating_800": "pre-activations beyond +800 and below -800",
    "large_cell": "|c| reaches 5 or more",
    "large_inputs": "some |x| is 100 or more",
    "short_rows": "some row is shorter than T (seq_lengths), its padding filled with large garbage",
    "zero_length_row": "some row has length 0",
    "past_boundaries": "B, I or H past a SIMD or tile boundary (> 8, 16, 32, 64 or 128, not a multiple of 8), or T >= 200",
    "clip_binds": "every quantity a clipping feature edits sits at +threshold and at -threshold at some step",
    "crosses_breakpoints": "every piecewise activation the variant picks takes every branch of its definition "
                           "(both sides of each where, min and max) at some step",
}
# Padding (x past a row's length) is filled from this distribution unless the case list's defaults
# say otherwise: large and non-zero, so that an implementation that reads padding fails.
PADDING = "padding"


class CaseListError(ValueError):
    """A malformed case list entry: names the file, the case and the key."""


@dataclass
class CaseDef:
    """One entry of the case list."""

    id: str
    comment: str
    flags: list[str]
    dims: dict[str, int]
    seed: int
    exact_in: str
    arrays: dict[str, dict] = field(default_factory=dict)
    variant: dict = field(default_factory=dict)
    lengths: list[int] | None = None  # each row's length, when the variant has lengths


def case_list_file() -> Path:
    return paths.golden_dir() / "case_list.yaml"


def load_case_list(path: str | Path | None = None, spec: Spec | None = None) -> list[CaseDef]:
    """Parse and check the case list."""
    path, data = _read(path)
    if data.get("schema") != CASE_LIST_SCHEMA:
        raise CaseListError(f"{path}: schema should be {CASE_LIST_SCHEMA!r}")
    defaults = data.get("defaults") or {}
    seen: set[str] = set()
    out = []
    for k, entry in enumerate(data.get("cases") or []):
        where = f"{path}: cases[{k}]"
        if not isinstance(entry, dict):
            raise CaseListError(f"{where}: should be a mapping")
        unknown = set(entry) - {"id", "comment", "flags", "dims", "seed", "exact_in", "arrays", "variant", "lengths"}
        if unknown:
            raise CaseListError(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("id", "comment", "flags", "dims", "seed"):
            if key not in entry:
                raise CaseListError(f"{where}: missing key {key!r}")
        case = CaseDef(id=str(entry["id"]), comment=str(entry["comment"]), flags=list(entry["flags"]),
                       dims=dict(entry["dims"]), seed=entry["seed"],
                       exact_in=entry.get("exact_in", defaults.get("exact_in", "float64")),
                       arrays=dict(entry.get("arrays") or {}), variant=dict(entry.get("variant") or {}),
                       lengths=entry.get("lengths"))
        where = f"{path}: case {case.id}"
        if case.id in seen:
            raise CaseListError(f"{where}: duplicate id")
        seen.add(case.id)
        if not isinstance(case.seed, int) or isinstance(case.seed, bool) or case.seed < 0:
            raise CaseListError(f"{where}: seed={case.seed!r}, but should be a non-negative integer")
        if case.exact_in not in EXACT_IN:
            raise CaseListError(f"{where}: exact_in={case.exact_in!r}, but should be one of {sorted(EXACT_IN)}")
        for flag in case.flags:
            if flag not in FLAG_TEXT:
                raise CaseListError(f"{where}: unknown flag {flag!r}; known are {sorted(FLAG_TEXT)}")
        if spec is not None:
            if set(case.dims) != set(spec.dimensions):
                raise CaseListError(f"{where}: dims has {sorted(case.dims)}, but should have {sorted(spec.dimensions)}")
            for name, size in case.dims.items():
                low = spec.data["dimensions"][name].get("min", 0)
                if not isinstance(size, int) or size < low:
                    raise CaseListError(f"{where}: dims.{name}={size!r}, but should be an integer >= {low}")
        if spec is not None:
            _check_variant_and_lengths(case, spec, where)
        arrays = {**{k: v for k, v in defaults.items() if k != "exact_in"}, **case.arrays}
        for name, dist in arrays.items():
            _check_dist(dist, f"{where}: arrays.{name}")
        case.arrays = arrays
        out.append(case)
    if not out:
        raise CaseListError(f"{path}: no cases")
    return out


def _read(path: str | Path | None) -> tuple[Path, dict]:
    """(the case list's path, its parsed document), or CaseListError."""
    path = Path(path) if path is not None else case_list_file()
    try:
        data, _, _ = read_yaml_document(path, None, "the case list")
    except SpecError as exc:
        raise CaseListError(str(exc)) from None
    return path, data


def carry_over_points(path: str | Path | None = None) -> dict[str, list[int]]:
    """The case list's `carry_over`: case id -> the steps k after which the state is carried over."""
    path, data = _read(path)
    points = data.get("carry_over") or {}
    if not isinstance(points, dict) or not all(
            isinstance(ks, list) and ks and all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks)
            for ks in points.values()):
        raise CaseListError(f"{path}: carry_over={points!r}, but should map case ids to lists of steps k >= 1")
    return {str(cid): list(ks) for cid, ks in points.items()}


def case_subsets(path: str | Path | None = None) -> dict[str, list[str]]:
    """The case list's `subsets`: name -> the case ids it holds (each a case of the list)."""
    path, data = _read(path)
    subsets = data.get("subsets") or {}
    ids = {str(c.get("id")) for c in data.get("cases") or [] if isinstance(c, dict)}
    if not isinstance(subsets, dict) or not all(isinstance(v, list) and v and all(isinstance(i, str) for i in v)
                                                for v in subsets.values()):
        raise CaseListError(f"{path}: subsets={subsets!r}, but should map names to lists of case ids")
    for name, members in subsets.items():
        unknown = sorted(set(members) - ids)
        if unknown:
            raise CaseListError(f"{path}: subsets.{name} names {unknown}, which are not cases of the list")
    return {str(k): list(v) for k, v in subsets.items()}


def _check_variant_and_lengths(case: CaseDef, spec: Spec, where: str) -> None:
    """The variant against the spec's features; `lengths` given exactly when the variant has lengths."""
    try:
        check_variant(spec, case.variant, f"{where}: variant")
    except VariantError as exc:
        raise CaseListError(str(exc)) from None
    if ("lengths" in case.variant) != (case.lengths is not None):
        raise CaseListError(f"{where}: lengths={case.lengths!r}, but a variant {'with' if 'lengths' in case.variant else 'without'} "
                            f"lengths should {'give' if 'lengths' in case.variant else 'not give'} them")
    if case.lengths is not None:
        T, B = case.dims["T"], case.dims["B"]
        if not (isinstance(case.lengths, list) and len(case.lengths) == B
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= T for n in case.lengths)):
            raise CaseListError(f"{where}: lengths={case.lengths!r}, but should be B={B} integers in [0, T={T}]")


def _check_dist(dist: Any, where: str) -> None:
    if not (isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in DISTRIBUTIONS):
        raise CaseListError(f"{where}={dist!r}, but should be one of {{uniform: [lo, hi]}}, {{magnitude: [lo, hi]}}")
    lo_hi = next(iter(dist.values()))
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(isinstance(v, float) for v in lo_hi) and lo_hi[0] <= lo_hi[1]):
        raise CaseListError(f"{where}: bounds {lo_hi!r}, but should be two floats lo <= hi (write 1.0, not 1)")


def _distribution(case: CaseDef, spec: Spec, name: str, base: str | None = None) -> dict:
    """The distribution of array `name` (a parameter called `base` in the spec): by name, base name, role."""
    for key in (name, base):
        if key in case.arrays:
            return case.arrays[key]
    from ..spec.cell import all_feature_parameters

    role = {**spec.data["parameters"], **all_feature_parameters(spec)}.get(base or name, {}).get("role")
    alias = ROLE_ALIASES.get(role)
    if alias in case.arrays:
        return case.arrays[alias]
    raise CaseListError(f"case {case.id}: no distribution for array {name!r} (nor its role alias {alias!r})")


def draw_array(case: CaseDef, spec: Spec, name: str, shape: tuple[int, ...], base: str | None = None,
               stream: str | None = None) -> np.ndarray:
    """Draw one array. Each array has its own stream, seeded by (case seed, name)."""
    rng = np.random.default_rng([case.seed, zlib.crc32((stream or name).encode())])
    (kind, (lo, hi)), = _distribution(case, spec, name, base).items()
    values = rng.uniform(lo, hi, size=shape)  # float64
    if kind == "magnitude":
        values = values * rng.choice([-1.0, 1.0], size=shape)
    # round to the grid of exact_in, so that a run at that dtype sees the same numbers
    return values.astype(EXACT_IN[case.exact_in]).astype(np.float64)


def generate(case: CaseDef, spec: Spec) -> tuple[dict[str, list], dict[str, list]]:
    """(inputs, params) as nested lists (floats; integers for integer inputs), in spec order, for the
    case's variant. x past a row's length is padding, filled with large garbage."""
    inputs: dict[str, list] = {}
    for name in names_of(spec, "inputs", case.variant):
        if array_dtype(spec, "inputs", name) is not None:  # the rows' lengths, from the case list
            inputs[name] = list(case.lengths)
            continue
        shape = array_shape(spec, "inputs", name, case.variant, case.dims)
        values = draw_array(case, spec, name, shape)
        if name in spec.step_inputs.values() and case.lengths is not None:  # x (T, B, I): garbage past each length
            garbage = draw_array(case, spec, PADDING, shape, stream=f"{name}/{PADDING}")
            for b, n in enumerate(case.lengths):
                values[n:, b] = garbage[n:, b]
        inputs[name] = values.tolist()
    params = {name: draw_array(case, spec, name, shape, base).tolist()
              for name, (base, shape) in parameters(spec, case.variant, case.dims).items()}
    return inputs, params


def check_case(case: CaseDef, spec: Spec, inputs: dict, params: dict, trace: list[dict]) -> list[str]:
    """What is wrong with a generated case: empty if it keeps its flags' promises
    and the rules every case keeps (distinct per-gate weights, non-zero state, distinct rows)."""
    problems = []
    bases = {name: base for name, (base, _) in parameters(spec, case.variant, case.dims).items()}
    entries = cell_bases(spec, case.variant)  # the cell's parameters, the features' included
    for role in ROLE_ALIASES:
        arrays = {n: np.asarray(params[n]) for n, base in bases.items() if entries[base]["role"] == role}
        names = list(arrays)
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                if np.array_equal(arrays[names[a]], arrays[names[b]]):
                    problems.append(f"{names[a]} equals {names[b]}")
        for n, arr in arrays.items():
            if arr.size > 1 and np.all(arr == arr.flat[0]):
                problems.append(f"{n} is constant")
    for name, entry in spec.data["step"]["state"].items():
        init = np.asarray(inputs[entry["init"]])
        if not np.any(init != 0):
            problems.append(f"{entry['init']} is all zero")
    (x_name,) = spec.step_inputs.values()  # the one input with a time axis
    x = np.asarray(inputs[x_name])  # (T, B, I)
    lengths = case.lengths or [case.dims["T"]] * case.dims["B"]
    dims = case.dims
    if case.dims["B"] > 1 and any(np.array_equal(x[:, i], x[:, j]) for i in range(x.shape[1]) for j in range(i)):
        problems.append("two batch rows of x are equal")
    pre = np.array([v for step in trace for k, vals in step.items() if k.startswith("pre_") for v in vals])
    cells = np.array([v for step in trace for v in step["c"]])
    checks = {
        "edge_size": case.dims["I"] == 1 or case.dims["H"] == 1,
        "long_sequence": case.dims["T"] >= 64,
        "full_precision_inputs": any(
            np.any(np.asarray(v, dtype=np.float64).astype(np.float32).astype(np.float64) != np.asarray(v))
            for v in list(inputs.values()) + list(params.values())),
        "saturating_50": pre.size > 0 and pre.max() > 50 and pre.min() < -50,
        "saturating_800": pre.size > 0 and pre.max() > 800 and pre.min() < -800,
        "large_cell": cells.size > 0 and np.abs(cells).max() >= 5,
        "large_inputs": np.abs(x).max() >= 100,
        "short_rows": min(lengths) < dims["T"],
        "zero_length_row": min(lengths) == 0,
        "past_boundaries": dims["T"] >= 200 or any(
            dims[d] > 8 and dims[d] % 8 != 0 for d in ("B", "I", "H")),
        "general": True,
    }
    if "clip_binds" in case.flags:
        checks["clip_binds"] = _edits_bind(spec, case.variant, trace)
    if "crosses_breakpoints" in case.flags:
        checks["crosses_breakpoints"] = _crosses_breakpoints(spec, case.variant, trace)
    for flag in case.flags:
        if not checks[flag]:
            problems.append(f"flag {flag} promises {FLAG_TEXT[flag]}, which the case does not keep")
    return problems


def _edits_bind(spec: Spec, variant: dict, trace: list[dict]) -> bool:
    """Every equation an object-valued feature with `binds` edits reaches +bound and -bound at some step (so
    a convention that clips something else, or nothing, gives other numbers)."""
    from ..spec.cell import bound_numbers, cell_features, chosen, expand_edits

    numbers = bound_numbers(spec, variant)
    bounds = set(numbers.values())
    edited = [eq for name, feature in cell_features(spec).items() if name in variant and set(feature.get("binds", {})) & set(numbers)
              for edits in chosen(feature, variant[name])["edits"] for eq in expand_edits(spec, edits)]
    if not bounds or not edited:
        return False
    for eq in edited:
        values = {v for step in trace if eq in step for v in step[eq]}
        if not any(b in values and -b in values for b in bounds):
            return False
    return True


def _crosses_breakpoints(spec: Spec, variant: dict, trace: list[dict]) -> bool:
    """Every activation a feature binds, in every run, takes every branch of every where, min and max in its
    definition on the arguments the trace shows it (an equation name passed to the bound function)."""
    import ast

    from ..reference.vectors import ListOps
    from ..spec.cell import bound_functions, cell_features, chosen, expand_edits, onnx_activation
    from ..spec.expressions import evaluate, parse_expression

    # the equation names each bound function is called on, in the variant's edits
    calls_of = [(node.func.id, node.args[0].id)
                for name, feature in cell_features(spec).items() if name in variant
                for edits in chosen(feature, variant[name])["edits"]
                for text in expand_edits(spec, edits).values()
                for node in ast.walk(parse_expression(text.replace("{previous}", "(0)")).tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args
                and isinstance(node.args[0], ast.Name)]
    runs = sorted({step.get("run", 0) for step in trace})
    found_piecewise = False
    ops = ListOps(float, 0.0)
    for run in runs:
        steps = [step for step in trace if step.get("run", 0) == run]
        for alias, value in bound_functions(spec, variant, run).items():
            args = [arg for fn, arg in calls_of if fn == alias]
            name, takes = onnx_activation(spec, value["name"])
            numbers = {k: float(value[k]) for k in takes}
            definition = spec.activations[name]
            taken: set[tuple[int, bool]] = set()
            calls: list[int] = []

            def branch(kind: str):
                def fn(*a):
                    k = len(calls)
                    calls.append(k)
                    if kind == "where":
                        taken.add((k, bool(a[0])))
                        return a[1] if a[0] else a[2]
                    pick = (a[0] <= a[1]) if kind == "min" else (a[0] >= a[1])
                    taken.add((k, pick if a[0] != a[1] else None))
                    return a[0] if pick else a[1]
                return fn
            fns = {"where": branch("where"), "min": branch("min"), "max": branch("max"), "exp": math.exp,
                   "abs": abs, "log": math.log, "sqrt": math.sqrt}
            for step in steps:
                for arg in args:
                    for z in step.get(arg, []):
                        calls.clear()
                        try:
                            evaluate(definition, {**numbers, "z": z}, ops, fns)
                        except OverflowError:
                            pass
            sites = {k for k, _ in taken}
            if sites:
                found_piecewise = True
            if any((k, True) not in taken or (k, False) not in taken for k in sites):
                return False
    return found_piecewise


def length_flags(spec: Spec, inputs: dict, dims: dict[str, int]) -> dict[str, bool]:
    """The flags a case's row lengths decide, both ways (a flag must be set exactly when it holds, since
    the runner skips by them: an adapter following another empty-rows rule skips zero_length_row cases)."""
    names = [n for n, e in spec.data["inputs"].items() if e.get("when") == "lengths" and n in inputs]
    lengths = list(inputs[names[0]]) if names else [dims["T"]] * dims["B"]
    return {"short_rows": min(lengths) < dims["T"], "zero_length_row": min(lengths) == 0}


def case_stats(trace: list[dict]) -> dict[str, float]:
    """Figures a reader of a golden file may want: the extremes the case reaches."""
    pre = [v for step in trace for k, vals in step.items() if k.startswith("pre_") for v in vals]
    cells = [v for step in trace for v in step["c"]]
    return {"max_abs_preactivation": max((abs(v) for v in pre), default=0.0),
            "max_abs_c": max((abs(v) for v in cells), default=0.0)}
