"""Run one implementation over the golden cases and collect a verdict per case."""
from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import paths
from .adapters import AdapterError
from .compare import DTYPES, CaseJudgement, judge_case
from .variants import array_dtype, names_of
from .executor import (DEFAULT_START_TIMEOUT, PROTOCOL, AdapterMisbehaved, AdapterRaised, CaseTimeout, ProcessExecutor,
                       ThreadExecutor, WorkerDied)
from .cases import carry_over_points
from .golden import GoldenCase, GoldenError, load_golden
from .spec_loader import Spec, SpecError, load_spec

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 86400.0  # a day; beyond it poll/join overflow, and no case needs it
STATUSES = ("passed", "failed", "skipped", "error")
PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"  # a run's verdict: NOT RUN when no case was judged
# What the command lines report as a usage or harness error (exit 2), not as the implementation's failure.
HARNESS_ERRORS = (SpecError, GoldenError, AdapterError, ValueError)


@dataclass
class CaseResult:
    """The outcome of one golden case."""

    id: str
    status: str
    reasons: list[str] = field(default_factory=list)
    judgement: CaseJudgement | None = None
    seconds: float = 0.0
    variant: dict = field(default_factory=dict)  # the case's variant (spec features)
    judged_under: list[str] = field(default_factory=list)  # declared conventions the case was judged under

    def worst(self, attr: str) -> float | None:
        return self.judgement.worst(attr) if self.judgement else None


@dataclass
class RunResult:
    """One implementation at one dtype over the selected cases."""

    impl: str
    impl_ref: str
    dtype: str
    spec: Spec
    cases: list[CaseResult]
    carry_over: list[CaseResult] = field(default_factory=list)  # state carried over between two calls

    def summary(self) -> dict[str, int]:
        counts = {s: 0 for s in STATUSES}
        for case in self.cases:
            counts[case.status] += 1
        return {"passed": counts["passed"], "failed": counts["failed"],
                "skipped": counts["skipped"], "errors": counts["error"]}

    @property
    def judged(self) -> int:
        """Cases whose outputs were compared with the golden (passed or failed)."""
        s = self.summary()
        return s["passed"] + s["failed"]

    @property
    def verdict(self) -> str:
        """FAIL if a case (or a state carry-over check) failed or errored; NOT RUN if no case was judged; else PASS."""
        s = self.summary()
        if s["failed"] or s["errors"] or any(c.status in ("failed", "error") for c in self.carry_over):
            return FAIL
        return PASS if self.judged else NOT_RUN

    @property
    def ok(self) -> bool:
        """A pass: something was judged and nothing failed or errored."""
        return self.verdict == PASS

    def not_run_reason(self) -> str:
        """Why nothing was judged: "21 skipped: torch is not installed ..." (the commonest skip reason)."""
        if not self.cases:
            return "no golden case was selected"
        reasons = Counter(c.reasons[0] if c.reasons else "no reason given" for c in self.cases)
        reason, count = reasons.most_common(1)[0]
        others = f" ({len(self.cases) - count} for other reasons)" if count < len(self.cases) else ""
        return f"{len(self.cases)} skipped: {reason}{others}"


