"""Overflow-free activation kernels (pure NumPy, no warnings at any finite input).

Two exact-enough ways to get the three sigmoid gates, chosen per dtype by
measurement (:func:`gate_form`; the fused weights pre-scale the sigmoid rows by
``SIGMOID_SCALE[form]``, a power of two, so the scaling is exact):

``exp`` form (float64, and the public :func:`sigmoid`)
    ``sigmoid(z) = 1 / (1 + exp(-z))`` on pre-activations already negated: one
    ``exp`` and one ``+ 1`` per element leave ``d = 1 + exp(-z)``, and kernel.py
    divides by ``d`` where it would multiply by the gate (one pass and one
    rounding fewer).  Where ``exp`` overflows the result is ``x / inf = 0``, and
    the true value is below the smallest normal number, so the kernels run with
    overflow ignored instead of clipping ``-z`` first; large positive z
    underflows ``exp`` to 0, giving exactly 1.  Relative accuracy is kept for
    tiny results (``sigmoid(-700)`` is 9.86e-305, not 0): below 1.2e-16
    absolute and a few ulp relative against a 50-digit decimal reference
    (tests/test_lstm_impl_api.py).  In float64 NumPy's ``exp`` of the three
    gates plus ``tanh`` of one costs about what ``tanh`` of all four does, and
    the tanh form below needs two more passes.

``tanh`` form (float32; float16 is computed in float32)
    ``sigmoid(z) = 0.5 + 0.5 * tanh(z / 2)``, the pre-activations pre-scaled by
    1/2: all four gates take one ``tanh`` call over the contiguous (4H, B)
    block, then two affine passes.  NumPy's float32 ``tanh`` of four gates
    takes half the time of its float32 ``exp`` of three (measured 3.0 us
    against 6.1 us at H, B = 128, 32).  Absolute error is about one float32 ulp
    of 1 (6e-8); results below about 3e-8 lose their relative accuracy
    (sigmoid(-20) comes out as 0), far below float32 noise.

:func:`sigmoid`, the public function, clips ``-z`` at :func:`exp_clip_bound` so
that it needs no error-state context: ``exp(hi)`` is finite and ``1/(1 +
exp(hi))`` still a normal number.  ``tanh`` itself is NumPy's, which never
overflows.
"""
from __future__ import annotations

import functools
import math

import numpy as np

#: Factor the sigmoid gates' weights and biases are pre-multiplied by, per form:
#: the exp form wants -z, the tanh form z / 2 (both exact: powers of two).
SIGMOID_SCALE: dict[str, float] = {"exp": -1.0, "tanh": 0.5}


def gate_form(dtype: np.dtype) -> str:
    """The sigmoid form the LSTM kernels use for a compute dtype: "exp" or "tanh"."""
    return "exp" if np.dtype(dtype) == np.float64 else "tanh"


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


# --------------------------------------------------------------------------- ONNX activations
# The functions a variant's ``activations`` may name (ONNX's LSTM attribute), each with the numbers it
# takes; a number it does not take is written 0.  Every kernel below returns a new array of z's dtype
# and has no overflow or invalid-value warning at any finite z: exp only ever sees values <= 0, and a
# product that may overflow only where its result is clipped or saturated anyway (HardSigmoid's
# alpha * z, ScaledTanh's beta * z) is computed with overflow ignored.  A result that is itself beyond
# the dtype's range (Affine's alpha * z + beta, LeakyRelu's alpha * z with alpha > 1) is inf, with
# NumPy's warning, as the GEMM's would be.
ACTIVATION_TAKES: dict[str, tuple[str, ...]] = {
    "Sigmoid": (),
    "Tanh": (),
    "Relu": (),
    "Affine": ("alpha", "beta"),
    "LeakyRelu": ("alpha",),
    "ThresholdedRelu": ("alpha",),
    "ScaledTanh": ("alpha", "beta"),
    "HardSigmoid": ("alpha", "beta"),
    "Elu": ("alpha",),
    "Softsign": (),
    "Softplus": (),
}


def _relu(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.maximum(z, 0.0)  # max(z, 0)


def _affine(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    out = np.multiply(z, alpha)  # alpha * z + beta
    np.add(out, beta, out=out)
    return out


def _leaky_relu(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    out = z.copy()  # z >= 0 ? z : alpha * z; alpha * z only where it is used
    np.multiply(z, alpha, out=out, where=z < 0)
    return out


def _thresholded_relu(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.where(z > alpha, z, 0.0).astype(z.dtype, copy=False)  # z > alpha ? z : 0 (strict)


def _scaled_tanh(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    with np.errstate(over="ignore"):  # beta * z = +-inf: tanh is +-1, the right answer
        out = np.multiply(z, beta)
    np.tanh(out, out=out)
    np.multiply(out, alpha, out=out)  # alpha * tanh(beta * z)
    return out


def _hard_sigmoid(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    with np.errstate(over="ignore"):  # alpha * z = +-inf is clipped to 1 or 0 below
        out = np.multiply(z, alpha)
    np.add(out, beta, out=out)
    np.minimum(out, 1.0, out=out)
    np.maximum(out, 0.0, out=out)  # max(0, min(1, alpha * z + beta))
    return out


def _elu(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    neg = np.minimum(z, 0.0)  # expm1 only sees z <= 0: no overflow
    with np.errstate(under="ignore"):
        np.expm1(neg, out=neg)
    np.multiply(neg, alpha, out=neg)  # alpha * (exp(z) - 1)
    return np.where(z >= 0, z, neg)


def _softsign(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    den = np.abs(z)
    np.add(den, 1.0, out=den)  # 1 + |z|: rounds to |z| near the top of the range, never overflows
    return np.divide(z, den)


def _softplus(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    t = np.abs(z)  # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))
    np.negative(t, out=t)
    with np.errstate(under="ignore"):
        np.exp(t, out=t)
    np.log1p(t, out=t)
    np.add(t, np.maximum(z, 0.0), out=t)
    return t


def _sigmoid(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return sigmoid(z)


def _tanh(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return np.tanh(z)


_KERNELS = {
    "Sigmoid": _sigmoid, "Tanh": _tanh, "Relu": _relu, "Affine": _affine, "LeakyRelu": _leaky_relu,
    "ThresholdedRelu": _thresholded_relu, "ScaledTanh": _scaled_tanh, "HardSigmoid": _hard_sigmoid,
    "Elu": _elu, "Softsign": _softsign, "Softplus": _softplus,
}


def activation(name: str, alpha: float = 0.0, beta: float = 0.0):
    """The elementwise function ``z -> f(z)`` of ONNX activation ``name`` with its ``alpha`` and ``beta``.

    The function takes a real floating array and returns a new one of the same dtype (the numbers are
    rounded to that dtype as NumPy does for Python scalars).  ``name`` must be in ``ACTIVATION_TAKES``
    (variant.py checks the variant first).
    """
    kernel = _KERNELS[name]
    a, b = float(alpha), float(beta)
    return lambda z: kernel(z, a, b)
