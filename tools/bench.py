#!/usr/bin/env python3
"""Benchmark lstm_impl against a per-step LSTM, torch.nn.LSTM and its own GEMMs. See `python tools/bench.py --help`.

``--features`` (the features against the base path) and ``--memory`` (working memory against T) are the
issue-11 sections: `python tools/bench.py --features --help`.
"""
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)
from lstm_conformance import benchmark
from lstm_conformance.cli.bench import main

EXTRA = ("--features", "--memory")

if __name__ == "__main__":
    argv = sys.argv[1:]
    if any(a in EXTRA for a in argv):
        sys.exit(benchmark.extra_main(argv))
    if any(a in ("-h", "--help") for a in argv):
        code = 0
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code or 0
        print("\nissue-11 sections (own options: `bench.py --features --help`):\n"
              "  --features            features against the base path, PASS/MISS per target\n"
              "  --memory              working memory (tracemalloc) at a short and a long T")
        sys.exit(code)
    sys.exit(main())
