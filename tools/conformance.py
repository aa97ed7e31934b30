#!/usr/bin/env python3
"""Conformance tables for an LSTM implementation. See `python tools/conformance.py --help`."""
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)
from lstm_conformance.cli.conformance import main

if __name__ == "__main__":
    sys.exit(main())
