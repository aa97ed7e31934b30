"""Diagnosis: when an implementation fails, which known convention (spec/conventions.yaml) explains it.

For each hypothesis the search runs the implementation again with the convention
undone (conventions.feed / read / model) and judges the result as the runner does.
It screens each hypothesis on a few failing cases, then confirms it on every case
the implementation was judged on. The search knows no hypothesis by name.
Whether or not a hypothesis explains the failure, the failing cases' own outputs
are localized (localize.py): which outputs, steps and batch rows go wrong.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .compare import judge_case
from .conventions import Hypothesis, feed, load_conventions, read
from .executor import DEFAULT_START_TIMEOUT, AdapterMisbehaved, AdapterRaised, CaseTimeout, WorkerDied
from .golden import GoldenCase, load_golden
from .localize import Localization, localize
from .adapters import AdapterError
from .runner import DEFAULT_TIMEOUT, NOT_RUN, RunResult, case_arrays, open_executor, run_conformance
from .spec_loader import Spec, load_spec

SCREEN = 3  # failing cases a hypothesis must fix before it is tried on all cases


@dataclass
class Finding:
    """A hypothesis that made every judged case pass."""

    hypothesis: Hypothesis
    cases: int


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
            out.append(f"  Matches the spec if {finding.hypothesis.explains} "
                       f"[{finding.hypothesis.id}; all {finding.cases} judged cases pass with it undone]")
        if self.localization is not None:
            out.extend(self.localization.lines())
        if self.not_diagnosable:
            out.append(f"  {len(self.not_diagnosable)} other case(s) errored ({', '.join(self.not_diagnosable[:3])}"
                       f"{', ...' if len(self.not_diagnosable) > 3 else ''}); no convention explains an error.")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"impl": self.impl, "dtype": self.dtype, "failing": self.failing, "judged": self.judged,
                "tried": self.tried, "not_diagnosable": self.not_diagnosable,
                "explained_by": [{"id": f.hypothesis.id, "explains": f.hypothesis.explains, "cases": f.cases}
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
    screen = sorted(failing, key=_size)[:SCREEN]
    executor, _ = open_executor(impl, isolate, start_timeout)
    try:
        runs = [(case, out) for case in failing for out in [_outputs(executor, spec, case, dtype, timeout)] if out]
        result.localization = localize(spec, dtype, runs) if runs else None
        for hyp in hypotheses:
            result.tried += 1
            if all(_fixed(executor, spec, case, dtype, timeout, hyp) for case in screen) and \
                    all(_fixed(executor, spec, case, dtype, timeout, hyp) for case in judged if case not in screen):
                result.explained_by.append(Finding(hyp, len(judged)))
    finally:
        executor.close()
    result.seconds = time.perf_counter() - start
    return result


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
            outputs = dict(zip(spec.output_names, outputs))
            outputs = tuple(read(hyp, outputs)[n] for n in spec.output_names)
        except (ValueError, IndexError):  # a transform that does not fit what came back
            return False
    record = case.record if hyp.model_spec is None else _model_record(hyp, case)
    return judge_case(spec, record, dtype, outputs).passed


def _outputs(executor: Any, spec: Spec, case: GoldenCase, dtype: str, timeout: float,
             hyp: Hypothesis | None = None) -> tuple[np.ndarray, ...] | None:
    """The implementation's outputs for `case` (fed as `hyp` says), or None if it fails to return arrays."""
    inputs, params = case_arrays(spec, case, dtype)
    if hyp is not None:
        inputs, params = feed(spec, hyp, inputs, params)
    try:
        result = executor.call("forward", (inputs["x"], inputs["h0"], inputs["c0"], params, dict(case.variant)), timeout)
    except (CaseTimeout, AdapterRaised, WorkerDied, AdapterMisbehaved, AdapterError):
        return None
    names = spec.output_names
    if not isinstance(result, tuple) or len(result) != len(names) or not all(isinstance(a, np.ndarray) for a in result):
        return None
    return result


def _model_record(hyp: Hypothesis, case: GoldenCase) -> dict:
    """The case with its expected outputs from the scalar reference (float mode) on the hypothesis's spec."""
    from .reference.lstm import run_reference

    expected = run_reference(hyp.model_spec, case.record["inputs"], case.record["params"], mode="float")
    return {**case.record, "expected": expected}
