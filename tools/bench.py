#!/usr/bin/env python3
"""Benchmark lstm_impl against a per-step LSTM, torch.nn.LSTM and its own GEMMs, and issue 11's sections
(``--features``, ``--memory``). See `python tools/bench.py --help`."""
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)
from lstm_conformance.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
