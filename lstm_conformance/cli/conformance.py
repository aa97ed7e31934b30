"""Command line of tools/conformance.py (and the lstm-conformance console script)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ..report.progress import Progress
from ..cli import output as cli_io
from .. import paths
from ..report import tables as report
from ..run.adapters import BUILTIN, AdapterError
from ..judge.compare import DTYPES
from ..run.runner import FAIL, HARNESS_ERRORS, add_run_options, check_timeout, run_conformance, selected_patterns
from ..spec.loader import load_spec

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 as well; say so in our words
        self.print_usage(sys.stderr)
        print(f"{self.prog}: usage error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    # no prog=: argparse names the program as it was run (conformance.py, lstm-conformance)
    parser = _Parser(description="Check an LSTM implementation against the golden cases and print shape, "
                                 "numeric-range and value conformance tables. Exit 0: some case was judged and "
                                 "every judged case passed; 1: a case failed or errored, or nothing was judged "
                                 "(NOT RUN: every case skipped); 2: usage or harness error; 141: standard "
                                 "output was closed.")
    parser.add_argument("--impl", default=None,
                        help=f"a built-in name ({', '.join(sorted(BUILTIN))}) or MODULE:ATTR naming a zero-argument "
                             "callable that returns an adapter (default: $LSTM_IMPL or numpy)")
    parser.add_argument("--dtype", action="append", choices=sorted(DTYPES),
                        help="dtype under test (default float64); repeat for several runs, one report each")
    add_run_options(parser)
    parser.add_argument("--format", default="table", choices=["table", "github", "json"], help="report format")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write the report to FILE instead of standard output: a regular file is replaced "
                             "atomically (through a symlink, the link is kept), a FIFO or device is written "
                             "through, - is standard output")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="every reason of every failing case below the tables (default: the first of each)")
    parser.add_argument("--diagnose", action="store_true",
                        help="when a run fails, try the known conventions (spec/conventions.yaml) and say which "
                             "explains it (as the diagnose command does)")
    parser.add_argument("--all", action="store_true",
                        help="run every built-in implementation (each skips itself when its framework is missing) "
                             "at each --dtype (default float64 and float32) and print one comparison table")
    parser.add_argument("--details", action="store_true", help="with --all: also print each run's three tables")
    parser.add_argument("--expect-fail", action="append", default=[], metavar="IMPL:DTYPE",
                        help="with --all: this run is known not to conform; its failure does not fail the exit "
                             "code, and a pass does (like a strict xfail). Repeatable.")
    parser.add_argument("--expect-skip", action="append", default=[], metavar="IMPL[:DTYPE]",
                        help="with --all: this run is known to judge nothing (NOT RUN: e.g. a framework without "
                             "a float64 kernel); any other NOT RUN row fails the exit code, and so does a "
                             "declared row that runs. Without :DTYPE, every dtype of IMPL. Repeatable.")
    return parser


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    for name in ("timeout", "start_timeout"):
        try:
            check_timeout(getattr(args, name), name)
        except ValueError as exc:
            print(f"{prog}: usage error: --{name.replace('_', '-')}={getattr(args, name)!r}, but should be "
                  f"{str(exc).partition('but should be ')[2]}", file=sys.stderr)
            return EXIT_USAGE
    if args.output is not None:
        problem = cli_io.output_problem(args.output)
        if problem:
            print(f"{prog}: usage error: --output={str(args.output)!r}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    if args.all:
        if args.impl is not None or args.diagnose:
            print(f"{prog}: usage error: --all runs every built-in implementation; it takes neither --impl "
                  f"nor --diagnose (run {paths.command('diagnose')} --impl NAME on a failing one)", file=sys.stderr)
            return EXIT_USAGE
        with cli_io.adapter_stdout_to_stderr(args.no_isolation):
            return _main_all(args, prog)
    args.impl = args.impl or os.environ.get("LSTM_IMPL") or "numpy"
    if args.details or args.expect_fail or args.expect_skip:
        print(f"{prog}: usage error: --details, --expect-fail and --expect-skip go with --all", file=sys.stderr)
        return EXIT_USAGE
    with cli_io.adapter_stdout_to_stderr(args.no_isolation):
        outcome = _run_one(args, prog)
    if isinstance(outcome, int):
        return outcome
    text, results = outcome
    if not _emit(args, prog, text, [f"{report.verdict_line(r)}; report written to {args.output}" for r in results]):
        return EXIT_USAGE
    return EXIT_PASS if all(r.ok for r in results) else EXIT_FAIL


def _run_one(args: argparse.Namespace, prog: str) -> int | tuple[str, list]:
    """Run --impl at each --dtype (and diagnose failures with --diagnose): (report text, results), or an exit code."""
    dtypes = list(dict.fromkeys(args.dtype or ["float64"]))
    results = []
    try:
        spec = load_spec()  # once for every dtype
        for dtype in dtypes:
            with Progress(None, f"{args.impl} at {dtype}, cases judged") as bar:
                results.append(run_conformance(args.impl, dtype=dtype, patterns=selected_patterns(args),
                                               timeout=args.timeout, isolate=not args.no_isolation, spec=spec,
                                               golden_dir=args.golden_dir, start_timeout=args.start_timeout,
                                               progress=lambda case: bar.update(note=f"{case.id} {case.status}")))
    except HARNESS_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    diagnoses = {}
    if args.diagnose:
        from ..diagnosis.search import diagnose

        try:
            for r in results:
                if r.verdict == FAIL:
                    print(f"diagnosing {r.impl} at {r.dtype} ...", file=sys.stderr, flush=True)
                    diagnoses[r.dtype] = diagnose(args.impl, run=r, timeout=args.timeout,
                                                  isolate=not args.no_isolation, golden_dir=args.golden_dir,
                                                  start_timeout=args.start_timeout)
        except HARNESS_ERRORS as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
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
    return text, results


main = cli_io.quiet_main(_main)


def _emit(args: argparse.Namespace, prog: str, text: str, written: list[str]) -> bool:
    """The report to --output (then print `written`) or to stdout; False if it cannot be written."""
    if not args.output or str(args.output) == cli_io.STDOUT:
        sys.stdout.write(text)
        return True
    try:
        cli_io.write_output(args.output, text.encode("utf-8"))
    except OSError as exc:
        print(f"{prog}: error: cannot write --output={str(args.output)!r}: {exc.strerror or exc}", file=sys.stderr)
        return False
    for line in written:
        print(line)
    return True


def _parse_expected(option: str, values: Sequence[str], dtypes: Sequence[str],
                    dtype_optional: bool) -> set[tuple[str, str]]:
    """--expect-fail IMPL:DTYPE / --expect-skip IMPL[:DTYPE] as (impl, dtype) pairs."""
    pairs = set()
    form = "IMPL[:DTYPE]" if dtype_optional else "IMPL:DTYPE"
    for value in values:
        impl, sep, dtype = value.rpartition(":")
        if not sep and dtype_optional:
            impl, dtype = value, ""
        chosen = list(dtypes) if (dtype_optional and not dtype) else [dtype]
        if not impl or impl not in BUILTIN or not all(d in dtypes for d in chosen):
            raise ValueError(f"{option}={value!r}, but should be {form} with IMPL one of "
                             f"{sorted(BUILTIN)} and DTYPE one of the dtypes run, {list(dtypes)}")
        pairs.update((impl, d) for d in chosen)
    return pairs


def _main_all(args: argparse.Namespace, prog: str) -> int:
    """--all: every built-in implementation at every dtype, one comparison table."""
    dtypes = list(dict.fromkeys(args.dtype or ["float64", "float32"]))
    try:
        fails = _parse_expected("--expect-fail", args.expect_fail, dtypes, dtype_optional=False)
        skips = _parse_expected("--expect-skip", args.expect_skip, dtypes, dtype_optional=True)
    except ValueError as exc:
        print(f"{prog}: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    both = sorted(fails & skips)
    if both:
        print(f"{prog}: usage error: {both[0][0]}:{both[0][1]} is declared both --expect-fail and --expect-skip",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        spec = load_spec()  # once for every run
        patterns = selected_patterns(args)
    except HARNESS_ERRORS as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    rows, results, details = [], [], []
    for impl in BUILTIN:
        for dtype in dtypes:
            expected = "fail" if (impl, dtype) in fails else "skip" if (impl, dtype) in skips else None
            print(f"running {impl} at {dtype} ...", file=sys.stderr, flush=True)
            try:
                with Progress(None, f"{impl} at {dtype}, cases judged") as bar:
                    result = run_conformance(impl, dtype=dtype, patterns=patterns, timeout=args.timeout,
                                             isolate=not args.no_isolation, spec=spec, golden_dir=args.golden_dir,
                                             start_timeout=args.start_timeout,
                                             progress=lambda case: bar.update(note=f"{case.id} {case.status}"))
            except AdapterError as exc:  # this implementation could not start; the others still run
                rows.append(report.summary_row(impl, dtype, None, error=str(exc), expected=expected))
                continue
            except HARNESS_ERRORS as exc:  # AdapterError is caught just above
                print(f"{prog}: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            results.append(result)
            rows.append(report.summary_row(impl, dtype, result, expected=expected))
            if args.details and args.format != "json":
                details.append(report.render_tables(result, args.format, args.verbose))
    if args.format == "json":
        summary = [{k: (report.finite_or_none(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
        text = json.dumps({"ok": report.comparison_ok(rows), "summary": summary,
                           "coverage": report.coverage_rows(results),
                           "runs": [report.to_json(r) for r in results]}, indent=1, allow_nan=False) + "\n"
    else:
        text = "\n".join(details + [report.render_summary(rows, args.format, args.verbose),
                                    report.render_coverage(results, args.format)])
    if not _emit(args, prog, text, [f"comparison of {len(rows)} run(s) written to {args.output}"]):
        return EXIT_USAGE
    return EXIT_PASS if report.comparison_ok(rows) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
