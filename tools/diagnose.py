#!/usr/bin/env python3
"""Which known convention explains a failing LSTM implementation. See `python tools/diagnose.py --help`."""
import sys

import _bootstrap  # noqa: F401  (puts the checkout on sys.path)
from lstm_conformance.cli.diagnose import main

if __name__ == "__main__":
    sys.exit(main())
