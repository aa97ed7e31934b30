"""Localization: where a failing implementation's outputs go wrong, from the data alone.

Given the outputs an implementation returned for its failing cases, compare them
element by element with the goldens (the spec's tolerance for the dtype) and say
what the data shows: which outputs fail and which pass, what that says about the
step equations (through each output's `from` in the spec), the first failing step
and batch row of the output that holds every step (`take: all_steps`; its first
axis is time), whether step 0 is right while later steps drift, whether one batch
row or all fail, and whether the error grows with t. No output is known by name:
names, `from` and `take` come from spec.data["outputs"].
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..cases.golden import GoldenCase
from ..spec.loader import Spec
from ..spec.variants import array_dtype, array_shape, names_of, shape_labels, structure

SHOWN = 3            # case ids listed before "..."
MIN_TREND_STEPS = 4  # steps a case needs before its error trend over t is measured
GROWS_RATIO = 1.5    # second-half max error at least this multiple of the first half's (a linear rise gives ~2) ...
GROWS_RHO = 0.5      # ... and a rank correlation with t at least this: the error grows with t
WIDTH = 100


@dataclass
class OutputData:
    """One output of one failing case: its status and, when judgeable, the elementwise error."""

    status: str                      # "pass", "fail" or "shape" (not an ndarray of the expected shape)
    err: np.ndarray | None = None    # |actual - expected|, the output's shape
    over: np.ndarray | None = None   # err beyond atol + rtol |expected| (NaN counts as over)
    ratio: dict[str, float] = field(default_factory=dict)  # dtype -> max err / that dtype's tolerance
    shape: tuple[int, ...] | None = None


@dataclass
class CaseData:
    case: GoldenCase
    outputs: dict[str, OutputData]


@dataclass
class Finding:
    """One thing the data shows: a kind, the sentence, and its figures."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Localization:
    dtype: str
    cases: list[str]
    outputs: dict[str, dict[str, list[str]]]  # output -> {"fails", "passes", "wrong_shape"}: case ids
    findings: list[Finding]

    def finding(self, kind: str) -> Finding | None:
        return next((f for f in self.findings if f.kind == kind), None)

    def lines(self) -> list[str]:
        head = (f"Where it goes wrong: the {len(self.cases)} failing case(s)' outputs against the goldens "
                f"({self.dtype} tolerance):")
        return [*wrap(head, "  ", "    "), *(ln for f in self.findings for ln in wrap(f.text, "    - ", "      "))]

    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "cases": self.cases, "outputs": self.outputs,
                "findings": [{"kind": f.kind, "text": f.text, **f.data} for f in self.findings]}


def wrap(text: str, first: str, rest: str) -> list[str]:
    """`text` in lines of at most WIDTH columns (words are never split)."""
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def localize(spec: Spec, dtype: str, runs: Sequence[tuple[GoldenCase, Mapping[str, Any] | Sequence[Any]]]) -> Localization:
    """What the failing cases' outputs (`runs`: (case, outputs by the spec's names, or in spec order)) show."""
    data = [CaseData(case, _judge(spec, dtype, case, result)) for case, result in runs]
    names = spec.output_names
    table = {n: {s: [d.case.id for d in data if d.outputs[n].status == k]
                 for s, k in (("fails", "fail"), ("passes", "pass"), ("wrong_shape", "shape"))} for n in names}
    findings = [_outputs_finding(names, table, len(data))]
    for make in (_state_finding, _plumbing_finding, _shape_finding):
        findings += make(spec, data)
    timed = [n for n in names if spec.data["outputs"][n]["take"] == "all_steps"]
    for name in timed:
        findings += _time_findings(spec, name, data)
    findings += _row_finding(spec, data)
    findings += _run_finding(spec, data)
    findings += _layer_finding(spec, data)
    findings += _lengths_finding(spec, data)
    findings += _precision_finding(spec, dtype, data)
    return Localization(dtype, [d.case.id for d in data], table, findings)


