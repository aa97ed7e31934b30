"""Command line of tools/bench.py: lstm_impl against a per-step LSTM, torch.nn.LSTM and its own GEMMs.

    python tools/bench.py                        # all sizes, float32 and float64
    python tools/bench.py --dtype float64 --repeats 15 --size 100,32,64,128
    python tools/bench.py --features --memory    # issue 11's sections: features against the base path,
                                                 # working memory at a short and a long T

The method is in lstm_conformance/benchmark.py's docstring. A benchmark, not a
timed test: it prints medians and ratios; --strict turns missed targets into exit 1.
"""
from __future__ import annotations

import argparse
import sys

from .. import benchmark


def _positive_ints(text: str, names: str) -> tuple[int, ...]:
    """"100,32,64,128" -> (100, 32, 64, 128), as many positive ints as `names` ("T,B,I,H") has."""
    n = len(names.split(","))
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != n or min(size) < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}, but should be {names} ({n} positive ints)")
    return size


def parse_size(text: str) -> tuple[int, int, int, int]:
    return _positive_ints(text, "T,B,I,H")  # type: ignore[return-value]


def parse_bih(text: str) -> tuple[int, int, int]:
    return _positive_ints(text, "B,I,H")  # type: ignore[return-value]


#: --repeats and --pause of the issue-11 sections (one library only: no pause needed).
SECTION_REPEATS, SECTION_PAUSE = 15, 0.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=parse_size, action="append", metavar="T,B,I,H",
                   help="a size to run (repeatable); default: "
                   + "; ".join(",".join(map(str, s)) for s in benchmark.DEFAULT_SIZES))
    p.add_argument("--dtype", choices=("float16", "float32", "float64"), action="append",
                   help="dtype to run (repeatable); default: float32 and float64")
    p.add_argument("--impl", choices=("per-step", "torch", "gemms"), action="append",
                   help="implementations to compare with lstm_impl (repeatable); default: all three. "
                   "gemms is not an LSTM: the unfused design's matrix products alone, the floor issue 11 measures against")
    d = benchmark.Config  # the defaults live there
    p.add_argument("--repeats", type=int, default=None,
                   help=f"timed runs per implementation (default {d.repeats}; {SECTION_REPEATS} with --features)")
    p.add_argument("--per-step-max-steps", type=int, default=d.per_step_max_steps, metavar="N",
                   help="above T*B > N the per-step implementation gets --per-step-repeats runs "
                   f"(default {d.per_step_max_steps})")
    p.add_argument("--per-step-repeats", type=int, default=d.per_step_repeats, metavar="N",
                   help="runs of the per-step implementation above that limit; 0 skips it "
                   f"(default {d.per_step_repeats})")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch threads (default: the BLAS thread count NumPy uses)")
    p.add_argument("--pause", type=float, default=None, metavar="SECONDS",
                   help="sleep before each timed run, letting the other library's worker "
                   f"threads stop spinning (default {d.pause}; {SECTION_PAUSE} with --features)")
    p.add_argument("--no-warmup", action="store_true",
                   help="no untimed 2-step run of the same implementation before each timed run")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is not met or outputs disagree")
    g = p.add_argument_group("issue 11's sections (instead of the comparison above)")
    g.add_argument("--features", action="store_true",
                   help="time each structure and cell feature against the base path (interleaved medians, "
                   "ratio = feature / reference, PASS/MISS per target)")
    g.add_argument("--memory", action="store_true",
                   help="working memory (tracemalloc peak minus the outputs) at --t-short and --t-long")
    g.add_argument("--feature-size", type=parse_size, default=benchmark.FEATURE_SIZE, metavar="T,B,I,H",
                   help=f"size of --features (default {','.join(map(str, benchmark.FEATURE_SIZE))})")
    g.add_argument("--memory-size", type=parse_bih, default=(32, 64, 128), metavar="B,I,H",
                   help="B,I,H of --memory (default 32,64,128)")
    g.add_argument("--t-short", type=int, default=200)
    g.add_argument("--t-long", type=int, default=2000)
    return p


def sections(args: argparse.Namespace) -> int:
    """``--features`` and/or ``--memory``."""
    dtypes = args.dtype or list(benchmark.DEFAULT_DTYPES)
    ok = True
    for line in benchmark.header_lines(None)[:2]:
        print(line)
    if args.features:
        repeats = args.repeats or SECTION_REPEATS
        pause = SECTION_PAUSE if args.pause is None else args.pause
        print(f"\nFeatures at (T, B, I, H) = {args.feature_size}: repeats {repeats}, interleaved medians; "
              "ratio = feature / reference\n")
        rows = benchmark.run_features(args.feature_size, dtypes, repeats, pause, args.seed)
        print(benchmark.format_feature_table(rows))
        ok &= all(r.met for r in rows)
    if args.memory:
        print(f"\nWorking memory (tracemalloc peak minus y, h_n, c_n) at T = {args.t_short} and {args.t_long}; "
              f"PASS: extra(T long) <= {benchmark.MEMORY_SLACK:.2f} x extra(T short)\n")
        pairs = benchmark.run_memory(*args.memory_size, dtypes, args.t_short, args.t_long)
        print(benchmark.format_memory_table(pairs))
        ok &= all(benchmark.memory_pairs(s, lg)[1] for s, lg in pairs)
    return 1 if args.strict and not ok else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        build_parser().error(f"--repeats={args.repeats}, but should be >= 1")
    if args.features or args.memory:
        if "float16" in (args.dtype or []):
            build_parser().error("--dtype float16 is for the comparison only, not for --features or --memory")
        return sections(args)
    cfg = benchmark.Config(
        sizes=args.size or benchmark.DEFAULT_SIZES,
        dtypes=args.dtype or benchmark.DEFAULT_DTYPES,
        repeats=args.repeats or benchmark.Config.repeats,
        impls=("lstm_impl", *args.impl) if args.impl else benchmark.Config.impls,
        per_step_max_steps=args.per_step_max_steps,
        per_step_repeats=args.per_step_repeats,
        torch_threads=args.torch_threads or benchmark.numpy_blas_threads(),
        seed=args.seed,
        pause=benchmark.Config.pause if args.pause is None else args.pause,
        warmup=not args.no_warmup,
    )
    for line in benchmark.header_lines(cfg.torch_threads):
        print(line)
    print(f"repeats {cfg.repeats}, interleaved; ratio = impl median / lstm_impl median\n")
    rows = benchmark.run(cfg)
    print()
    print(benchmark.format_table(rows))
    lines, all_met = benchmark.target_lines(rows)
    if lines:
        print("\nTargets:")
        print("\n".join(lines))
    mismatch = any(r.note.startswith("MISMATCH") for r in rows)
    if mismatch:
        print("\nMISMATCH: an implementation disagrees with lstm_impl beyond the dtype tolerance")
    return 1 if args.strict and (mismatch or not all_met) else 0



if __name__ == "__main__":
    sys.exit(main())
