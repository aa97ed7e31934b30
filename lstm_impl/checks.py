"""Argument checks shared by the LSTM class.

Every failure raises ``TypeError`` (wrong kind of value or dtype) or
``ValueError`` (right kind, wrong size or value) with a message that names the
argument and states what was expected against what was given.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

#: Model dtypes the implementation accepts.
SUPPORTED_DTYPES: tuple[np.dtype, ...] = (
    np.dtype(np.float16),
    np.dtype(np.float32),
    np.dtype(np.float64),
)


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is a positive integer (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name}={value!r} ({type(value).__name__}), but should be a positive int"
        )
    if value < 1:
        raise ValueError(f"{name}={value!r}, but should be a positive int (>= 1)")
    return int(value)


def check_model_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """Return the numpy dtype for ``dtype`` if it is float16, float32 or float64."""
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise TypeError(f"{name}=None, but should be one of float16, float32, float64")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(
            f"{name}={dtype!r}, but should be one of float16, float32, float64"
        ) from exc
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(f"{name}={dt}, but should be one of float16, float32, float64")
    return dt


def check_float_array(value: Any, name: str) -> np.ndarray:
    """Return ``value`` as an ndarray of a real floating dtype (no cast).

    Integer, bool, complex, object and string data raise ``TypeError``.
    """
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # e.g. a ragged nested list
        raise ValueError(f"{name} is not a rectangular array: {exc}") from None
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name}.dtype={arr.dtype}, but should be a real floating dtype "
            f"(float16, float32 or float64)"
        )
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` if ``arr`` holds NaN or +-inf."""
    if not np.all(np.isfinite(arr)):
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} has {n_bad} non-finite value(s) (NaN or inf), but should be all finite"
        )


def check_real_scalar(value: Any, name: str) -> float:
    """Return ``value`` as a finite Python float (ints accepted, bools rejected)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} ({type(value).__name__}), but should be a real number")
    out = float(value)
    if not np.isfinite(out):
        raise ValueError(f"{name}={value!r}, but should be finite")
    return out
