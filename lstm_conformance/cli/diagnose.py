"""Command line of tools/diagnose.py: which known convention explains a failing implementation."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from ..cli import output as cli_io
from ..run.adapters import BUILTIN
from ..judge.compare import DTYPES
from ..diagnosis.search import diagnose
from ..run.runner import HARNESS_ERRORS, add_run_options, check_timeout, selected_patterns

EXIT_CONFORMS, EXIT_FAILS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(  # no prog=: argparse names the program as it was run
        description="Run an implementation over the golden cases and, where it fails, try the known conventions of "
                    "spec/conventions.yaml (gate orders, transposed weights, [x; h] against [h; x], TF1's forget "
                    "bias, a doubled bias, time reversal, an output shifted by one step, hard sigmoid) to say which "
                    "one explains it. Exit 0: it conforms; 1: it does not (explained or not), or nothing was judged; 2: usage "
                    "error; 141: standard output was closed.")
    parser.add_argument("--impl", default=os.environ.get("LSTM_IMPL", "numpy"),
                        help=f"a built-in name ({', '.join(sorted(BUILTIN))}) or MODULE:ATTR (default: $LSTM_IMPL or numpy)")
    parser.add_argument("--dtype", default="float64", choices=sorted(DTYPES), help="dtype under test (default float64)")
    add_run_options(parser)
    parser.add_argument("--format", default="text", choices=["text", "json"])
    return parser


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_timeout(args.timeout)
        check_timeout(args.start_timeout, "start_timeout")
        with cli_io.adapter_stdout_to_stderr(args.no_isolation):
            result = diagnose(args.impl, dtype=args.dtype, patterns=selected_patterns(args), timeout=args.timeout,
                              isolate=not args.no_isolation, golden_dir=args.golden_dir,
                              start_timeout=args.start_timeout)
    except HARNESS_ERRORS as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=1))
    else:
        print("\n".join(result.lines()))
    return EXIT_CONFORMS if result.conforms else EXIT_FAILS


main = cli_io.quiet_main(_main)


if __name__ == "__main__":
    sys.exit(main())