# ---------------------------------------------------------------- elementwise judgement

def _judge(spec: Spec, dtype: str, case: GoldenCase, result: Mapping[str, Any] | Sequence[Any]) -> dict[str, OutputData]:
    atol, rtol = spec.tolerance(dtype)
    out = {}
    named = result if isinstance(result, Mapping) else dict(zip(spec.output_names, result))
    for name in spec.output_names:
        value = named.get(name)
        expected = np.asarray(case.record["expected"][name], dtype=np.float64)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != expected.shape:
            out[name] = OutputData("shape", shape=getattr(value, "shape", None))
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(value.astype(np.float64) - expected)
            over = ~(err <= atol + rtol * np.abs(expected))
            ratio = {d: _max(err / (a + r * np.abs(expected))) for d in spec.dtypes for a, r in [spec.tolerance(d)]}
        out[name] = OutputData("fail" if over.any() else "pass", err, over, ratio, value.shape)
    return out


def _max(a: np.ndarray) -> float:
    return float("inf") if a.size and np.isnan(a).any() else (float(a.max()) if a.size else 0.0)


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(ids[:SHOWN]) + (", ..." if len(ids) > SHOWN else "")


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ---------------------------------------------------------------- which outputs fail

def _outputs_finding(names: list[str], table: dict, n: int) -> Finding:
    parts = []
    for name in names:
        counts = [(len(table[name][k]), k) for k in ("fails", "wrong_shape", "passes")]
        if counts[2][0] == n:
            parts.append(f"{name} passes in every one")
            continue
        words = {"fails": "fails in", "wrong_shape": "has the wrong shape in", "passes": "passes in"}
        said = [f"{words[k]} {c}" + (f" of {n}" if not j else "") for j, (c, k) in enumerate(x for x in counts if x[0])]
        if table[name]["passes"]:
            said[-1] += f" ({_ids(table[name]['passes'])})"
        parts.append(f"{name} " + ", ".join(said))
    return Finding("outputs", f"Per output, over the {n} failing case(s): " + "; ".join(parts) + ".",
                   {"failing_cases": n})


def _sources(spec: Spec) -> dict[str, list[str]]:
    """State quantity -> the outputs taken from it (spec order)."""
    out: dict[str, list[str]] = {}
    for name, entry in spec.data["outputs"].items():
        out.setdefault(entry["from"], []).append(name)
    return out


def _state_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """A state whose outputs all pass while another's all fail: the error is in the other's equation."""
    sources, equations = _sources(spec), spec.data["step"]["equations"]
    found = []
    for good, good_outs in sources.items():
        for bad, bad_outs in sources.items():
            hits = [d.case.id for d in data if all(d.outputs[n].status == "pass" for n in good_outs)
                    and all(d.outputs[n].status == "fail" for n in bad_outs)]
            if good == bad or not hits or bad not in equations:
                continue
            text = (f"{_and(good_outs)} {_verb(good_outs, 'pass')} while {_and(bad_outs)} "
                    f"{_verb(bad_outs, 'fail')}: {good} is right and the error is in the {bad} equation "
                    f"({bad} = {equations[bad]}) or in what {bad} reads.")
            if len(hits) == len(data):
                text = text.replace(f" {_verb(good_outs, 'pass')} ", f" {_verb(good_outs, 'pass')} in every failing "
                                                                      "case ", 1)
            else:
                text = (f"In {len(hits)} of {len(data)} failing case(s) ({_ids(hits)}{_dims_note(hits, data)}) "
                        + text.replace(f": {good} is right", f": there {good} is right", 1))
            found.append(Finding("state", text, {"right": good, "wrong": bad, "passing_outputs": good_outs,
                                                 "failing_outputs": bad_outs, "cases": hits}))
    return found


def _verb(names: Sequence[str], verb: str) -> str:
    return verb + ("es" if verb.endswith("s") else "s") if len(names) == 1 else verb


