"""The fused LSTM kernel: one GEMM and a few in-place elementwise passes per step.

Feature-major inside: the step GEMM is ``UW (4H, P + I + 1) @ [h_{t-1}; x_t; 1]
(P + I + 1, B)`` (layout.py), the transpose of the usual ``[h | x | 1] @ UW^T``,
so each gate is a contiguous (H, B) block of the (4H, B) gate buffer and every
elementwise pass runs on contiguous memory (NumPy is several times slower on
row-strided slices).  Fusing the input projection into the step GEMM (rather
than one big projection GEMM and an add per step) saves the add pass and the
projection buffer; measured 10 to 25 % faster at (100, 32, 64, 128) and B = 1.

The gates and the cell state share one buffer ``[i; f; o; g; c]`` (5H, B), so
one call forms both products of the cell update, ``[g; c] *= [i; f]``, and a
NumPy call costs about 0.7 us whatever its size.  The sigmoid takes the form of
the dtype (activations.py): in the exp form the i, f, o rows hold ``d = 1 +
exp(-z)`` and the products are divisions by ``d``; ``exp`` overflowing to inf
(z below about -709) gives ``x / inf = 0``, the right gate value, so the kernel
runs with overflow and underflow ignored: no warning at any finite input, NaN
still propagates.

Memory: ``y`` (T, B, P) + O(B*(P+I)) working memory, independent of T: the GEMM
operands of K = chunk_steps(B) steps (kernel.StepInputs) + the (5H, B) buffer.

This is the one recurrence of the base LSTM: the reverse direction, per-row
lengths, bidirectional and stacked models (structure.py) call it on slices,
views and gathers of their inputs.  ``x3`` may have any strides.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .layout import Cell

#: Columns (steps * rows) of inputs one chunk of steps aims at, and the bounds on its steps.
CHUNK_COLUMNS = 512  # measured: 512 to 1024 columns best at (100, 32, 64, 128) and (200, 64, 256, 256)
CHUNK_STEPS_MIN, CHUNK_STEPS_MAX = 8, 64


def chunk_steps(b: int) -> int:
    """Steps per chunk for B rows: about CHUNK_COLUMNS columns, within [8, 64] steps."""
    return max(CHUNK_STEPS_MIN, min(CHUNK_STEPS_MAX, -(-CHUNK_COLUMNS // max(b, 1))))


class StepInputs:
    """The step GEMMs' right operands ``[h_{t-1}; x_t; 1]`` (P + I + 1, B), K steps at a time.

    One reused buffer ``z`` (K + 1, P + I + 1, B).  :meth:`steps` yields, step by step, the operand
    ``z[s]`` and the slot where the step writes its h: the first P rows of ``z[s + 1]``, the next step's
    operand.  Per chunk of K steps it copies the inputs in (transposed; the ones row is set once) and,
    after the chunk, the h's out to ``y`` (T, B, P), carrying the last one to slot 0.
    """

    def __init__(self, x3: np.ndarray, h0: np.ndarray, dtype: np.dtype) -> None:
        t_len, b, i_sz = x3.shape
        p = h0.shape[1]
        self.x3, self.p, self.i_sz = x3, p, i_sz
        self.k = min(t_len, chunk_steps(b))
        self.z = np.empty((self.k + 1, p + i_sz + 1, b), dtype=dtype)  # (K + 1, P + I + 1, B)
        self.z[:, p + i_sz] = 1.0
        self.z[0, :p] = h0.T

    def steps(self, y: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(operand (P + I + 1, B), h slot (P, B))`` for every step; y (T, B, P) is filled chunk by chunk."""
        z, p, i_sz, x3 = self.z, self.p, self.i_sz, self.x3
        for t0 in range(0, x3.shape[0], self.k):
            n = min(self.k, x3.shape[0] - t0)
            z[:n, p:p + i_sz] = x3[t0:t0 + n].transpose(0, 2, 1)  # (n, B, I) -> (n, I, B)
            for s in range(n):
                yield z[s], z[s + 1, :p]
            y[t0:t0 + n] = z[1:n + 1, :p].transpose(0, 2, 1)  # (n, P, B) -> (n, B, P)
            z[0, :p] = z[n, :p]


def run_sequence(
    uw: np.ndarray, form: str, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray, y: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the recurrence in the dtype of ``uw`` (layout.py; sigmoid rows pre-scaled for ``form``).

    uw (4H, H + I + 1); form "exp" or "tanh" (activations.py); x3 (T, B, I); h0, c0 (B, H).  Returns
    y (T, B, H), h_n (B, H), c_n (B, H), newly allocated, except ``y`` when given: a (T, B, H) array of the
    compute dtype, any strides (e.g. one direction's half of a bidirectional output, time-reversed),
    written in place and returned.  The inputs are not modified.
    """
    t_len, b = x3.shape[:2]
    h4 = uw.shape[0]
    h_sz = h4 // 4
    cd = uw.dtype
    if y is None:
        y = np.empty((t_len, b, h_sz), dtype=cd)  # (T, B, H)
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    buf = np.empty((5 * h_sz, b), dtype=cd)  # (5H, B): [i; f; o; g] of the current step, then c
    gates, sig, c = buf[:h4], buf[:3 * h_sz], buf[h4:]  # (4H, B), (3H, B), (H, B)
    c[...] = c0.T
    i_f, o, g, g_c = buf[:2 * h_sz], buf[2 * h_sz:3 * h_sz], buf[3 * h_sz:h4], buf[3 * h_sz:]
    exp_form = form == "exp"
    matmul, add, multiply, divide, exp, tanh = np.matmul, np.add, np.multiply, np.divide, np.exp, np.tanh
    with np.errstate(over="ignore", under="ignore"):  # exp(-z) = inf and 0 are right here (docstring)
        for operand, h_t in StepInputs(x3, h0, cd).steps(y):  # (H + I + 1, B), (H, B): the next operand
            matmul(uw, operand, out=gates)  # (4H, H + I + 1) @ (H + I + 1, B): i, f, o pre-scaled, z_g
            if exp_form:  # i, f, o hold -z
                exp(sig, out=sig)
                add(sig, 1.0, out=sig)  # d = 1 + exp(-z): sigmoid(z) = 1 / d
                tanh(g, out=g)
                divide(g_c, i_f, out=g_c)  # [i * g; f * c_prev] = [g / d_i; c / d_f]
                add(c, g, out=c)  # c_t
                tanh(c, out=g)  # tanh(c_t), in g's block
                divide(g, o, out=h_t)  # h_t = o * tanh(c_t)
            else:  # i, f, o hold z / 2
                tanh(gates, out=gates)  # all four gates in one call
                multiply(sig, 0.5, out=sig)
                add(sig, 0.5, out=sig)  # sigmoid(z) = 0.5 + 0.5 tanh(z / 2)
                multiply(g_c, i_f, out=g_c)  # [i * g; f * c_prev]
                add(c, g, out=c)  # c_t
                tanh(c, out=g)  # tanh(c_t), in g's block
                multiply(g, o, out=h_t)  # h_t = o * tanh(c_t)
    return y, y[t_len - 1].copy(), c.T.copy()


def run_cell(cell: Cell, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
             y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cell over x3: the fused kernel above for a base cell, the cell-feature kernel (features.py) for
    a cell with features.  ``y``: an output array (T, B, P) to write into (any strides), else a new one."""
    if cell.features is None:
        return run_sequence(cell.uw, cell.form, x3, h0, c0, y)
    from .features import run_sequence_features

    return run_sequence_features(cell.uw, cell.form, cell.features, x3, h0, c0, y)
