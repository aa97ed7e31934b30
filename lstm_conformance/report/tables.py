"""The three conformance tables (shape and dtype, numeric range, value) and the JSON report."""
from __future__ import annotations

import json
import platform
import re
import textwrap
from typing import Any

import numpy as np

from ..judge.compare import ULP_MIN_ABS_OVER_ATOL
from ..run.runner import FAIL, NOT_RUN, PASS, RunResult
from ..spec.variants import value_words

TABLE_FORMATS = {"table": "simple", "github": "github"}
WIDTH = 100  # the text report fits this many columns (--verbose included: long text is wrapped, never clipped)


def _fmt(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


def _symbolic_shape(result: RunResult, name: str) -> str:
    return "(" + ", ".join(str(d) for d in result.spec.data["outputs"][name]["shape"]) + ")"


def shape_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per output: expected against actual shape and dtype, over all judged cases (`case`: the first mismatch)."""
    rows = []
    for name in result.spec.output_names:
        checks = [(c.id, o) for c in result.cases if c.judgement for o in c.judgement.outputs if o.name == name]
        bad = [(cid, o) for cid, o in checks if not (o.shape_ok and o.dtype_ok)]
        case = None
        if bad:
            case, o = bad[0]
            actual = f"{o.actual_shape} {o.actual_dtype}" if o.actual_shape is not None else "missing or not an array"
            expected = f"{o.expected_shape} {o.expected_dtype}"
        else:
            actual = "as expected"
            expected = f"{_symbolic_shape(result, name)} {result.dtype}"
        rows.append({"output": name, "expected": expected, "actual": actual, "case": case,
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
    """The header, the three tables, the reasons (wrapped to WIDTH columns: all of them with `verbose`, else
    the first of each failing case), the feature coverage table and the verdict line, last."""
    from tabulate import tabulate

    tablefmt = TABLE_FORMATS[fmt]
    parts = ["\n".join(header_lines(result)), ""]
    shapes = shape_rows(result)
    parts += ["Shape and dtype conformance", tabulate(
        [[r["output"], r["expected"], r["actual"], r["cases_ok"], r["verdict"]] for r in shapes],
        headers=["output", "expected", "actual", "cases ok", "verdict"], tablefmt=tablefmt)]
    parts += [wrap(f"{r['output']}: first mismatch in case {r['case']}", "  ") for r in shapes if r["case"]]
    parts += [""]
    ranges = range_rows(result)
    parts += ["Numeric-range conformance", tabulate(
        [[r["quantity"], r["invariant"], r["spec"], _fmt(r["observed_min"], ".6g"), _fmt(r["observed_max"], ".6g"),
          str(r["violations"]), r["verdict"]] for r in ranges],
        headers=["output", "invariant", "spec", "min seen", "max seen", "violated", "verdict"],
        tablefmt=tablefmt, disable_numparse=True, maxcolwidths=[12, 20, 24, None, None, None, None]), ""]
    atol, rtol = result.spec.tolerance(result.dtype)
    parts += [f"Value conformance (atol={atol:g} rtol={rtol:g}; ULP only where |expected| >= "
              f"{ULP_MIN_ABS_OVER_ATOL:g} atol)", tabulate(
        [[r["case"], _fmt(r["max_abs_err"]), _fmt(r["max_rel_err"]), _fmt(r["max_ulp"], ".3g"), r["verdict"]]
         for r in value_rows(result)],
        headers=["case", "max abs err", "max rel err", "max ULP", "verdict"],
        tablefmt=tablefmt, disable_numparse=True)]
    parts += reason_lines(result, verbose)
    parts += carry_over_lines(result, verbose)
    parts += ["", render_coverage([result], fmt).rstrip("\n")]
    parts += ["", verdict_line(result)]
    return "\n".join(parts) + "\n"


def reason_lines(result: RunResult, verbose: bool = False) -> list[str]:
    """Below the value table: why each case failed or errored (its first reason; every one with `verbose`)."""
    problems = [c for c in result.cases if c.status in ("failed", "error")]
    if not problems:
        return []
    title = "Reasons:" if verbose else "Reasons (the first of each case; --verbose for all):"
    lines = ["", title]
    for case in problems:
        for reason in (case.reasons if verbose else case.reasons[:1]):
            lines.append(wrap(f"{case.id}: {_without_case_tag(reason, case.id)}", "  ", "      "))
    return lines


def carry_over_lines(result: RunResult, verbose: bool = False) -> list[str]:
    """The state carry-over checks: how many passed, and why any did not."""
    checks = result.carry_over
    if not checks:
        return []
    passed = sum(c.status == "passed" for c in checks)
    lines = ["", f"State carry-over (h_n, c_n of a first call fed back as h0, c0 of a second): "
                 f"{passed} of {len(checks)} checks pass ({', '.join(c.id for c in checks)})"]
    for case in checks:
        if case.status != "passed":
            for reason in (case.reasons if verbose else case.reasons[:1]):
                lines.append(wrap(f"{case.id}: {reason}", "  ", "      "))
    return lines


def _without_case_tag(reason: str, case_id: str) -> str:
    tag = f" [case {case_id}]"
    return reason[: -len(tag)] if reason.endswith(tag) else reason


_KEEP_TOGETHER = re.compile(r"got \S+, expected \S+")


def wrap(text: str, indent: str = "", subsequent: str | None = None, width: int | None = None) -> str:
    """`text` wrapped to `width` (default WIDTH) columns; "got X, expected Y" is never split across lines."""
    guarded = _KEEP_TOGETHER.sub(lambda m: m.group(0).replace(" ", "\u00a0"), text)
    lines = textwrap.wrap(guarded, width or WIDTH, initial_indent=indent,
                          subsequent_indent=indent + "    " if subsequent is None else subsequent,
                          break_on_hyphens=False)
    return "\n".join(lines).replace("\u00a0", " ")


def verdict_line(result: RunResult) -> str:
    """PASS / FAIL / NOT RUN with the counts; NOT RUN says why nothing was judged."""
    s = result.summary()
    counts = f"{s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, {s['errors']} errors"
    if result.verdict == NOT_RUN:
        return f"NOT RUN: nothing was judged, {result.not_run_reason()} ({result.impl}, {result.dtype})"
    return f"{result.verdict}: {counts} ({result.impl}, {result.dtype})"


def to_json(result: RunResult) -> dict[str, Any]:
    """The JSON report: verdict, summary, one entry per case, and the tables' data."""
    return {
        "impl": result.impl,
        "impl_ref": result.impl_ref,
        "dtype": result.dtype,
        "spec": {"version": result.spec.version, "sha256": result.spec.sha256},
        "tolerance": dict(zip(("atol", "rtol"), result.spec.tolerance(result.dtype))),
        "verdict": result.verdict,
        "not_run_reason": result.not_run_reason() if result.verdict == NOT_RUN else None,
        "summary": result.summary(),
        "coverage": coverage_rows([result]),
        "carry_over": [{"id": c.id, "status": c.status, "reasons": c.reasons,
                        "max_abs_err": finite_or_none(c.worst("max_abs_err"))} for c in result.carry_over],
        "cases": [{"id": c.id, "status": c.status, "reasons": c.reasons, "variant": c.variant,
                   "judged_under": c.judged_under or ["canonical"],
                   "max_abs_err": finite_or_none(c.worst("max_abs_err")),
                   "max_rel_err": finite_or_none(c.worst("max_rel_err")),
                   "max_ulp": finite_or_none(c.worst("max_ulp")),
                   "max_err_over_tol": finite_or_none(c.judgement.worst_over_tol(result.dtype) if c.judgement else None),
                   "seconds": round(c.seconds, 4)} for c in result.cases],
        "tables": {"shape": shape_rows(result), "range": range_rows(result),
                   "value": [{k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()}
                             for r in value_rows(result)]},
    }


# ---------------------------------------------------------------- feature coverage

def families(variant: dict) -> list[str]:
    """The coverage rows a case counts in: "base", each feature value ("direction=reverse"), and its
    combination family when it sets several ("direction=reverse, lengths=zero_fill"). A feature whose value
    is a number or an object counts by its convention ("clip=cell_state") or, without one, by its name
    ("proj_clip", "activations"; "activations per run" for a list), not by each threshold or function."""
    if not variant:
        return ["base"]
    singles = [family_word(k, v) for k, v in sorted(variant.items())]
    return singles + ([", ".join(singles)] if len(variant) > 1 else [])


def family_word(feature: str, value: Any) -> str:
    """One feature's part of a coverage family: "direction=reverse", "peephole=true", "clip=cell_state",
    "proj_clip", "activations", "activations per run"."""
    if isinstance(value, list):
        return f"{feature} per run"
    if isinstance(value, dict):
        return f"{feature}={value['convention']}" if "convention" in value else feature
    if isinstance(value, float):
        return feature
    return f"{feature}={value_words(value)}"


def coverage_rows(results: list[RunResult]) -> list[dict[str, Any]]:
    """Per run and per feature value (and combination family): passed, failed, skipped and errors, the
    declared conventions it was judged under, and the first reason for a skip."""
    rows = []
    for result in results:
        groups: dict[str, list] = {}
        for case in result.cases:
            for family in families(case.variant):
                groups.setdefault(family, []).append(case)
        for family in sorted(groups, key=lambda f: (f != "base", f.count(","), f)):
            cases = groups[family]
            count = {s: sum(c.status == s for c in cases) for s in ("passed", "failed", "skipped", "error")}
            skipped = next((c.reasons[0] for c in cases if c.status == "skipped" and c.reasons), "")
            rows.append({"family": family, "impl": result.impl_ref, "dtype": result.dtype, "passed": count["passed"],
                         "failed": count["failed"], "skipped": count["skipped"], "errors": count["error"],
                         "judged_under": sorted({u for c in cases for u in c.judged_under}) or ["canonical"],
                         "skip_reason": skipped})
    return rows


def render_coverage(results: list[RunResult], fmt: str = "table") -> str:
    """The feature coverage table: which feature values (and combinations) each run passed, failed or
    skipped, and under which convention; skip reasons below, numbered."""
    from tabulate import tabulate

    rows = coverage_rows(results)
    reasons: dict[str, str] = {}
    for r in rows:
        if r["skip_reason"] and r["skip_reason"] not in reasons:
            reasons[r["skip_reason"]] = f"[{len(reasons) + 1}]"
    table = _tight(tabulate,
        [[r["family"], r["impl"], r["dtype"], r["passed"], r["failed"], r["skipped"], r["errors"],
          ", ".join(r["judged_under"]) + (f" {reasons[r['skip_reason']]}" if r["skip_reason"] else "")]
         for r in rows],
        headers=["feature", "impl", "dtype", "pass", "fail", "skip", "error", "judged under [reason]"],
        tablefmt=TABLE_FORMATS[fmt], disable_numparse=True, maxcolwidths=[24, 14, None, None, None, None, None, 22])
    lines = ["Feature coverage: each feature value and combination, per implementation", table]
    if reasons:
        lines += ["", "Skip reasons:"] + [wrap(f"{mark} {reason}", "  ", "      ") for reason, mark in reasons.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the comparison table (--all)

def worst_over_tol(result: RunResult, dtype: str | None = None) -> float | None:
    """The run's largest error as a multiple of `dtype`'s tolerance (default: its own dtype)."""
    values = [c.judgement.worst_over_tol(dtype or result.dtype) for c in result.cases if c.judgement]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def run_note(result: RunResult) -> str:
    """One line on why a run did not simply pass: why nothing was judged, a looser tolerance it meets, or the
    first failure."""
    s = result.summary()
    if s["passed"] == len(result.cases) and result.cases:
        return ""
    if result.verdict == NOT_RUN:
        return result.not_run_reason()
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


EXPECTED = {"fail": FAIL, "skip": NOT_RUN}  # --expect-fail and --expect-skip: the verdict each expects


def summary_row(ref: str, dtype: str, result: RunResult | None, error: str | None = None,
                expected: str | None = None) -> dict[str, Any]:
    """One row of the comparison table: a run, or a run that could not start (`error`).

    `expected` ("fail" or "skip") is what --expect-fail / --expect-skip declared for this row: the
    declared verdict becomes "FAIL (expected)" / "NOT RUN (expected)"; any other verdict is marked
    "(expected FAIL)" / "(expected NOT RUN)" and fails the comparison, like a strict xfail."""
    if result is None:
        row = {"impl": ref, "name": ref, "dtype": dtype, "passed": 0, "failed": 0, "skipped": 0, "errors": 0,
               "worst_err_over_tol": None, "max_abs_err": None, "verdict": "ERROR", "note": error or ""}
    else:
        abs_errs = [c.worst("max_abs_err") for c in result.cases if c.worst("max_abs_err") is not None]
        row = {"impl": ref, "name": result.impl, "dtype": dtype, **result.summary(),
               "worst_err_over_tol": worst_over_tol(result),
               "max_abs_err": finite_or_none(max(abs_errs)) if abs_errs else None,
               "verdict": result.verdict, "note": run_note(result)}
    if expected is not None:
        want = EXPECTED[expected]
        row["verdict"] = f"{want} (expected)" if row["verdict"] == want else f"{row['verdict']} (expected {want})"
    return row


def row_ok(row: dict[str, Any]) -> bool:
    """A row that does not fail the comparison: a pass, or the failure or NOT RUN that was declared."""
    return row["verdict"] in (PASS, f"{FAIL} (expected)", f"{NOT_RUN} (expected)")


def comparison_ok(rows: list[dict[str, Any]]) -> bool:
    """--all exits 0 only if some row was judged and passed, no row failed, and every NOT RUN row was declared."""
    return any(r["verdict"] == PASS for r in rows) and all(row_ok(r) for r in rows)


def render_summary(rows: list[dict[str, Any]], fmt: str = "table", verbose: bool = False) -> str:
    """The comparison table in WIDTH columns: short headers, and each row's note below the table, wrapped."""
    from tabulate import tabulate

    notes = [(r, r["note"]) for r in rows if r["note"]]
    index = {id(r): f" [{k}]" for k, (r, _) in enumerate(notes, 1)}
    table = _tight(tabulate,
                   [[r["impl"], r["dtype"], r["passed"], r["failed"], r["skipped"], r["errors"],
                     _fmt(r["worst_err_over_tol"], ".3g"), _fmt(r["max_abs_err"]), r["verdict"] + index.get(id(r), "")]
                    for r in rows],
                   headers=["impl", "dtype", "pass", "fail", "skip", "error", "err/tol", "max abs", "verdict [note]"],
                   tablefmt=TABLE_FORMATS[fmt], disable_numparse=True)
    lines = ["Comparison: every implementation against the goldens",
             "(err/tol: the worst error over the tolerance, <= 1 passes; max abs: the largest absolute error)",
             table]
    if notes:
        lines += ["", "Notes:"] + [wrap(f"{index[id(r)].strip()} {r['impl']} {r['dtype']}: {note}", "  ", "      ")
                                   for r, note in notes]
    names = sorted({(r["impl"], r["name"]) for r in rows if r["name"] != r["impl"]})
    if names:
        lines += ["", "Implementations:"] + [wrap(f"- {impl}: {name}", "", "    ") for impl, name in names]
    return "\n".join(lines) + "\n"


def _tight(tabulate: Any, *args: Any, **kwargs: Any) -> str:
    """tabulate with columns as wide as their text (no padding beyond the two-space gap), for tables
    with many columns that must fit WIDTH."""
    import tabulate as tabulate_module

    padding, tabulate_module.MIN_PADDING = tabulate_module.MIN_PADDING, 0
    try:
        return tabulate(*args, **kwargs)
    finally:
        tabulate_module.MIN_PADDING = padding


def finite_or_none(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def render_json(result: RunResult) -> str:
    return json.dumps(to_json(result), indent=1, allow_nan=False) + "\n"