def _dims_note(ids: list[str], data: list[CaseData]) -> str:
    """'; all with T = 1' when the cases share the value of a dimension the other failing cases lack."""
    dims = [d.case.record["dims"] for d in data if d.case.id in ids]
    others = [d.case.record["dims"] for d in data if d.case.id not in ids]
    for dim in dims[0]:
        value = dims[0][dim]
        if all(x[dim] == value for x in dims) and all(x[dim] != value for x in others):
            return f"; all with {dim} = {value}"
    for dim in dims[0]:  # a dimension of size 1 (one step, one row) whose every failing case is here
        if any(x[dim] == 1 for x in dims) and all(x[dim] != 1 for x in others):
            return f"; every failing case with {dim} = 1 among them"
    return ""


def _plumbing_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """The all-steps output and a last-step output of one state disagree at the last step.

    Then the state is computed right and one of them is returned wrong (an error that merely
    fades by the last step leaves both right there, and is not reported here)."""
    found = []
    for state, outs in _sources(spec).items():
        timed = [o for o in outs if spec.data["outputs"][o]["take"] == "all_steps"]
        for every in timed:
            for last in (o for o in outs if spec.data["outputs"][o]["take"] == "last_step"):
                for wrong, right in ((every, last), (last, every)):
                    hits = [c.case.id for c in data if _last_step_disagrees(c, every, last, wrong)]
                    if hits:
                        found.append(_plumbing(spec, state, wrong, right, hits, len(data)))
    return found


def _last_step_disagrees(c: CaseData, every: str, last: str, wrong: str) -> bool:
    """In case `c`, is `wrong` wrong at the last step while the other output is right there?"""
    e, l = c.outputs[every], c.outputs[last]
    if e.over is None or l.over is None or c.case.record["variant"]:
        return False  # only one forward run over every step ends at y's last step
    every_bad = bool(e.over[-1].any())  # (B, H): the last step
    return (every_bad and not l.over.any()) if wrong == every else (not e.over.any() and bool(l.over.any()))


def _plumbing(spec: Spec, state: str, wrong: str, right: str, hits: list[str], n: int) -> Finding:
    take = spec.data["outputs"][wrong]["take"]
    where = "every failing case" if len(hits) == n else f"{len(hits)} of {n} failing case(s) ({_ids(hits)})"
    text = (f"In {where} {wrong} is wrong at the last step while {right} (also from {state}) is right: {state} "
            f"is computed right and {wrong} ({take} of {state}) is returned wrong.")
    return Finding("plumbing", text, {"state": state, "wrong": wrong, "right": right, "cases": hits})


def _shape_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """An output of the wrong shape, named by the spec's dimensions where it is a permutation."""
    found = []
    for name in spec.output_names:
        bad = [d for d in data if d.outputs[name].status == "shape"]
        if not bad:
            continue
        text = f"{name} has the wrong shape in {len(bad)} failing case(s) ({_ids([d.case.id for d in bad])})"
        perm = _permuted_dims(spec, name, bad)
        if perm:
            text += (f": it comes back as ({', '.join(perm[0])}) = {perm[1]} where the spec says "
                     f"({', '.join(perm[2])}) = {perm[3]} (case {perm[4]}), the axes permuted")
        found.append(Finding("shape", text + ".", {"output": name, "cases": [d.case.id for d in bad],
                                                  "as_dims": list(perm[0]) if perm else None}))
    return found


def _permuted_dims(spec: Spec, name: str, bad: list[CaseData]) -> tuple | None:
    """(actual dims, actual shape, spec dims, expected shape, case) for a case whose sizes tell the dims apart."""
    for d in bad:
        labels = shape_labels(spec, "outputs", name, d.case.record["variant"])
        expected = array_shape(spec, "outputs", name, d.case.record["variant"], d.case.record["dims"])
        actual = d.outputs[name].shape
        if actual is None or len(set(expected)) != len(expected) or sorted(actual) != sorted(expected) \
                or tuple(actual) == expected:
            continue
        as_dims = tuple(labels[expected.index(s)] for s in actual)
        return as_dims, tuple(actual), tuple(labels), expected, d.case.id
    return None


