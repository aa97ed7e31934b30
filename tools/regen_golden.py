#!/usr/bin/env python3
"""Regenerate golden/ (or --check it). See `python tools/regen_golden.py --help`."""
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)
from lstm_conformance.cli.regen import main

if __name__ == "__main__":
    sys.exit(main())
