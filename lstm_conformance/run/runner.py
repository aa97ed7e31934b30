"""Run one implementation over the golden cases and collect a verdict per case."""
from __future__ import annotations

import argparse
import fnmatch
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .. import paths
from ..run.adapters import AdapterError
from ..judge.compare import DTYPES, CaseJudgement, judge_case, named_outputs
from ..judge.declared import Declared, from_implementation, judged_under, resolve, skip_reason, to_implementation
from ..spec.variants import array_dtype, names_of
from ..run.executor import (DEFAULT_START_TIMEOUT, PROTOCOL, AdapterMisbehaved, AdapterRaised, CaseTimeout, ProcessExecutor,
                       ThreadExecutor, WorkerDied)
from ..cases.case_list import carry_over_points, case_subsets
from ..cases.golden import GoldenCase, GoldenError, load_golden
from ..spec.loader import Spec, SpecError, load_spec

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
    declared = getattr(executor, "declared", None)
    if declared is not None and result.status != "skipped":
        result.judged_under = judged_under(spec, declared, case.variant)
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
        declared = _declared(executor, spec, members)
        reason = skip_reason(spec, declared, case)
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
        applied = declared.applied(spec, variant)
        given = to_implementation(spec, applied, variant, inputs)  # what a declared layout reads
        reason = call("skip_case", given, variant, dtype) if members.get("skip_case") else None
        if reason:  # a case the implementation refuses for its data (torch: a row of length 0)
            return CaseResult(case.id, "skipped", [reason])
        if members["compute"]:
            result = call("compute", given, params, variant)
        else:
            result = call("forward", given["x"], given["h0"], given["c0"], params, variant)
    except CaseTimeout as exc:
        return error(f"timeout: {exc}")
    except AdapterRaised as exc:
        return error(f"raised {exc.summary}")
    except (WorkerDied, AdapterMisbehaved, AdapterError) as exc:  # AdapterError: a fresh worker could not start
        return error(str(exc))
    seconds = time.perf_counter() - start
    try:
        judgement = judge_case(spec, case.record, dtype, _undo(spec, applied, case, inputs, result))
    except Exception as exc:  # noqa: BLE001 - an output the judge cannot even look at
        return error(f"the outputs could not be judged: {type(exc).__name__}: {exc}")
    status = "passed" if judgement.passed else "failed"
    return CaseResult(case.id, status, list(judgement.reasons), judgement, seconds)


def _undo(spec: Spec, applied: list, case: GoldenCase, inputs: dict, result: Any) -> Any:
    """The implementation's result with the declared derived conventions undone (as it is when none apply,
    or when it is not even named arrays: the judge reports that)."""
    if not applied:
        return result
    named, _ = named_outputs(spec, case.record, result)
    return result if named is None else from_implementation(spec, applied, case.variant, inputs, named)


def _protocol(executor: Any, call: Callable[..., Any]) -> dict[str, Any]:
    """The adapter's optional members (compute, forward, conventions), asked once per executor."""
    members = getattr(executor, "protocol_cache", None)
    if members is None:
        members = call(PROTOCOL)
        executor.protocol_cache = members
    return members


