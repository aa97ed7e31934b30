"""The scalar reference: plain Python loops that execute the spec's equations.

No NumPy, and never lstm_impl. Two number modes:
  "decimal"  Python's decimal module at PRECISION significant digits, rounded once
             to float64 at the end: golden values are the correctly rounded truth.
  "float"    plain Python floats, fast enough for property tests.
"""
from ..reference.lstm import run_reference, ReferenceError_ as ReferenceError_

__all__ = ["run_reference", "ReferenceError_"]