# ---------------------------------------------------------------- over time and batch rows

def _time_findings(spec: Spec, name: str, data: list[CaseData]) -> list[Finding]:
    """First failing step and row, step 0 against later steps, the error's trend over t (time axis 0)."""
    failing = [d for d in data if d.outputs[name].status == "fail"]
    if not failing:
        return []
    firsts = [(_first_step(d.outputs[name].over), d) for d in failing]
    t, d = min(firsts, key=lambda p: p[0])
    over_t = d.outputs[name].over[t]  # (B, H): the state's axes at step t
    b = int(np.argwhere(over_t.any(axis=tuple(range(1, over_t.ndim))))[0][0]) if over_t.ndim > 1 else 0
    text = f"{name} first goes wrong at step t = {t}, batch row b = {b} (case {d.case.id})"
    multi = [(f, c) for f, c in firsts if c.outputs[name].over.shape[0] > 1]
    text += _step0_text(multi)
    found = [Finding("first_failure", text, {"output": name, "t": t, "b": b, "case": d.case.id,
                                             "first_step": {c.case.id: f for f, c in firsts}})]
    found += _drift_finding(name, multi)
    found += _growth_finding(name, failing)
    return found


def _first_step(over: np.ndarray) -> int:
    return int(np.argmax(over.reshape(over.shape[0], -1).any(axis=1)))  # (T, B*H) -> first t with an error


def _step0_text(multi: list[tuple[int, CaseData]]) -> str:
    if not multi:
        return "."
    at0 = sum(1 for f, _ in multi if f == 0)
    if at0 == len(multi):
        return f"; it fails from step 0 in every failing case with more than one step ({len(multi)})."
    if at0 == 0:
        return f"; step 0 is right in every failing case with more than one step ({len(multi)})."
    return f"; it fails from step 0 in {at0} of the {len(multi)} failing case(s) with more than one step."


def _drift_finding(name: str, multi: list[tuple[int, CaseData]]) -> list[Finding]:
    """Step 0 right and later steps wrong in every multi-step case: the state is carried wrong."""
    if not multi or any(f == 0 for f, _ in multi):
        return []
    start = min(f for f, _ in multi)
    later = [c.outputs[name].over.reshape(c.outputs[name].over.shape[0], -1).any(axis=1)[f:] for f, c in multi]
    wrong, total = sum(int(x.sum()) for x in later), sum(x.size for x in later)
    right = "step 0 is right" if start == 1 else f"steps 0 to {start - 1} are right"
    text = (f"{right}, steps from {start} on are wrong: the state is carried wrong between steps "
            f"({name}; in all {len(multi)} failing case(s) with more than one step, {wrong} of the {total} "
            f"steps from the first wrong one on fail).")
    return [Finding("drift", text, {"output": name, "first_wrong_step": start, "later_steps_failing": wrong,
                                    "later_steps": total, "cases": [c.case.id for _, c in multi]})]