def _declared(executor: Any, spec: Spec, members: dict[str, Any]) -> Declared:
    """The adapter's conventions resolved against the spec, once per executor (AdapterError for one the
    spec does not have)."""
    declared = getattr(executor, "declared", None)
    if declared is None:
        declared = resolve(spec, members.get("conventions"))
        executor.declared = declared
    return declared


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
    """The first k steps in one call, the rest in a second call from the first call's final state, judged
    as one run against the case's golden (id "<case>@carry<k>")."""
    cid = f"{case.id}@carry{k}"
    start = time.perf_counter()
    members = getattr(executor, "protocol_cache", None) or {}
    declared = getattr(executor, "declared", None) or resolve(spec, None)
    applied = declared.applied(spec, case.variant)
    timed_in, timed_out, carried = carry_names(spec)
    inputs, params = case_arrays(spec, case, dtype)
    first_in = {**inputs, **{n: inputs[n][:k] for n in timed_in}}  # (k, B, I)
    rest_in = {**inputs, **{n: inputs[n][k:] for n in timed_in}}   # (T - k, B, I)
    if members.get("skip_case"):  # a split the implementation refuses (e.g. one step) is skipped, not failed
        for half in (first_in, rest_in):
            reason = executor.call("skip_case", (to_implementation(spec, applied, {}, half), {}, dtype), timeout)
            if reason:
                return CaseResult(cid, "skipped", [f"carry-over at step {k}: {reason}"], variant=dict(case.variant))
    try:
        first = _call_named(executor, spec, members, applied, first_in, params, timeout)
        rest = _call_named(executor, spec, members, applied,
                           {**rest_in, **{init: first[out] for out, init in carried.items()}}, params, timeout)
        outputs = {**{n: np.concatenate([first[n], rest[n]], axis=0) for n in timed_out},
                   **{out: rest[out] for out in carried}}
    except (CaseTimeout, AdapterRaised, WorkerDied, AdapterMisbehaved, AdapterError, KeyError, ValueError,
            TypeError) as exc:
        summary = exc.summary if isinstance(exc, AdapterRaised) else f"{type(exc).__name__}: {exc}"
        return CaseResult(cid, "error", [f"carry-over at step {k}: {summary} [case {case.id}]"],
                          seconds=time.perf_counter() - start)
    judgement = judge_case(spec, case.record, dtype, outputs)
    fed_back = ", ".join(carried) + " of steps 0.." + str(k - 1) + " fed back as " + ", ".join(carried.values())
    reasons = [f"carry-over at step {k} ({fed_back}): {r}" for r in judgement.reasons]
    return CaseResult(cid, "passed" if judgement.passed else "failed", reasons, judgement,
                      time.perf_counter() - start, variant=dict(case.variant))


def carry_names(spec: Spec) -> tuple[list[str], list[str], dict[str, str]]:
    """(inputs with a time axis, outputs with one, final-state output -> the initial-state input it
    feeds): (["x"], ["y"], {"h_n": "h0", "c_n": "c0"}) from the spec's step and outputs."""
    outputs = spec.data["outputs"]
    init_of = {e["next"]: e["init"] for e in spec.data["step"]["state"].values()}  # h -> h0
    return (list(spec.step_inputs.values()), [n for n, e in outputs.items() if e["take"] == "all_steps"],
            {n: init_of[e["from"]] for n, e in outputs.items() if e["take"] == "last_step"})


def _call_named(executor: Any, spec: Spec, members: dict, applied: list, inputs: dict, params: dict,
                timeout: float) -> dict:
    """One call of the base LSTM through compute (or forward), outputs by the spec's names, with the
    declared derived conventions applied on the way in and undone on the way out."""
    given = to_implementation(spec, applied, {}, inputs)
    if members.get("compute"):
        out = executor.call("compute", (given, params, {}), timeout)
    else:
        out = executor.call("forward", (given["x"], given["h0"], given["c0"], params, {}), timeout)
    names = names_of(spec, "outputs", {})
    if isinstance(out, tuple) and len(out) == len(names):
        out = dict(zip(names, out))
    if not isinstance(out, dict) or not all(isinstance(out.get(n), np.ndarray) for n in names):
        raise TypeError(f"the call returned {type(out).__name__}, not the named arrays {', '.join(names)}")
    return from_implementation(spec, applied, {}, inputs, out)


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
    parser.add_argument("--subset", metavar="NAME",
                        help="only the cases of the case list's subset NAME (golden/case_list.yaml `subsets`; "
                             "with --cases, those of them that match); e.g. representative, what CI runs the "
                             "framework adapters on")
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


def selected_patterns(args: argparse.Namespace) -> list[str] | None:
    """The case patterns --cases and --subset select (None: every case); ValueError for an unknown subset or
    one that --cases leaves empty."""
    if not getattr(args, "subset", None):
        return args.cases
    case_list = Path(args.golden_dir or paths.golden_dir()) / "case_list.yaml"
    subsets = case_subsets(case_list)
    if args.subset not in subsets:
        raise ValueError(f"--subset {args.subset!r}, but {case_list} has subsets {sorted(subsets)}")
    ids = [i for i in subsets[args.subset] if not args.cases or any(fnmatch.fnmatchcase(i, p) for p in args.cases)]
    if not ids:
        raise ValueError(f"--cases {args.cases} match no case of --subset {args.subset}")
    return ids


def check_timeout(timeout: float, name: str = "timeout") -> None:
    """A timeout must be a number of seconds in (0, MAX_TIMEOUT]."""
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= MAX_TIMEOUT):  # also rejects NaN
        raise ValueError(f"{name}={timeout!r}, but should be a number of seconds in (0, {MAX_TIMEOUT:g}]")

