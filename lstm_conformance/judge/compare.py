"""Judge one implementation's outputs for one golden case: shapes, dtypes, ranges, values."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..spec.cell import disabled_invariants
from ..spec.expressions import evaluate
from ..spec.loader import Spec
from ..spec.variants import names_of

DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16}
# ULP errors are reported only where |expected| >= this many times atol: closer to zero the absolute
# tolerance governs, and a count of ULPs (tiny there) says nothing about the verdict.
ULP_MIN_ABS_OVER_ATOL = 1000.0


@dataclass
class NonArray:
    """Stands in for an output that is not a numpy.ndarray (so it can cross a process boundary)."""

    type_name: str
    summary: str


@dataclass
class OutputCheck:
    """One output of one case."""

    name: str
    expected_shape: tuple[int, ...]
    expected_dtype: str
    actual_shape: tuple[int, ...] | None = None
    actual_dtype: str | None = None
    shape_ok: bool = False
    dtype_ok: bool = False
    finite: bool | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    max_ulp: float | None = None
    err_over_tol: dict[str, float] = field(default_factory=dict)  # dtype -> max |err| / (atol + rtol |expected|)
    values_ok: bool | None = None
    observed_min: float | None = None
    observed_max: float | None = None


@dataclass
class RangeCheck:
    """One numeric-range invariant on one output of one case."""

    name: str
    quantity: str
    rule: str
    ok: bool
    violations: int
    observed_min: float | None
    observed_max: float | None


@dataclass
class CaseJudgement:
    """Everything the runner found for one case."""

    outputs: list[OutputCheck] = field(default_factory=list)
    ranges: list[RangeCheck] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def worst(self, attr: str) -> float | None:
        values = [getattr(o, attr) for o in self.outputs if getattr(o, attr) is not None]
        return max(values) if values else None

    def worst_over_tol(self, dtype: str) -> float | None:
        """The largest error as a multiple of `dtype`'s tolerance (<= 1 passes it), or None if none was measured."""
        values = [o.err_over_tol[dtype] for o in self.outputs if dtype in o.err_over_tol]
        return max(values) if values else None