def _growth_finding(name: str, failing: list[CaseData]) -> list[Finding]:
    """Does the per-step max error grow with t? Halves' max error ratio and Spearman's rank correlation."""
    long = [d for d in failing if d.outputs[name].err.shape[0] >= MIN_TREND_STEPS]
    if not long:
        return []
    trends = {d.case.id: _trend(d.outputs[name].err) for d in long}
    grows = [i for i, (r, rho) in trends.items() if r >= GROWS_RATIO and rho >= GROWS_RHO]
    d = max(long, key=lambda c: c.outputs[name].err.shape[0])
    ratio, rho = trends[d.case.id]
    steps = d.outputs[name].err.shape[0]
    half = steps // 2
    lo, hi = _step_max(d.outputs[name].err)[:half].max(), _step_max(d.outputs[name].err)[half:].max()
    verb = "grows" if d.case.id in grows else \
        "shrinks" if ratio <= 1 / GROWS_RATIO and rho <= -GROWS_RHO else "does not grow"
    text = (f"{name}'s error {verb} with t: in {d.case.id} the max |error| over steps {half} to {steps - 1} is "
            f"{hi:.3g}, {_times(ratio)} that over steps 0 to {half - 1} ({lo:.3g}); rank correlation of the "
            f"per-step max error with t: {rho:.2f}. It grows (ratio >= {GROWS_RATIO:g}, correlation >= "
            f"{GROWS_RHO:g}) in {len(grows)} of {len(long)} failing case(s) with at least {MIN_TREND_STEPS} steps.")
    return [Finding("growth", text, {"output": name, "case": d.case.id, "half_ratio": ratio, "spearman": rho,
                                     "grows": d.case.id in grows, "grows_in": grows, "measured_in": len(long),
                                     "trends": {i: {"half_ratio": r, "spearman": s} for i, (r, s) in trends.items()}})]


def _times(ratio: float) -> str:
    return "infinitely many times" if ratio == float("inf") else f"{ratio:.3g}x"


def _step_max(err: np.ndarray) -> np.ndarray:
    return np.nan_to_num(err.reshape(err.shape[0], -1).max(axis=1), nan=np.inf)  # (T, B*H) -> (T,)


def _trend(err: np.ndarray) -> tuple[float, float]:
    """(max error of the second half of the steps / the first half's, Spearman's rho of the step max with t)."""
    per_step = _step_max(err)
    half = per_step.size // 2
    first, second = per_step[:half].max(), per_step[half:].max()
    ratio = float(second / first) if first > 0 else (float("inf") if second > 0 else 1.0)
    return ratio, _spearman(per_step)


