"""Diagnosis: when an implementation fails, which known convention (spec/conventions.yaml) explains it.

For each hypothesis the search runs the implementation again with the convention
undone (conventions.feed / read / model) and judges the result as the runner does.
It calls the implementation as runner.run_case does: compute(inputs, params, variant)
when the adapter has it, forward only for base cases of a forward-only adapter, and takes
the outputs by the spec's names. A hypothesis is tried only on the cases its
`applies_when` allows; it explains the failure when some failing case is among them,
every judged case among them passes with it undone, and every other judged case passed
as it is. It screens each hypothesis on a few failing cases, then confirms it on the
rest. The search knows no hypothesis by name.
Whether or not a hypothesis explains the failure, the failing cases' own outputs
are localized (localize.py): which outputs, steps and batch rows go wrong.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


from ..judge.compare import judge_case, named_outputs
from ..diagnosis.conventions import Hypothesis, case_context, expected_outputs, feed, load_conventions, read
from ..run.executor import DEFAULT_START_TIMEOUT, AdapterMisbehaved, AdapterRaised, CaseTimeout, WorkerDied
from ..cases.golden import GoldenCase, load_golden
from ..diagnosis.localize import Localization, localize, wrap
from ..run.adapters import AdapterError
from ..run.runner import DEFAULT_TIMEOUT, NOT_RUN, RunResult, _protocol, case_arrays, open_executor, run_conformance
from ..spec.loader import Spec, load_spec

SCREEN = 3  # failing cases a hypothesis must fix before it is tried on all cases


@dataclass
class Finding:
    """A hypothesis that made every judged case pass."""

    hypothesis: Hypothesis
    cases: int       # judged cases it applies to, every one passing with it undone
    others: int = 0  # judged cases it does not apply to, every one passing as it is

    def text(self) -> str:
        h = self.hypothesis
        if not self.others:
            return f"Matches the spec if {h.explains} [{h.id}; all {self.cases} judged cases pass with it undone]"
        return (f"Matches the spec if {h.explains} [{h.id}; all {self.cases} judged cases with {h.where()} pass "
                f"with it undone, the {self.others} others as they are]")


@dataclass
class Diagnosis:
    impl: str
    dtype: str
    failing: list[str]
    judged: int
    tried: int = 0
    explained_by: list[Finding] = field(default_factory=list)
    not_diagnosable: list[str] = field(default_factory=list)  # cases that errored (skipped ones are left out)
    seconds: float = 0.0
    localization: Localization | None = None  # what the failing cases' outputs show
    not_run: str | None = None  # why no case was judged ("21 skipped: ..."), when none was

    @property
    def conforms(self) -> bool:
        """Some case was judged, and none failed or errored (a run that judged nothing never conforms)."""
        return self.judged > 0 and not self.failing and not self.not_diagnosable

    def lines(self) -> list[str]:
        head = f"Diagnosis of {self.impl} at {self.dtype}:"
        if self.not_run is not None:
            return [f"{head} NOT RUN: nothing was judged, {self.not_run}."]
        if not self.failing:
            extra = f"; {len(self.not_diagnosable)} case(s) errored, which diagnosis cannot explain" if self.not_diagnosable else ""
            return [f"{head} nothing to diagnose, no judged case fails{extra}."]
        out = [f"{head} {len(self.failing)} of {self.judged} judged case(s) fail. "
               f"Tried {self.tried} known convention(s) on them ({self.seconds:.1f} s)."]
        if not self.explained_by:
            out.append("  No known convention explains this.")
        for finding in self.explained_by:
            out.extend(wrap(finding.text(), "  ", "    "))
        if self.localization is not None:
            out.extend(self.localization.lines())
        if self.not_diagnosable:
            out.append(f"  {len(self.not_diagnosable)} other case(s) errored ({', '.join(self.not_diagnosable[:3])}"
                       f"{', ...' if len(self.not_diagnosable) > 3 else ''}); no convention explains an error.")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"impl": self.impl, "dtype": self.dtype, "failing": self.failing, "judged": self.judged,
                "tried": self.tried, "not_diagnosable": self.not_diagnosable,
                "explained_by": [{"id": f.hypothesis.id, "explains": f.hypothesis.explains, "cases": f.cases,
                                  "others": f.others, "applies_when": list(f.hypothesis.applies_when)}
                                 for f in self.explained_by],
                "localization": self.localization.to_json() if self.localization is not None else None,
                "not_run": self.not_run,
                "verdict": "\n".join(self.lines())}


def diagnose(impl: str | Any, *, dtype: str = "float64", patterns: Sequence[str] | None = None,
             timeout: float = DEFAULT_TIMEOUT, isolate: bool = True, spec: Spec | None = None,
             golden_dir: Path | None = None, run: RunResult | None = None,
             start_timeout: float = DEFAULT_START_TIMEOUT,
             hypotheses: list[Hypothesis] | None = None) -> Diagnosis:
    """Run `impl` (or reuse its `run`) and look for the convention that explains its failures."""
    start = time.perf_counter()
    spec = spec or (run.spec if run else load_spec())
    if run is None:
        run = run_conformance(impl, dtype=dtype, patterns=patterns, timeout=timeout, isolate=isolate,
                              spec=spec, golden_dir=golden_dir, start_timeout=start_timeout)
    dtype = run.dtype
    by_id = {c.id: c for c in load_golden(golden_dir, [c.id for c in run.cases], spec)}
    judged = [by_id[c.id] for c in run.cases if c.status in ("passed", "failed")]
    failing = [by_id[c.id] for c in run.cases if c.status == "failed"]
    result = Diagnosis(run.impl, dtype, [c.id for c in failing], len(judged),
                       not_diagnosable=[c.id for c in run.cases if c.status == "error"],
                       not_run=run.not_run_reason() if run.verdict == NOT_RUN else None)
    if not failing:
        return result
    hypotheses = hypotheses if hypotheses is not None else load_conventions(spec)
    failed_ids = {c.id for c in failing}
    executor, _ = open_executor(impl, isolate, start_timeout)
    try:
        runs = [(case, out) for case in failing for out in [_outputs(executor, spec, case, dtype, timeout)]
                if out is not None]
        result.localization = localize(spec, dtype, runs) if runs else None
        for hyp in hypotheses:
            means = {c.id: hyp.applies(spec, c.variant) and _feedable(spec, hyp, c, dtype) for c in judged}
            applies = [c for c in judged if means[c.id]]
            if not any(c.id in failed_ids for c in applies) or \
                    any(not means[c.id] for c in failing):
                continue  # it means nothing in the failing cases, or cannot explain some of them
            result.tried += 1
            screen = sorted([c for c in applies if c.id in failed_ids], key=_size)[:SCREEN]
            if all(_fixed(executor, spec, case, dtype, timeout, hyp) for case in screen) and \
                    all(_fixed(executor, spec, case, dtype, timeout, hyp) for case in applies if case not in screen):
                result.explained_by.append(Finding(hyp, len(applies), len(judged) - len(applies)))
    finally:
        executor.close()
    result.seconds = time.perf_counter() - start
    return result


def _feedable(spec: Spec, hyp: Hypothesis, case: GoldenCase, dtype: str) -> bool:
    """Whether `hyp`'s feed transforms mean something for the case's parameters (a gate order cannot
    permute the input gate of a CIFG cell, which has none)."""
    if not hyp.feed:
        return True
    inputs, params = case_arrays(spec, case, dtype)
    try:
        feed(spec, hyp, inputs, params, dict(case.variant))
    except (KeyError, ValueError):  # a parameter the cell lacks; ConversionError is a ValueError
        return False
    return True


def _size(case: GoldenCase) -> int:
    d = case.record["dims"]
    return d["T"] * d["B"] * d["H"] * (d["H"] + d["I"])


def _fixed(executor: Any, spec: Spec, case: GoldenCase, dtype: str, timeout: float, hyp: Hypothesis) -> bool:
    """Does `case` pass with `hyp`'s convention undone?"""
    outputs = _outputs(executor, spec, case, dtype, timeout, hyp)
    if outputs is None:
        return False
    if hyp.read:
        try:  # read before judging shapes: undoing a convention may fix a shape, e.g. batch-first y
            inputs, _ = case_arrays(spec, case, dtype)
            outputs = read(hyp, outputs, case_context(spec, case.variant, inputs))
        except Exception:  # noqa: BLE001 - a transform that does not fit what came back
            return False
    record = case.record if not hyp.model else {**case.record, "expected": expected_outputs(spec, hyp, case.record)}
    return judge_case(spec, record, dtype, outputs).passed


def _outputs(executor: Any, spec: Spec, case: GoldenCase, dtype: str, timeout: float,
             hyp: Hypothesis | None = None) -> dict[str, Any] | None:
    """The implementation's outputs for `case` by the spec's names (fed as `hyp` says), called as
    runner.run_case calls it; None if it fails to return them."""
    variant = dict(case.variant)
    inputs, params = case_arrays(spec, case, dtype)
    if hyp is not None:
        inputs, params = feed(spec, hyp, inputs, params, variant)
    try:
        members = _protocol(executor, lambda method, *args: executor.call(method, args, timeout))
        if members["compute"]:
            result = executor.call("compute", (inputs, params, variant), timeout)
        elif members["forward"] and not variant:
            result = executor.call("forward", (inputs["x"], inputs["h0"], inputs["c0"], params, variant), timeout)
        else:
            return None
    except (CaseTimeout, AdapterRaised, WorkerDied, AdapterMisbehaved, AdapterError):
        return None
    outputs, _ = named_outputs(spec, case.record, result)
    return outputs
