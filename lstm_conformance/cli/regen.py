"""Command line of tools/regen_golden.py: regenerate the goldens, or --check them."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from ..cases import golden
from .. import paths
from ..cases.case_list import CaseListError
from ..spec.loader import SpecError


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a closed stdout (`| head`) ends it quietly with status 141."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # inside the try, so a closed pipe is reported here and not at exit
    except BrokenPipeError:
        # Python's docs on SIGPIPE: point stdout at devnull so the flush at exit does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Regenerate golden/ from golden/case_list.yaml with the scalar reference "
                    "(an explicit act: tests never regenerate), or --check it.")
    parser.add_argument("--check", action="store_true",
                        help="recompute everything, write nothing; exit 1 listing every case that differs, "
                             "is missing, is extra, or fails its manifest hash")
    parser.add_argument("--cases", action="append", metavar="GLOB",
                        help="with --check: only the cases whose id matches (repeatable)")
    parser.add_argument("--golden-dir", type=Path, default=None, help=f"default: {paths.golden_dir()}")
    parser.add_argument("--spec", type=Path, default=None, help=f"default: {paths.spec_file()}")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: one per core)")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cases and not args.check:
        parser.error("--cases goes with --check (a regeneration always writes every case)")
    start = time.perf_counter()
    try:
        if args.check:
            result = golden.check(args.golden_dir, args.spec, args.cases, args.jobs)
            for line in result.lines():
                print(line)
            took = time.perf_counter() - start
            if result.ok:
                print(f"golden check: {result.checked} case(s) reproduce exactly ({took:.1f} s)")
                return 0
            print(f"golden check FAILED: {len(result.differs)} differ, {len(result.missing)} missing, "
                  f"{len(result.extra)} extra, {len(result.bad_hash)} bad hash, {len(result.manifest)} manifest "
                  f"problem(s), of {result.checked} checked ({took:.1f} s)")
            return 1
        removed = golden.regenerate(args.golden_dir, args.spec, args.jobs)
        for name in removed:
            print(f"removed stale {name}")
        print(f"regenerated golden/ in {time.perf_counter() - start:.1f} s")
        return 0
    except (SpecError, CaseListError, golden.GoldenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