def _spearman(values: np.ndarray) -> float:
    """Rank correlation of `values` with their index (average ranks for ties); 0 when `values` are constant."""
    ranks = _ranks(np.where(np.isfinite(values), values, np.finfo(np.float64).max))
    t = np.arange(values.size, dtype=np.float64)
    if ranks.std() == 0:
        return 0.0
    return float(np.corrcoef(ranks, t)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the average rank of a group of ties: its first and last rank's mean
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def _row_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """One batch row failing, or every row, over the failing cases with more than one row."""
    batch = str(next(e for e in spec.data["outputs"].values() if e["take"] == "all_steps")["shape"][1])
    rows = {}
    for d in data:
        size = d.case.record["dims"][batch]
        bad = _failing_rows(spec, batch, d)
        if size > 1 and bad:
            rows[d.case.id] = (sorted(bad), size)
    if not rows:
        return []
    n = len(rows)
    every = [i for i, (r, s) in rows.items() if len(r) == s]
    if all(len(r) == 1 for r, _ in rows.values()):
        text, kind = f"Only one batch row fails in each of the {n} failing case(s) with {batch} > 1: " \
            f"{_which_row(batch, rows)}.", "one_row"
    elif len(every) == n:
        text, kind = f"Every batch row fails in each of the {n} failing case(s) with {batch} > 1.", "all_rows"
    else:
        some = [f"{len(r)} of {s} in {i}" for i, (r, s) in rows.items() if i not in every]
        text = (f"Every batch row fails in {len(every)} of the {n} failing case(s) with {batch} > 1; in the others "
                f"only some do: {', '.join(some[:SHOWN])}{', ...' if len(some) > SHOWN else ''}.")
        kind = "some_rows"
    return [Finding("rows", text, {"dimension": batch, "failing_rows": {i: r for i, (r, _) in rows.items()},
                                   "pattern": kind})]


def _which_row(batch: str, rows: dict[str, tuple[list[int], int]]) -> str:
    if all(r == [s - 1] for r, s in rows.values()):
        return f"the last row (b = {batch}-1) in every one"
    if all(r == [0] for r, _ in rows.values()):
        return "row b = 0 in every one"
    return ", ".join(f"b = {r[0]} in {i}" for i, (r, _) in list(rows.items())[:SHOWN]) + (", ..." if len(rows) > SHOWN else "")


def _failing_rows(spec: Spec, batch: str, d: CaseData) -> set[int]:
    """Rows of the batch dimension with an error in any judgeable output."""
    rows: set[int] = set()
    for name, out in d.outputs.items():
        labels = shape_labels(spec, "outputs", name, d.case.record["variant"])  # (L * D, B, H) when stacked
        if out.over is None or batch not in labels:
            continue
        axis = labels.index(batch)
        others = tuple(k for k in range(out.over.ndim) if k != axis)
        rows |= {int(i) for i in np.flatnonzero(out.over.any(axis=others))}
    return rows


# ---------------------------------------------------------------- how far off

def _precision_finding(spec: Spec, dtype: str, data: list[CaseData]) -> list[Finding]:
    """The worst error against this dtype's tolerance, and a coarser dtype whose tolerance it meets."""
    fails = [(d.case.id, n, o) for d in data for n, o in d.outputs.items() if o.status == "fail"]
    if not fails:
        return [Finding("values", "Every judgeable output is within tolerance in the failing cases: they fail on "
                                  "a shape, a dtype or a range invariant (see the run's reasons).")]
    case, name, out = max(fails, key=lambda f: f[2].ratio[dtype])
    worst = _max(out.err)
    text = f"The worst error is {worst:.3g} in {name} (case {case}), {out.ratio[dtype]:.3g}x the {dtype} tolerance"
    atol = spec.tolerance(dtype)[0]
    coarser = sorted((spec.tolerance(d)[0], d) for d in spec.dtypes if spec.tolerance(d)[0] > atol)
    within = next((d for _, d in coarser if all(o.ratio[d] <= 1 for *_, o in fails)), None)
    if within:
        text += f"; every failing output is within the {within} tolerance: does it compute (partly) in {within}?"
    else:
        text += "."
    return [Finding("worst", text, {"case": case, "output": name, "max_abs_err": worst,
                                          "over_tolerance": out.ratio[dtype], "within": within})]


# ---------------------------------------------------------------- sequence structure: runs, layers, lengths

def _split(spec: Spec, d: CaseData) -> tuple[list[str], list[str]]:
    """(all-steps outputs, stacked state outputs) of a case that can be judged elementwise."""
    timed = [n for n, e in spec.data["outputs"].items() if e["take"] == "all_steps" and d.outputs[n].over is not None]
    states = [n for n, e in spec.data["outputs"].items() if "stacked_shape" in e and d.outputs[n].over is not None]
    return timed, states


def _run_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """With two or more runs per layer: which run's part of y and which run's states go wrong."""
    per: dict[str, dict[str, list[str]]] = {}
    cases = []
    for d in data:
        st = structure(spec, d.case.record["variant"])
        if st.D < 2:
            continue
        cases.append(d.case.id)
        timed, states = _split(spec, d)
        for r, run in enumerate(st.runs):
            got = per.setdefault(run, {"outputs": [], "states": []})
            if any(np.split(d.outputs[n].over, st.D, axis=-1)[r].any() for n in timed):
                got["outputs"].append(d.case.id)
            if any(d.outputs[n].over.reshape(st.L, st.D, *d.outputs[n].over.shape[1:])[:, r].any() for n in states):
                got["states"].append(d.case.id)
    if not any(v["outputs"] or v["states"] for v in per.values()):
        return []
    parts = [f"the {run} run's part of y fails in {len(v['outputs'])}, its states in {len(v['states'])}"
             for run, v in per.items()]
    text = f"By run, in the {len(cases)} failing case(s) with D > 1: " + "; ".join(parts) + "."
    right = [run for run, v in per.items() if not v["outputs"] and not v["states"]]
    if right and len(right) < len(per):
        text += f" The {_and(right)} run{'s are' if len(right) > 1 else ' is'} right everywhere."
    return [Finding("runs", text, {"cases": cases, "runs": per, "right": right})]


def _layer_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """With stacked layers: which layers' final states go wrong (y is the last layer's)."""
    per: dict[int, list[str]] = {}
    cases = []
    for d in data:
        st = structure(spec, d.case.record["variant"])
        if st.L < 2:
            continue
        cases.append(d.case.id)
        _, states = _split(spec, d)
        for layer in range(st.L):
            ids = per.setdefault(layer, [])
            if any(d.outputs[n].over.reshape(st.L, st.D, *d.outputs[n].over.shape[1:])[layer].any() for n in states):
                ids.append(d.case.id)
    if not any(per.values()):
        return []
    parts = [f"layer {k} in {len(v)}" for k, v in sorted(per.items())]
    text = (f"By layer, in the {len(cases)} failing case(s) with L > 1, the final states (h_n, c_n at "
            f"layer * D + run) fail at " + ", ".join(parts) + ".")
    right = [k for k, v in sorted(per.items()) if not v]
    if 0 in right and len(right) < len(per):
        text += (" Layer 0 is right: the error is in how a later layer runs, in its initial state or in "
                 "what it reads from the layer below.")
    return [Finding("layers", text, {"cases": cases, "failing_by_layer": per, "right_layers": right})]


def _batch_label(spec: Spec) -> str:
    return str(next(e for e in spec.data["outputs"].values() if e["take"] == "all_steps")["shape"][1])


def _lengths(spec: Spec, d: CaseData) -> np.ndarray | None:
    variant = d.case.record["variant"]
    names = [n for n in names_of(spec, "inputs", variant) if array_dtype(spec, "inputs", n) is not None]
    return np.asarray(d.case.record["inputs"][names[0]], dtype=np.int64) if names else None


def _lengths_finding(spec: Spec, data: list[CaseData]) -> list[Finding]:
    """With row lengths: y within each row's length against past it, and the rows by their length."""
    within, past, full, short, empty, cases = [], [], [], [], [], []
    for d in data:
        lengths = _lengths(spec, d)
        if lengths is None:
            continue
        cases.append(d.case.id)
        timed, _ = _split(spec, d)
        T = d.case.record["dims"]["T"]
        steps = np.arange(T)[:, None] < lengths[None, :]  # (T, B): inside the row's length
        for n in timed:
            over = d.outputs[n].over.reshape(T, len(lengths), -1).any(axis=-1)
            if (over & steps).any():
                within.append(d.case.id)
            if (over & ~steps).any():
                past.append(d.case.id)
        rows = _failing_rows(spec, _batch_label(spec), d)
        full += [d.case.id] if any(lengths[b] == T for b in rows) else []
        short += [d.case.id] if any(0 < lengths[b] < T for b in rows) else []
        empty += [d.case.id] if any(lengths[b] == 0 for b in rows) else []
    if not (within or past or full or short or empty):
        return []
    text = (f"With row lengths, in the {len(cases)} failing case(s): y fails within the rows' lengths in "
            f"{len(set(within))}, past them (where the spec has 0) in {len(set(past))}; rows of length T fail "
            f"in {len(full)}, shorter rows in {len(short)}, rows of length 0 in {len(empty)}.")
    if past and not within:
        text += " Only the padding is wrong in y: the steps past each row's length are not zeroed."
    if short and not full:
        text += " Rows that use every step are right: the error is in how a shorter row stops or starts."
    return [Finding("lengths", text, {"cases": cases, "within": sorted(set(within)), "past": sorted(set(past)),
                                      "full_rows": full, "short_rows": short, "empty_rows": empty})]