def ulp_error(actual: np.ndarray, expected: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """|actual - expected| / ulp(expected), in float64, where ulp(e) is the spacing of `dtype` at e
    (the distance from e, rounded to `dtype`, to the next representable number away from zero)."""
    with np.errstate(over="ignore"):
        ulp = np.spacing(np.abs(expected.astype(dtype))).astype(np.float64)
    with np.errstate(over="ignore", divide="ignore"):  # an ulp that underflows in float64: the error is huge
        return np.abs(actual.astype(np.float64) - expected) / ulp


def _describe_bad(value: Any) -> str:
    if isinstance(value, NonArray):
        return f"{value.type_name} ({value.summary})"
    return type(value).__name__


def named_outputs(spec: Spec, record: dict, result: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(outputs by name, None), or (None, why not): compute returns a dict with the spec's output names,
    forward a tuple in the spec's order (base LSTM only)."""
    names = names_of(spec, "outputs", record["variant"])
    if isinstance(result, dict):
        missing = [n for n in names if n not in result]
        if missing:
            return None, (f"compute returned a dict with keys {sorted(result)}, but should return one with "
                          f"{names} (missing {missing})")
        return {n: result[n] for n in names}, None
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = f"{type(result).__name__} of length {len(result)}" if isinstance(result, (tuple, list)) else _describe_bad(result)
        return None, f"forward returned {got}, but should return a tuple ({', '.join(names)})"
    return dict(zip(names, result)), None


def judge_case(spec: Spec, record: dict, dtype: str, result: Any) -> CaseJudgement:
    """Compare `result` (compute's dict of named outputs, or forward's (y, h_n, c_n)) with the golden
    `record` at `dtype`; outputs are taken by the spec's names, never by position."""
    judgement = CaseJudgement()
    case_id = record["id"]
    atol, rtol = spec.tolerance(dtype)
    outputs, problem = named_outputs(spec, record, result)
    if outputs is None:
        judgement.reasons.append(f"{problem} [case {case_id}]")
        for name in names_of(spec, "outputs", record["variant"]):  # nothing could be checked: all count as wrong
            expected_shape = tuple(np.shape(record["expected"][name]))
            judgement.outputs.append(OutputCheck(name, expected_shape, dtype))
        return judgement
    np_dtype = np.dtype(DTYPES[dtype])
    for name, value in outputs.items():
        expected = np.asarray(record["expected"][name], dtype=np.float64)
        check = OutputCheck(name, expected.shape, dtype)
        judgement.outputs.append(check)
        if not isinstance(value, np.ndarray):
            judgement.reasons.append(f"{name} is {_describe_bad(value)}, but should be a numpy.ndarray [case {case_id}]")
            continue
        check.actual_shape, check.actual_dtype = tuple(value.shape), str(value.dtype)
        check.shape_ok = check.actual_shape == check.expected_shape
        check.dtype_ok = value.dtype == np_dtype
        if not check.shape_ok:
            judgement.reasons.append(f"{name}.shape={check.actual_shape}, but should be {check.expected_shape} [case {case_id}]")
        if not check.dtype_ok:
            judgement.reasons.append(f"{name}.dtype={value.dtype}, but should be {dtype} [case {case_id}]")
        if value.dtype.kind != "f":
            continue
        finite = np.isfinite(value)
        check.finite = bool(finite.all())
        if value.size:
            with np.errstate(invalid="ignore"):
                check.observed_min = float(np.nanmin(np.where(finite, value, np.nan))) if finite.any() else None
                check.observed_max = float(np.nanmax(np.where(finite, value, np.nan))) if finite.any() else None
        if not check.finite:
            bad = int((~finite).sum())
            judgement.reasons.append(f"{name} has {bad} non-finite value(s) (NaN or inf) [case {case_id}]")
        if not check.shape_ok:
            continue
        actual = value.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(actual - expected)
            rel = err / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
        # Relative and ULP errors only where |expected| >= atol: below that, values are
        # judged absolutely (a sigmoid of -900 is 0 or 1e-391; both are right).
        significant = np.abs(expected) >= atol
        check.max_abs_err = float(np.nanmax(err)) if check.finite else float("inf")
        if not check.finite:
            check.max_rel_err = float("inf")
        elif significant.any():
            check.max_rel_err = float(np.nanmax(rel[significant]))
        well_above = np.abs(expected) >= ULP_MIN_ABS_OVER_ATOL * atol
        if check.finite and well_above.any():
            check.max_ulp = float(ulp_error(actual[well_above], expected[well_above], np_dtype).max())
        allowed = atol + rtol * np.abs(expected)
        for other in spec.dtypes:  # how far off against each dtype's tolerance (1.0 = at the limit)
            o_atol, o_rtol = spec.tolerance(other)
            with np.errstate(invalid="ignore"):
                ratio = err / (o_atol + o_rtol * np.abs(expected))
            check.err_over_tol[other] = float(np.nanmax(ratio)) if check.finite and ratio.size else (
                float("inf") if ratio.size else 0.0)
        over = ~(err <= allowed)  # NaN counts as over
        check.values_ok = not over.any()
        if not check.values_ok:
            idx = np.unravel_index(int(np.argmax(np.where(over, err - allowed, -np.inf))), over.shape)
            judgement.reasons.append(
                f"{name}: {int(over.sum())} of {over.size} values off by more than atol={atol:g} + rtol={rtol:g}*|expected|; "
                f"worst at {tuple(int(i) for i in idx)}: got {float(actual[idx])!r}, expected {float(expected[idx])!r} [case {case_id}]")
    _check_ranges(spec, record, dtype, outputs, judgement)
    return judgement


class NumpyOps:
    """Array arithmetic for evaluating the spec's invariants; comparisons allow a tolerance."""

    def __init__(self, atol: float, rtol: float) -> None:
        self.atol, self.rtol = atol, rtol

    def const(self, value: float) -> float:
        return float(value)

    def add(self, a, b): return np.add(a, b)
    def sub(self, a, b): return np.subtract(a, b)
    def mul(self, a, b): return np.multiply(a, b)
    def div(self, a, b): return np.divide(a, b)
    def matvec(self, a, b): return np.matmul(a, b)
    def neg(self, a): return np.negative(a)

    def _slack(self, b):
        return self.atol + self.rtol * np.abs(b)

    def le(self, a, b): return np.less_equal(a, np.add(b, self._slack(b)))
    def lt(self, a, b): return np.less(a, np.add(b, self._slack(b)))
    def ge(self, a, b): return np.greater_equal(a, np.subtract(b, self._slack(b)))
    def gt(self, a, b): return np.greater(a, np.subtract(b, self._slack(b)))


def check_invariants(spec: Spec, values: dict[str, Any], env: dict[str, Any], atol: float, rtol: float,
                     expected_shapes: dict[str, tuple] | None = None,
                     variant: dict | None = None) -> list[RangeCheck]:
    """The spec's range invariants on every quantity in `values` (outputs, or one step's
    quantities); `env` holds the other names a `holds` rule reads (inputs, dims, c_prev).
    Comparisons allow atol + rtol * |bound|; non-finite values are left to `finite`. The invariants
    `variant`'s features disable (projection: hidden_range ...) are not checked."""
    ops = NumpyOps(atol, rtol)
    functions = {"abs": np.abs, "exp": np.exp}
    disabled = disabled_invariants(spec, variant or {})
    checks = []
    for inv in spec.invariants():
        if inv["name"] in disabled:
            continue
        quantity = inv["quantity"]
        value = values.get(quantity)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            continue
        if expected_shapes is not None and value.shape != expected_shapes.get(quantity):
            continue
        v = value.astype(np.float64)
        finite = np.isfinite(v)
        lo_obs = float(v[finite].min()) if finite.any() else None
        hi_obs = float(v[finite].max()) if finite.any() else None
        if "range" in inv:
            lo, hi = inv["range"]
            ok = (v >= lo - atol - rtol * abs(lo)) & (v <= hi + atol + rtol * abs(hi))
            rule = f"[{lo:g}, {hi:g}]"
        else:
            expr = spec.invariant_checks[inv["name"]]
            with np.errstate(all="ignore"):
                ok = np.asarray(evaluate(expr, {**env, **values, quantity: v}, ops, functions), dtype=bool)
            rule = expr.text
        violations = int(np.count_nonzero(finite & ~ok))
        checks.append(RangeCheck(inv["name"], quantity, rule, violations == 0, violations, lo_obs, hi_obs))
    return checks


def _check_ranges(spec: Spec, record: dict, dtype: str, outputs: dict[str, Any], judgement: CaseJudgement) -> None:
    atol, rtol = spec.tolerance(dtype)
    env: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in record["inputs"].items()}
    env.update(record["dims"])
    shapes = {k: tuple(np.shape(v)) for k, v in record["expected"].items()}
    for check in check_invariants(spec, outputs, env, atol, rtol, shapes, record.get("variant") or {}):
        judgement.ranges.append(check)
        if not check.ok:
            judgement.reasons.append(f"{check.quantity}: {check.violations} value(s) break {check.name} "
                                     f"({check.rule}) [case {record['id']}]")
