"""Overflow-free activation kernels (pure NumPy, in place, no temporaries).

Two exact-enough ways to get the three sigmoid gates, chosen per dtype by
measurement (see :func:`gate_form`; kernel.py applies them in place):

``exp`` form (float64, and the public :func:`sigmoid`; see :func:`gate_form`)
    ``sigmoid(z) = 1 / (1 + exp(a))`` on ``a = -z``, with ``a`` clipped above
    at ``hi = log(1/tiny) - 1``: ``exp(hi)`` is finite and ``1/(1 + exp(hi))``
    is still a normal number, so nothing overflows; the true value there is
    below ``exp(-hi)`` (about 1e-307 in float64), which bounds the error.
    Large negative ``a`` underflows ``exp`` to 0, giving exactly 1 (the kernel
    runs under ``np.errstate(under="ignore")``).  One ``exp`` per element and
    relative accuracy is kept for tiny results (``sigmoid(-700)`` is 9.86e-305,
    not 0).  Measured against a 50-digit decimal reference: below 1.2e-16
    absolute and a few ulp relative (tests/test_lstm_impl_api.py).

``tanh`` form (float32; float16 is computed in float32)
    ``sigmoid(z) = 0.5 + 0.5 * tanh(z / 2)``.  NumPy's float32 ``tanh`` is
    faster than its ``exp``, and the gate pre-activations are pre-scaled by
    1/2 in the weights (exact), so all four gates take a single ``tanh`` call
    over the contiguous (4H, B) block plus two cheap affine passes.  Absolute
    error is about one float32 ulp of 1 (6e-8); tiny results lose relative
    accuracy (sigmoid(-20) comes out as 0), which is far below float32 noise.

``tanh`` itself is NumPy's, which never overflows.
"""
from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=None)
def exp_clip_bound(dtype: np.dtype) -> float:
    """``hi`` with ``exp(hi)`` finite and ``1 / (1 + exp(hi))`` a normal number."""
    return math.log(1.0 / float(np.finfo(dtype).tiny)) - 1.0


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Numerically stable logistic sigmoid ``1 / (1 + exp(-z))`` (``exp`` form).

    No overflow or invalid-value warnings at any finite input, underflow
    ignored; NaN propagates.  Same dtype as ``z``; ``out`` may alias ``z``.
    """
    z = np.asarray(z)
    if z.dtype.kind != "f":
        raise TypeError(f"z.dtype={z.dtype}, but should be a real floating dtype")
    a = np.negative(z, out=out)
    with np.errstate(under="ignore"):
        np.minimum(a, exp_clip_bound(a.dtype), out=a)
        np.exp(a, out=a)
        np.add(a, 1.0, out=a)
        np.divide(1.0, a, out=a)
    return a


def gate_form(dtype: np.dtype) -> str:
    """The sigmoid form the LSTM kernel uses for a compute dtype: "exp" or "tanh"."""
    return "exp" if np.dtype(dtype) == np.float64 else "tanh"


#: Factor the sigmoid gates' weights and biases are pre-multiplied by, per form:
#: the exp form wants -z, the tanh form z / 2 (both exact: powers of two).
SIGMOID_SCALE: dict[str, float] = {"exp": -1.0, "tanh": 0.5}


def activate_gates_exp_(gates: np.ndarray, h3: int, hi: np.ndarray) -> None:
    """In place, exp form: gates (4H, B) = [-z_i; -z_f; -z_o; z_g] -> [i; f; o; g].

    ``hi`` is a (3H, B) array filled with :func:`exp_clip_bound` (``np.minimum``
    against an array runs SIMD; against a scalar it does not).
    """
    sig = gates[:h3]  # (3H, B), contiguous
    np.minimum(sig, hi, out=sig)
    np.exp(sig, out=sig)
    np.add(sig, 1.0, out=sig)
    np.divide(1.0, sig, out=sig)
    g = gates[h3:]  # (H, B)
    np.tanh(g, out=g)


def activate_gates_tanh_(gates: np.ndarray, h3: int) -> None:
    """In place, tanh form: gates (4H, B) = [z_i/2; z_f/2; z_o/2; z_g] -> [i; f; o; g]."""
    np.tanh(gates, out=gates)  # all four gates in one call
    sig = gates[:h3]  # (3H, B), contiguous
    np.multiply(sig, 0.5, out=sig)
    np.add(sig, 0.5, out=sig)
