"""Numbers for the reference: a Decimal context, and overflow-free float kernels."""
from __future__ import annotations

import math
from decimal import Context, Decimal, ROUND_HALF_EVEN, MAX_EMAX, MIN_EMIN, InvalidOperation, DivisionByZero, Overflow

# Significant digits for decimal mode. 60 leaves 20 digits of headroom over the
# 40 the spec asks for, for the cancellation in 1 - exp(-2z) at small z.
PRECISION = 60

DECIMAL_CONTEXT = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN,
                          traps=[InvalidOperation, DivisionByZero, Overflow])


def to_decimal(value: float | int) -> Decimal:
    """Exact: every float64 is a finite binary fraction, which Decimal holds exactly."""
    return Decimal(value)


def decimal_const(value: float | int) -> Decimal:
    """A constant written in the spec, taken as the decimal literal it reads as."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def decimal_exp(z: Decimal) -> Decimal:
    """exp in the current context (the reference runs inside DECIMAL_CONTEXT, or more digits)."""
    return z.exp()


def float_sigmoid(z: float) -> float:
    """1 / (1 + exp(-z)) without overflow: exp only ever sees -|z|."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def float_tanh(z: float) -> float:
    return math.tanh(z)


def float_scaled_tanh(z: float, alpha: float, beta: float) -> float:
    return alpha * math.tanh(beta * z)


def float_elu(z: float, alpha: float) -> float:
    """z for z >= 0, else alpha * (exp(z) - 1): exp only ever sees z < 0."""
    return z if z >= 0.0 else alpha * math.expm1(z)


def float_softplus(z: float) -> float:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


# Float-mode kernels for activations whose definition would overflow or lose digits in floats; the
# tests check each against the spec's definition evaluated in decimal mode. They take the activation's
# alpha and beta as keywords, as the spec names them.
FLOAT_KERNELS = {"sigmoid": float_sigmoid, "tanh": float_tanh, "scaled_tanh": float_scaled_tanh,
                 "elu": float_elu, "softplus": float_softplus}
