"""Command line of tools/conformance.py (and the lstm-conformance console script)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from . import report
from .adapters import BUILTIN, AdapterError
from .compare import DTYPES
from .golden import atomic_write
from .runner import HARNESS_ERRORS, MAX_TIMEOUT, add_run_options, check_timeout, run_conformance
from .spec_loader import SpecError, load_spec

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 as well; say so in our words
        self.print_usage(sys.stderr)
        print(f"{self.prog}: usage error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="conformance.py",
                     description="Check an LSTM implementation against the golden cases and print shape, "
                                 "numeric-range and value conformance tables. Exit 0: every applicable case "
                                 "passed; 1: a case failed or errored; 2: usage or harness error.")
    parser.add_argument("--impl", default=None,
                        help=f"a built-in name ({', '.join(sorted(BUILTIN))}) or MODULE:ATTR naming a zero-argument "
                             "callable that returns an adapter (default: $LSTM_IMPL or numpy)")
    parser.add_argument("--dtype", action="append", choices=sorted(DTYPES),
                        help="dtype under test (default float64); repeat for several runs, one report each")
    add_run_options(parser)
    parser.add_argument("--format", default="table", choices=["table", "github", "json"], help="report format")
    parser.add_argument("--output", type=Path, help="write the report to FILE instead of standard output")
    parser.add_argument("--verbose", "-v", action="store_true", help="full reasons, not clipped")
    parser.add_argument("--diagnose", action="store_true",
                        help="when a run fails, try the known conventions (spec/conventions.yaml) and say which "
                             "explains it (as tools/diagnose.py)")
    parser.add_argument("--all", action="store_true",
                        help="run every built-in implementation (each skips itself when its framework is missing) "
                             "at each --dtype (default float64 and float32) and print one comparison table")
    parser.add_argument("--details", action="store_true", help="with --all: also print each run's three tables")
    parser.add_argument("--expect-fail", action="append", default=[], metavar="IMPL:DTYPE",
                        help="with --all: this run is known not to conform; its failure does not fail the exit "
                             "code, and a pass does (like a strict xfail). Repeatable.")
    return parser


def _output_problem(path: Path) -> str | None:
    """Why the report cannot be written to `path`, found before the run rather than after it."""
    if path.is_dir():
        return "is a folder, but should be a file path"
    if not path.parent.is_dir():
        return f"its folder {str(path.parent)!r} does not exist"
    if not os.access(path.parent, os.W_OK):
        return f"its folder {str(path.parent)!r} is not writable"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_timeout(args.timeout)
    except ValueError:
        print(f"conformance.py: usage error: --timeout={args.timeout!r}, but should be a number of seconds "
              f"in (0, {MAX_TIMEOUT:g}]", file=sys.stderr)
        return EXIT_USAGE
    if args.output is not None:
        problem = _output_problem(args.output)
        if problem:
            print(f"conformance.py: usage error: --output={str(args.output)!r}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    if args.all:
        if args.impl is not None or args.diagnose:
            print("conformance.py: usage error: --all runs every built-in implementation; it takes neither --impl "
                  "nor --diagnose (run tools/diagnose.py --impl NAME on a failing one)", file=sys.stderr)
            return EXIT_USAGE
        return _main_all(args)
    args.impl = args.impl or os.environ.get("LSTM_IMPL") or "numpy"
    if args.details or args.expect_fail:
        print("conformance.py: usage error: --details and --expect-fail go with --all", file=sys.stderr)
        return EXIT_USAGE
    dtypes = list(dict.fromkeys(args.dtype or ["float64"]))
    results = []
    try:
        spec = load_spec()  # once for every dtype
        for dtype in dtypes:
            results.append(run_conformance(args.impl, dtype=dtype, patterns=args.cases, timeout=args.timeout,
                                           isolate=not args.no_isolation, spec=spec,
                                           golden_dir=args.golden_dir))
    except HARNESS_ERRORS as exc:
        print(f"conformance.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    diagnoses = {}
    if args.diagnose:
        from .diagnosis import diagnose

        try:
            for r in results:
                if not r.ok:
                    print(f"diagnosing {r.impl} at {r.dtype} ...", file=sys.stderr, flush=True)
                    diagnoses[r.dtype] = diagnose(args.impl, run=r, timeout=args.timeout,
                                                  isolate=not args.no_isolation, golden_dir=args.golden_dir)
        except HARNESS_ERRORS as exc:
            print(f"conformance.py: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.format == "json":
        docs = [report.to_json(r) for r in results]
        for doc in docs:
            if doc["dtype"] in diagnoses:
                doc["diagnosis"] = diagnoses[doc["dtype"]].to_json()
        text = json.dumps(docs[0] if len(docs) == 1 else {"runs": docs}, indent=1, allow_nan=False) + "\n"
    else:
        text = "\n".join(report.render_tables(r, args.format, args.verbose)
                         + ("\n" + "\n".join(diagnoses[r.dtype].lines()) + "\n" if r.dtype in diagnoses else "")
                         for r in results)
    if not _emit(args, text, [f"{report.verdict_line(r)}; report written to {args.output}" for r in results]):
        return EXIT_USAGE
    return EXIT_PASS if all(r.ok for r in results) else EXIT_FAIL


def _emit(args: argparse.Namespace, text: str, written: list[str]) -> bool:
    """The report to --output (then print `written`) or to stdout; False if it cannot be written."""
    if not args.output:
        sys.stdout.write(text)
        return True
    try:
        atomic_write(args.output, text.encode("utf-8"))
    except OSError as exc:
        print(f"conformance.py: error: cannot write --output={str(args.output)!r}: {exc}", file=sys.stderr)
        return False
    for line in written:
        print(line)
    return True


def _parse_expect_fail(values: Sequence[str], dtypes: Sequence[str]) -> set[tuple[str, str]]:
    pairs = set()
    for value in values:
        impl, _, dtype = value.rpartition(":")
        if not impl or impl not in BUILTIN or dtype not in dtypes:
            raise ValueError(f"--expect-fail={value!r}, but should be IMPL:DTYPE with IMPL one of "
                             f"{sorted(BUILTIN)} and DTYPE one of the dtypes run, {list(dtypes)}")
        pairs.add((impl, dtype))
    return pairs


def _main_all(args: argparse.Namespace) -> int:
    """--all: every built-in implementation at every dtype, one comparison table."""
    dtypes = list(dict.fromkeys(args.dtype or ["float64", "float32"]))
    try:
        expected = _parse_expect_fail(args.expect_fail, dtypes)
    except ValueError as exc:
        print(f"conformance.py: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        spec = load_spec()  # once for every run
    except SpecError as exc:
        print(f"conformance.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows, results, details = [], [], []
    for impl in BUILTIN:
        for dtype in dtypes:
            print(f"running {impl} at {dtype} ...", file=sys.stderr, flush=True)
            try:
                result = run_conformance(impl, dtype=dtype, patterns=args.cases, timeout=args.timeout,
                                         isolate=not args.no_isolation, spec=spec, golden_dir=args.golden_dir)
            except AdapterError as exc:  # this implementation could not start; the others still run
                rows.append(report.summary_row(impl, dtype, None, error=str(exc), expected_fail=(impl, dtype) in expected))
                continue
            except HARNESS_ERRORS as exc:  # AdapterError is caught just above
                print(f"conformance.py: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            results.append(result)
            rows.append(report.summary_row(impl, dtype, result, expected_fail=(impl, dtype) in expected))
            if args.details and args.format != "json":
                details.append(report.render_tables(result, args.format, args.verbose))
    if args.format == "json":
        summary = [{k: (report.finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
        text = json.dumps({"summary": summary, "runs": [report.to_json(r) for r in results]}, indent=1,
                          allow_nan=False) + "\n"
    else:
        text = "\n".join(details + [report.render_summary(rows, args.format, args.verbose)])
    if not _emit(args, text, [f"comparison of {len(rows)} run(s) written to {args.output}"]):
        return EXIT_USAGE
    return EXIT_PASS if all(report.row_ok(r) for r in rows) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
