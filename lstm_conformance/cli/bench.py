"""Command line of tools/bench.py: lstm_impl against a per-step LSTM, torch.nn.LSTM and its own GEMMs.

    python tools/bench.py                        # all sizes, float32 and float64
    python tools/bench.py --dtype float64 --repeats 15 --size 100,32,64,128

The method is in lstm_conformance/benchmark.py's docstring. A benchmark, not a
timed test: it prints medians and ratios; --strict turns missed targets into exit 1.
"""
from __future__ import annotations

import argparse
import sys

from .. import benchmark


def parse_size(text: str) -> tuple[int, int, int, int]:
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 4 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}, but should be T,B,I,H (4 positive ints)")
    return size  # type: ignore[return-value]


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
    p.add_argument("--repeats", type=int, default=d.repeats,
                   help=f"timed runs per implementation (default {d.repeats})")
    p.add_argument("--per-step-max-steps", type=int, default=d.per_step_max_steps, metavar="N",
                   help="above T*B > N the per-step implementation gets --per-step-repeats runs "
                   f"(default {d.per_step_max_steps})")
    p.add_argument("--per-step-repeats", type=int, default=d.per_step_repeats, metavar="N",
                   help="runs of the per-step implementation above that limit; 0 skips it "
                   f"(default {d.per_step_repeats})")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch threads (default: the BLAS thread count NumPy uses)")
    p.add_argument("--pause", type=float, default=d.pause, metavar="SECONDS",
                   help="sleep before each timed run, letting the other library's worker "
                   f"threads stop spinning (default {d.pause})")
    p.add_argument("--no-warmup", action="store_true",
                   help="no untimed 2-step run of the same implementation before each timed run")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--strict", action="store_true", help="exit 1 if a target is not met or outputs disagree")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        build_parser().error(f"--repeats={args.repeats}, but should be >= 1")
    cfg = benchmark.Config(
        sizes=args.size or benchmark.DEFAULT_SIZES,
        dtypes=args.dtype or benchmark.DEFAULT_DTYPES,
        repeats=args.repeats,
        impls=("lstm_impl", *args.impl) if args.impl else benchmark.Config.impls,
        per_step_max_steps=args.per_step_max_steps,
        per_step_repeats=args.per_step_repeats,
        torch_threads=args.torch_threads or benchmark.numpy_blas_threads(),
        seed=args.seed,
        pause=args.pause,
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
