"""Scalars, vectors (lists) and matrices (lists of rows): the values of an equation.

`ListOps` is the `Ops` the expression evaluator calls; every operation is an
explicit loop, including the sum inside each matrix-vector product.
"""
from __future__ import annotations

from typing import Any, Callable


def is_vector(a: Any) -> bool:
    return isinstance(a, list)


def elementwise(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """fn over two operands; a scalar broadcasts against a vector."""
    if is_vector(a) and is_vector(b):
        if len(a) != len(b):
            raise ValueError(f"length mismatch: {len(a)} against {len(b)}")
        return [elementwise(fn, ai, bi) for ai, bi in zip(a, b)]
    if is_vector(a):
        return [elementwise(fn, ai, b) for ai in a]
    if is_vector(b):
        return [elementwise(fn, a, bi) for bi in b]
    return fn(a, b)


def apply(fn: Callable[[Any], Any], a: Any) -> Any:
    """fn on every scalar of a."""
    if is_vector(a):
        return [apply(fn, ai) for ai in a]
    return fn(a)


def matvec(m: list, v: list, zero: Any) -> list:
    """m (rows, cols) @ v (cols,) with an explicit loop over the sum."""
    if not (is_vector(m) and m and is_vector(m[0]) and is_vector(v)):
        raise ValueError("@ needs a matrix on the left and a vector on the right")
    out = []
    for row in m:
        if len(row) != len(v):
            raise ValueError(f"@ shape mismatch: row of {len(row)} against vector of {len(v)}")
        acc = zero
        for w, x in zip(row, v):
            acc = acc + w * x
        out.append(acc)
    return out


class ListOps:
    """Arithmetic on scalars/lists for one number type."""

    def __init__(self, const: Callable[[Any], Any], zero: Any) -> None:
        self.const = const
        self.zero = zero

    def add(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p + q, a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p - q, a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p * q, a, b)

    def div(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p / q, a, b)

    def matvec(self, a: Any, b: Any) -> Any:
        return matvec(a, b, self.zero)

    def neg(self, a: Any) -> Any:
        return apply(lambda p: -p, a)

    def le(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p <= q, a, b)

    def lt(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p < q, a, b)

    def ge(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p >= q, a, b)

    def gt(self, a: Any, b: Any) -> Any:
        return elementwise(lambda p, q: p > q, a, b)