def case_arrays(spec: Spec, case: GoldenCase, dtype: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Inputs and parameters of a case as arrays of `dtype` (float64 goldens rounded to it); inputs with a
    fixed dtype in the spec (seq_lengths: int64) at that dtype."""
    np_dtype = DTYPES[dtype]
    with np.errstate(over="ignore"):
        inputs = {n: (np.asarray(case.record["inputs"][n], dtype=array_dtype(spec, "inputs", n))
                      if array_dtype(spec, "inputs", n) else
                      np.asarray(case.record["inputs"][n], dtype=np.float64).astype(np_dtype))
                  for n in names_of(spec, "inputs", case.variant)}
        params = {n: np.asarray(case.record["params"][n], dtype=np.float64).astype(np_dtype)
                  for n in case.record["params"]}
    return inputs, params


def run_case(executor: Any, spec: Spec, case: GoldenCase, dtype: str, timeout: float) -> CaseResult:
    """Run and judge one case; every failure of the implementation lands in the result, which also
    records the case's variant and the declared conventions it was judged under.

    `timeout` bounds the whole case: supports, skip_reason and compute (or forward) share it.
    """
    result = _run_case(executor, spec, case, dtype, timeout)
    result.variant = dict(case.variant)
    conventions = (getattr(executor, "protocol_cache", None) or {}).get("conventions", {})
    result.judged_under = [f"{f}={c}" for f, c in sorted(conventions.items()) if case.variant.get(f) == c]
    return result


def _run_case(executor: Any, spec: Spec, case: GoldenCase, dtype: str, timeout: float) -> CaseResult:
    start = time.perf_counter()
    deadline = start + timeout
    variant = dict(case.variant)

    def call(method: str, *args: Any) -> Any:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise CaseTimeout(f"the case did not finish within {timeout:g} s (before {method})")
        try:
            return executor.call(method, args, remaining)
        except CaseTimeout as exc:  # say the case's timeout, not what was left of it
            raise CaseTimeout(f"{method} did not return within {timeout:g} s{exc.note}") from None

    def error(reason: str) -> CaseResult:
        return CaseResult(case.id, "error", [f"{reason} [case {case.id}]"], seconds=time.perf_counter() - start)

    try:
        members = _protocol(executor, call)
        reason = _convention_skip(spec, case, members["conventions"])
        if reason:
            return CaseResult(case.id, "skipped", [reason])
        if not call("supports", variant):
            return CaseResult(case.id, "skipped", [f"the implementation does not support variant {variant}"])
        if not members["compute"] and variant:
            return CaseResult(case.id, "skipped", [f"variant {variant} needs compute(inputs, params, variant); "
                                                   f"the adapter has only forward(x, h0, c0, params, variant), "
                                                   f"which carries the base LSTM"])
        reason = call("skip_reason", variant, dtype) or _spec_skip_reason(spec, case, dtype)
        if reason:
            return CaseResult(case.id, "skipped", [reason])
        inputs, params = case_arrays(spec, case, dtype)
        reason = call("skip_case", inputs, variant, dtype) if members.get("skip_case") else None
        if reason:  # a case the implementation refuses for its data (torch: a row of length 0)
            return CaseResult(case.id, "skipped", [reason])
        if members["compute"]:
            result = call("compute", inputs, params, variant)
        else:
            result = call("forward", inputs["x"], inputs["h0"], inputs["c0"], params, variant)
    except CaseTimeout as exc:
        return error(f"timeout: {exc}")
    except AdapterRaised as exc:
        return error(f"raised {exc.summary}")
    except (WorkerDied, AdapterMisbehaved, AdapterError) as exc:  # AdapterError: a fresh worker could not start
        return error(str(exc))
    seconds = time.perf_counter() - start
    try:
        judgement = judge_case(spec, case.record, dtype, result)
    except Exception as exc:  # noqa: BLE001 - an output the judge cannot even look at
        return error(f"the outputs could not be judged: {type(exc).__name__}: {exc}")
    status = "passed" if judgement.passed else "failed"
    return CaseResult(case.id, status, list(judgement.reasons), judgement, seconds)


def _protocol(executor: Any, call: Callable[..., Any]) -> dict[str, Any]:
    """The adapter's optional members (compute, forward, conventions), asked once per executor."""
    members = getattr(executor, "protocol_cache", None)
    if members is None:
        members = call(PROTOCOL)
        executor.protocol_cache = members
    return members


def _convention_skip(spec: Spec, case: GoldenCase, conventions: dict[str, str]) -> str | None:
    """An adapter that declares {feature: convention} is judged on the goldens of that convention and
    skipped on the others: those whose variant names another, and, for the canonical one, those the
    feature matters in (flagged with the feature's `flag`)."""
    declared = spec.data["features"]
    for feature, convention in sorted(conventions.items()):
        values = declared.get(feature, {}).get("values", {})
        if "flag" not in declared.get(feature, {}) or convention not in values:
            raise AdapterError(f"the adapter declares conventions {{{feature!r}: {convention!r}}}, but the spec has no "
                               f"such convention: features with conventions are "
                               f"{sorted(f for f, e in declared.items() if 'flag' in e)}"
                               + (f"; {feature} has {sorted(values)}" if values else ""))
        if feature in case.variant:
            if case.variant[feature] != convention:
                return f"follows {feature}={convention}; this case is judged under {feature}={case.variant[feature]}"
        elif declared[feature].get("flag") in case.flags and convention != declared[feature]["default"]:
            return f"follows {feature}={convention}; this case is judged under the canonical {feature}=" \
                   f"{declared[feature]['default']}"
    return None


def _spec_skip_reason(spec: Spec, case: GoldenCase, dtype: str) -> str | None:
    """The spec may exclude flagged cases at a dtype (e.g. float16 with inputs in the hundreds)."""
    entry = spec.data["tolerances"][dtype]
    hit = sorted(set(entry.get("skip_flags", [])) & set(case.flags))
    if hit:
        return f"spec: {dtype} skips cases flagged {hit}: {entry.get('skip_reason', '')}".rstrip(": ")
    return None


def run_conformance(impl: str | Any, *, dtype: str = "float64", patterns: Sequence[str] | None = None,
                    timeout: float = DEFAULT_TIMEOUT, isolate: bool = True, spec: Spec | None = None,
                    golden_dir: Path | None = None,
                    progress: Callable[[CaseResult], None] | None = None,
                    start_timeout: float = DEFAULT_START_TIMEOUT) -> RunResult:
    """Run `impl` (a name, MODULE:ATTR, or an adapter object) over the golden cases.

    Raises for harness problems (bad spec, bad goldens, an adapter that cannot be
    built); everything the implementation does wrong is reported per case.
    """
    check_timeout(timeout)
    check_timeout(start_timeout, "start_timeout")
    spec = spec or load_spec()
    if dtype not in DTYPES or dtype not in spec.dtypes:
        raise ValueError(f"dtype={dtype!r}, but should be one of {[d for d in DTYPES if d in spec.dtypes]}")
    cases = load_golden(golden_dir, patterns, spec)
    executor, ref = open_executor(impl, isolate, start_timeout)
    results = []
    carried = []
    try:
        for case in cases:
            result = run_case(executor, spec, case, dtype, timeout)
            results.append(result)
            if progress:
                progress(result)
        case_list = Path(golden_dir or paths.golden_dir()) / "case_list.yaml"
        points = carry_over_points(case_list) if case_list.is_file() else {}  # goldens without a case list: none
        for case, result in zip(cases, results):
            if result.status == "passed":  # only where one call conforms: the check is about the carry
                carried += [run_carry_over(executor, spec, case, dtype, k, timeout) for k in points.get(case.id, [])
                            if 1 <= k < case.dims["T"] and not case.variant]
    finally:
        executor.close()
    return RunResult(executor.name, ref, dtype, spec, results, carried)


def run_carry_over(executor: Any, spec: Spec, case: GoldenCase, dtype: str, k: int, timeout: float) -> CaseResult:
    """The first k steps in one call, the rest in a second call from the first call's h_n and c_n, judged
    as one run against the case's golden (id "<case>@carry<k>")."""
    cid = f"{case.id}@carry{k}"
    start = time.perf_counter()
    members = getattr(executor, "protocol_cache", None) or {}
    inputs, params = case_arrays(spec, case, dtype)
    halves = [{**inputs, "x": inputs["x"][:k]}, {**inputs, "x": inputs["x"][k:]}]
    if members.get("skip_case"):  # a split the implementation refuses (e.g. one step) is skipped, not failed
        for half in halves:
            reason = executor.call("skip_case", (half, {}, dtype), timeout)
            if reason:
                return CaseResult(cid, "skipped", [f"carry-over at step {k}: {reason}"], variant=dict(case.variant))
    try:
        first = _call_named(executor, members, {**inputs, "x": inputs["x"][:k]}, params, timeout)
        rest = _call_named(executor, members, {**inputs, "x": inputs["x"][k:], "h0": first["h_n"], "c0": first["c_n"]},
                           params, timeout)
        outputs = {"y": np.concatenate([first["y"], rest["y"]], axis=0), "h_n": rest["h_n"], "c_n": rest["c_n"]}
    except (CaseTimeout, AdapterRaised, WorkerDied, AdapterMisbehaved, AdapterError, KeyError, ValueError,
            TypeError) as exc:
        summary = exc.summary if isinstance(exc, AdapterRaised) else f"{type(exc).__name__}: {exc}"
        return CaseResult(cid, "error", [f"carry-over at step {k}: {summary} [case {case.id}]"],
                          seconds=time.perf_counter() - start)
    judgement = judge_case(spec, case.record, dtype, outputs)
    reasons = [f"carry-over at step {k} (h_n, c_n of steps 0..{k - 1} fed back as h0, c0): {r}" for r in judgement.reasons]
    return CaseResult(cid, "passed" if judgement.passed else "failed", reasons, judgement,
                      time.perf_counter() - start, variant=dict(case.variant))


def _call_named(executor: Any, members: dict, inputs: dict, params: dict, timeout: float) -> dict:
    """One call through compute (or forward), outputs by the spec's names."""
    if members.get("compute"):
        out = executor.call("compute", (inputs, params, {}), timeout)
    else:
        out = executor.call("forward", (inputs["x"], inputs["h0"], inputs["c0"], params, {}), timeout)
        out = dict(zip(("y", "h_n", "c_n"), out)) if isinstance(out, tuple) and len(out) == 3 else out
    if not isinstance(out, dict) or not all(isinstance(out.get(n), np.ndarray) for n in ("y", "h_n", "c_n")):
        raise TypeError(f"the call returned {type(out).__name__}, not the named arrays y, h_n, c_n")
    return out


def open_executor(impl: str | Any, isolate: bool = True,
                  start_timeout: float = DEFAULT_START_TIMEOUT) -> tuple[Any, str]:
    """(executor, ref) for a name, MODULE:ATTR (in a worker process unless not `isolate`) or an adapter object.

    `start_timeout` bounds importing and constructing the adapter."""
    if isinstance(impl, str):
        executor = ProcessExecutor(impl, start_timeout) if isolate else ThreadExecutor.from_ref(impl, start_timeout)
        return executor, impl
    return ThreadExecutor(impl), f"{type(impl).__module__}.{type(impl).__qualname__}"


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options both command lines pass on to a run: --cases, --timeout, --start-timeout, --no-isolation,
    --golden-dir."""
    parser.add_argument("--cases", action="append", metavar="GLOB", help="only cases whose id matches (repeatable)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per case before it is reported as hung (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--start-timeout", type=float, default=DEFAULT_START_TIMEOUT,
                        help=f"seconds to import and build the adapter before every case fails with that reason "
                             f"(default {DEFAULT_START_TIMEOUT:g}: keras and jax take a while to import)")
    parser.add_argument("--no-isolation", action="store_true",
                        help="run the implementation in this process (a thread per call) instead of a worker "
                             "process. In-process, the harness refuses sys.exit and os._exit and sends the "
                             "adapter's standard output to stderr, but still trusts the adapter not to "
                             "monkeypatch NumPy or the harness, and not to end the process from C code; "
                             "the worker process is immune to all of these")
    parser.add_argument("--golden-dir", type=Path, help=f"default: {paths.golden_dir()}")


def check_timeout(timeout: float, name: str = "timeout") -> None:
    """A timeout must be a number of seconds in (0, MAX_TIMEOUT]."""
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT):  # also rejects NaN
        raise ValueError(f"{name}={timeout!r}, but should be a number of seconds in (0, {MAX_TIMEOUT:g}]")

