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


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a bool (Python or NumPy); anything else is a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} ({type(value).__name__}), but should be a bool")
    return bool(value)


def check_lengths(value: Any, batch: int, t_len: int, b_text: str, t_text: str) -> np.ndarray:
    """Return the per-row lengths as a new int64 (B,) array, each in [0, T].

    ``value``: an integer array (int64, int32, ...) or a list / tuple of ints.
    Floats and bools (even 1.0 or True), a wrong shape, a negative length or
    one above T raise ``ValueError`` naming ``lengths``, what was expected and
    what was given; ``b_text`` / ``t_text`` say where B and T came from.
    """
    if isinstance(value, (list, tuple)):
        bools = [v for v in value if isinstance(v, (bool, np.bool_))]
        if bools:
            raise ValueError(
                f"lengths holds bool(s) {bools[:3]!r}, but should be (B,) integers "
                f"(an int64 / int32 array or a list of ints)"
            )
        if len(value) == 0:  # np.asarray([]) would be float64
            value = np.zeros(0, dtype=np.int64)
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # a ragged nested list
        raise ValueError(
            f"lengths is not a rectangular array ({exc}), but should be (B,) integers"
        ) from None
    if arr.dtype.kind not in "iu":
        raise ValueError(
            f"lengths.dtype={arr.dtype}, but should be an integer dtype "
            f"(an int64 / int32 array or a list of ints)"
        )
    if arr.shape != (batch,):
        raise ValueError(f"lengths.shape={arr.shape}, but should be (B,) = ({batch},) [{b_text}]")
    bad = np.flatnonzero((arr < 0) | (arr > t_len))
    if bad.size:
        r = int(bad[0])
        raise ValueError(
            f"lengths[{r}]={int(arr[r])}, but should be in [0, T] = [0, {t_len}] [{t_text}]"
        )
    return arr.astype(np.int64)
