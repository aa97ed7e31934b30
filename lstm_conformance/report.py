"""The three conformance tables (shape and dtype, numeric range, value) and the JSON report."""
from __future__ import annotations

import json
import platform
from typing import Any

import numpy as np

from .runner import RunResult

TABLE_FORMATS = {"table": "simple", "github": "github"}


def _fmt(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def _symbolic_shape(result: RunResult, name: str) -> str:
    return "(" + ", ".join(str(d) for d in result.spec.data["outputs"][name]["shape"]) + ")"


def shape_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per output: expected against actual shape and dtype, over all judged cases."""
    rows = []
    for name in result.spec.output_names:
        checks = [(c.id, o) for c in result.cases if c.judgement for o in c.judgement.outputs if o.name == name]
        bad = [(cid, o) for cid, o in checks if not (o.shape_ok and o.dtype_ok)]
        if bad:
            cid, o = bad[0]
            actual = f"{o.actual_shape} {o.actual_dtype}" if o.actual_shape is not None else "missing or not an array"
            actual = f"{actual} [case {cid}]"
            expected = f"{o.expected_shape} {o.expected_dtype} [case {cid}]"
        else:
            actual = "as expected"
            expected = f"{_symbolic_shape(result, name)} {result.dtype}"
        rows.append({"output": name, "expected": expected, "actual": actual,
                     "cases_ok": f"{len(checks) - len(bad)}/{len(checks)}",
                     "verdict": "PASS" if checks and not bad else ("FAIL" if bad else "n/a")})
    return rows


def range_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per invariant on an output: the spec's rule, observed extremes, violations, verdict."""
    rows: dict[str, dict[str, Any]] = {}
    for case in result.cases:
        if not case.judgement:
            continue
        for r in case.judgement.ranges:
            row = rows.setdefault(r.name, {"quantity": r.quantity, "invariant": r.name, "spec": r.rule,
                                           "observed_min": None, "observed_max": None, "violations": 0, "cases": 0})
            row["cases"] += 1
            row["violations"] += r.violations
            if r.observed_min is not None:
                row["observed_min"] = r.observed_min if row["observed_min"] is None else min(row["observed_min"], r.observed_min)
                row["observed_max"] = r.observed_max if row["observed_max"] is None else max(row["observed_max"], r.observed_max)
    finite_bad = sum(1 for c in result.cases if c.judgement for o in c.judgement.outputs if o.finite is False)
    judged = sum(1 for c in result.cases if c.judgement and c.judgement.outputs
                 and all(o.finite is not None for o in c.judgement.outputs))
    out = []
    for row in rows.values():
        row["verdict"] = "PASS" if row["violations"] == 0 else "FAIL"
        out.append(row)
    out.append({"quantity": "all", "invariant": "finite", "spec": "finite", "observed_min": None, "observed_max": None,
                "violations": finite_bad, "cases": judged, "verdict": "PASS" if finite_bad == 0 and judged else ("FAIL" if finite_bad else "n/a")})
    return out


def value_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per case: worst absolute, relative and ULP error, the tolerance and the verdict."""
    atol, rtol = result.spec.tolerance(result.dtype)
    rows = []
    for case in result.cases:
        rows.append({"case": case.id, "max_abs_err": case.worst("max_abs_err"), "max_rel_err": case.worst("max_rel_err"),
                     "max_ulp": case.worst("max_ulp"), "tolerance": f"atol={atol:g} rtol={rtol:g}",
                     "verdict": case.status.upper(), "reason": case.reasons[0] if case.reasons else ""})
    return rows


def header_lines(result: RunResult) -> list[str]:
    s = result.summary()
    spec = result.spec
    return [
        f"implementation under test: {result.impl}  [--impl {result.impl_ref}]",
        f"dtype: {result.dtype}  tolerance: atol={spec.tolerance(result.dtype)[0]:g} rtol={spec.tolerance(result.dtype)[1]:g}",
        f"spec: {spec.path} version {spec.version} sha256 {spec.sha256[:16]}…",
        f"python {platform.python_version()}, numpy {np.__version__}",
        f"cases: {len(result.cases)}  passed {s['passed']}  failed {s['failed']}  skipped {s['skipped']}  errors {s['errors']}",
    ]


def render_tables(result: RunResult, fmt: str = "table", verbose: bool = False) -> str:
    from tabulate import tabulate

    tablefmt = TABLE_FORMATS[fmt]
    parts = ["\n".join(header_lines(result)), ""]
    shapes = shape_rows(result)
    parts += ["Shape and dtype conformance", tabulate(
        [[r["output"], r["expected"], r["actual"], r["cases_ok"], r["verdict"]] for r in shapes],
        headers=["output", "expected", "actual", "cases ok", "verdict"], tablefmt=tablefmt), ""]
    ranges = range_rows(result)
    parts += ["Numeric-range conformance", tabulate(
        [[r["quantity"], r["invariant"], r["spec"], _fmt(r["observed_min"], ".6g"), _fmt(r["observed_max"], ".6g"),
          r["violations"], r["verdict"]] for r in ranges],
        headers=["quantity", "invariant", "spec", "observed min", "observed max", "violations", "verdict"],
        tablefmt=tablefmt), ""]
    values = value_rows(result)
    width = None if verbose else 90
    parts += ["Value conformance", tabulate(
        [[r["case"], _fmt(r["max_abs_err"]), _fmt(r["max_rel_err"]), _fmt(r["max_ulp"], ".0f"), r["tolerance"],
          r["verdict"], _clip(r["reason"], width)] for r in values],
        headers=["case", "max abs err", "max rel err", "max ULP", "tolerance", "verdict", "reason"],
        tablefmt=tablefmt, disable_numparse=True)]
    problems = [(c.id, reason) for c in result.cases if c.status in ("failed", "error") for reason in c.reasons]
    if problems and verbose:
        parts += ["", "All reasons:"] + [f"  {cid}: {reason}" for cid, reason in problems]
    parts += ["", verdict_line(result)]
    return "\n".join(parts) + "\n"


def verdict_line(result: RunResult) -> str:
    s = result.summary()
    return (f"{'PASS' if result.ok else 'FAIL'}: {s['passed']} passed, {s['failed']} failed, "
            f"{s['skipped']} skipped, {s['errors']} errors ({result.impl}, {result.dtype})")


def _clip(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def to_json(result: RunResult) -> dict[str, Any]:
    """The JSON report: summary, one entry per case, and the tables' data."""
    return {
        "impl": result.impl,
        "impl_ref": result.impl_ref,
        "dtype": result.dtype,
        "spec": {"version": result.spec.version, "sha256": result.spec.sha256},
        "tolerance": dict(zip(("atol", "rtol"), result.spec.tolerance(result.dtype))),
        "summary": result.summary(),
        "cases": [{"id": c.id, "status": c.status, "reasons": c.reasons,
                   "max_abs_err": finite_or_none(c.worst("max_abs_err")),
                   "max_rel_err": finite_or_none(c.worst("max_rel_err")),
                   "max_ulp": finite_or_none(c.worst("max_ulp")),
                   "max_err_over_tol": finite_or_none(c.judgement.worst_over_tol(result.dtype) if c.judgement else None),
                   "seconds": round(c.seconds, 4)} for c in result.cases],
        "tables": {"shape": shape_rows(result), "range": range_rows(result),
                   "value": [{k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()}
                             for r in value_rows(result)]},
    }


# ---------------------------------------------------------------- the comparison table (--all)

def worst_over_tol(result: RunResult, dtype: str | None = None) -> float | None:
    """The run's largest error as a multiple of `dtype`'s tolerance (default: its own dtype)."""
    values = [c.judgement.worst_over_tol(dtype or result.dtype) for c in result.cases if c.judgement]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def run_note(result: RunResult) -> str:
    """One line on why a run did not simply pass: a skip reason, a looser tolerance it meets, or the first failure."""
    s = result.summary()
    if s["passed"] == len(result.cases):
        return ""
    if s["skipped"] == len(result.cases):
        return result.cases[0].reasons[0] if result.cases and result.cases[0].reasons else "skipped"
    if not result.ok and s["errors"] == 0 and all(_values_only(c) for c in result.cases if c.status == "failed"):
        looser = [d for d in result.spec.dtypes
                  if d != result.dtype and (worst_over_tol(result, d) or 0) <= 1
                  and result.spec.tolerance(d)[0] > result.spec.tolerance(result.dtype)[0]]
        if looser:
            return f"every output is within the {looser[0]} tolerance: it computes (partly) in {looser[0]}?"
    first = next((c for c in result.cases if c.status in ("failed", "error")), None)
    if first is not None and first.reasons:
        return first.reasons[0]
    skipped = next((c for c in result.cases if c.status == "skipped"), None)
    return skipped.reasons[0] if skipped is not None and skipped.reasons else ""


def _values_only(case: Any) -> bool:
    """A failed case whose outputs all have the right shape and dtype, are finite, and were compared."""
    j = case.judgement
    return bool(j and j.outputs) and all(o.shape_ok and o.dtype_ok and o.finite and o.err_over_tol for o in j.outputs) \
        and all(r.ok for r in j.ranges)


def summary_row(ref: str, dtype: str, result: RunResult | None, error: str | None = None,
                expected_fail: bool = False) -> dict[str, Any]:
    """One row of the comparison table: a run, or a run that could not start (`error`)."""
    if result is None:
        return {"impl": ref, "name": ref, "dtype": dtype, "passed": 0, "failed": 0, "skipped": 0, "errors": 0,
                "worst_err_over_tol": None, "max_abs_err": None, "verdict": "ERROR", "note": error or ""}
    s = result.summary()
    verdict = "PASS" if result.ok else "FAIL"
    if s["skipped"] == len(result.cases):
        verdict = "SKIP"
    if expected_fail:
        verdict = "FAIL (expected)" if verdict == "FAIL" else f"{verdict} (expected FAIL)"
    abs_errs = [c.worst("max_abs_err") for c in result.cases if c.worst("max_abs_err") is not None]
    return {"impl": ref, "name": result.impl, "dtype": dtype, **s,
            "worst_err_over_tol": worst_over_tol(result),
            "max_abs_err": finite_or_none(max(abs_errs)) if abs_errs else None,
            "verdict": verdict, "note": run_note(result)}


def row_ok(row: dict[str, Any]) -> bool:
    """A row that does not fail the comparison: passed, skipped, or an expected failure that failed."""
    return row["verdict"] in ("PASS", "SKIP", "FAIL (expected)")


def render_summary(rows: list[dict[str, Any]], fmt: str = "table", verbose: bool = False) -> str:
    from tabulate import tabulate

    width = None if verbose else 100
    table = tabulate(
        [[r["impl"], r["dtype"], r["passed"], r["failed"], r["skipped"], r["errors"],
          _fmt(r["worst_err_over_tol"], ".3g"), _fmt(r["max_abs_err"]), r["verdict"], _clip(r["note"], width)]
         for r in rows],
        headers=["implementation", "dtype", "passed", "failed", "skipped", "errors", "worst err / tol",
                 "max abs err", "verdict", "note"],
        tablefmt=TABLE_FORMATS[fmt], disable_numparse=True)
    names = sorted({(r["impl"], r["name"]) for r in rows if r["name"] != r["impl"]})
    legend = "\n".join(f"- {impl}: {name}" for impl, name in names)
    return ("Comparison: every implementation against the goldens (worst err / tol <= 1 passes)\n"
            + table + ("\n\nImplementations:\n" + legend if legend else "") + "\n")


def finite_or_none(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def render_json(result: RunResult) -> str:
    return json.dumps(to_json(result), indent=1, allow_nan=False) + "\n"
