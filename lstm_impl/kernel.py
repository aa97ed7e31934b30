"""The fused LSTM kernel: one GEMM and a few in-place elementwise passes per step.

Feature-major inside: the step GEMM is ``UW (4H, P + I + 1) @ [h_{t-1}; x_t; 1]
(P + I + 1, B)`` (layout.py), the transpose of the usual ``[h | x | 1] @ UW^T``,
so each gate is a contiguous (H, B) block of the (4H, B) gate buffer and every
elementwise pass runs on contiguous memory (NumPy is several times slower on
row-strided slices).  Fusing the input projection into the step GEMM (rather
than one big projection GEMM and an add per step) saves the add pass and the
projection buffer; measured 10 to 25 % faster at (100, 32, 64, 128) and B = 1.

Gates (activations.py): the sigmoid rows are pre-scaled by -1, so one ``exp``
and one ``+ 1`` leave ``d = 1 + exp(-z)`` and the gate is ``1 / d``; the gate
is never formed: the cell update divides by ``d`` where it would multiply by
the gate (``f * c = c / d_f``), one pass fewer and one rounding fewer.
``exp`` overflowing to inf (z below about -709 in float64, -88 in float32)
gives ``c / inf = 0``, the right gate value (the true one is below 1e-308 or
1e-38), so the kernel runs with overflow and underflow ignored instead of
clipping ``-z`` first: no warning at any finite input, NaN still propagates.

Memory: ``y`` (T, B, P) + O(B*(P+I)) working memory, independent of T: the GEMM
operands of K = chunk_steps(B) steps (kernel.StepInputs) + the gate buffer
(4H, B) + the cell state (H, B).

This is the one recurrence of the base LSTM: the reverse direction, per-row
lengths, bidirectional and stacked models (structure.py) call it on slices,
views and gathers of their inputs.  ``x3`` may have any strides.
"""
from __future__ import annotations

import numpy as np

from .layout import Cell

#: Columns (steps * rows) of inputs one chunk of steps aims at, and the bounds on its steps.
CHUNK_COLUMNS = 512  # measured: 512 to 1024 columns best at (100, 32, 64, 128) and (200, 64, 256, 256)
CHUNK_STEPS_MIN, CHUNK_STEPS_MAX = 8, 64


def chunk_steps(b: int) -> int:
    """Steps per chunk for B rows: about CHUNK_COLUMNS columns, within [8, 64] steps."""
    return max(CHUNK_STEPS_MIN, min(CHUNK_STEPS_MAX, -(-CHUNK_COLUMNS // max(b, 1))))


class StepInputs:
    """The step GEMMs' right operands ``[h_{t-1}; x_t; 1]`` (P + I + 1, B) for K steps at a time.

    One reused buffer ``z`` (K + 1, P + I + 1, B).  ``load(t0)`` copies the inputs of steps t0 ..
    t0 + n - 1 (n = min(K, T - t0)), transposed, into slots 0 .. n - 1 (the ones row is set once).  Step
    t0 + s multiplies by ``z[s]`` and writes its h into ``h_slot(s)``, the first P rows of slot s + 1:
    the next step's operand.  ``flush(y, t0, n)`` copies those n h's into ``y[t0:t0 + n]`` and carries
    the last one to slot 0 for the next chunk.
    """

    def __init__(self, x3: np.ndarray, h0: np.ndarray, dtype: np.dtype) -> None:
        t_len, b, i_sz = x3.shape
        p = h0.shape[1]
        self.x3, self.p, self.i_sz = x3, p, i_sz
        self.k = min(t_len, chunk_steps(b))
        self.z = np.empty((self.k + 1, p + i_sz + 1, b), dtype=dtype)  # (K + 1, P + I + 1, B)
        self.z[:, p + i_sz] = 1.0
        self.z[0, :p] = h0.T

    def load(self, t0: int) -> int:
        """Inputs of the chunk starting at step t0; returns its number of steps n."""
        n = min(self.k, self.x3.shape[0] - t0)
        self.z[:n, self.p:self.p + self.i_sz] = self.x3[t0:t0 + n].transpose(0, 2, 1)  # (n, B, I) -> (n, I, B)
        return n

    def h_slot(self, s: int) -> np.ndarray:
        """Where step s of the chunk writes h_t: (P, B), contiguous."""
        return self.z[s + 1, :self.p]

    def flush(self, y: np.ndarray, t0: int, n: int) -> None:
        """Copy the chunk's n h's into y[t0:t0 + n] (n, B, P) and carry the last to slot 0."""
        y[t0:t0 + n] = self.z[1:n + 1, :self.p].transpose(0, 2, 1)  # (n, P, B) -> (n, B, P)
        self.z[0, :self.p] = self.z[n, :self.p]


def run_sequence(
    uw: np.ndarray, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray, y: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the recurrence in the dtype of ``uw`` (layout.py: sigmoid rows scaled by -1).

    uw (4H, H + I + 1); x3 (T, B, I); h0, c0 (B, H).  Returns y (T, B, H), h_n (B, H), c_n (B, H),
    newly allocated, except ``y`` when given: a (T, B, H) array of the compute dtype, any strides (e.g.
    one direction's half of a bidirectional output, time-reversed), written in place and returned.
    The inputs are not modified.
    """
    t_len, b = x3.shape[:2]
    h4 = uw.shape[0]
    h_sz, h3 = h4 // 4, 3 * (h4 // 4)
    cd = uw.dtype
    if y is None:
        y = np.empty((t_len, b, h_sz), dtype=cd)  # (T, B, H)
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    c = np.array(c0.T, dtype=cd, order="C")  # (H, B), updated in place
    steps = StepInputs(x3, h0, cd)
    z, k_steps = steps.z, steps.k
    gates = np.empty((h4, b), dtype=cd)  # (4H, B): [i; f; o; g] of the current step
    i_d, f_d, o_d, g = (gates[k * h_sz:(k + 1) * h_sz] for k in range(4))  # (H, B) each
    d = gates[:h3]  # (3H, B): -z, then 1 + exp(-z) of i, f, o
    matmul, add, divide, exp, tanh = np.matmul, np.add, np.divide, np.exp, np.tanh
    with np.errstate(over="ignore", under="ignore"):  # exp(-z) = inf and 0 are right here (docstring)
        for t in range(t_len):
            s = t % k_steps
            if s == 0:
                if t:
                    steps.flush(y, t - k_steps, k_steps)
                steps.load(t)
            matmul(uw, z[s], out=gates)  # (4H, H + I + 1) @ (H + I + 1, B): [-z_i; -z_f; -z_o; z_g]
            exp(d, out=d)
            add(d, 1.0, out=d)  # d = 1 + exp(-z): sigmoid(z) = 1 / d
            tanh(g, out=g)
            divide(c, f_d, out=c)  # f * c_prev
            divide(g, i_d, out=g)  # i * g
            add(c, g, out=c)  # c_t
            tanh(c, out=g)  # tanh(c_t), in g's block
            divide(g, o_d, out=z[s + 1, :h_sz])  # h_t = o * tanh(c_t), the next step's operand
        n_last = (t_len - 1) % k_steps + 1
        steps.flush(y, t_len - n_last, n_last)
    return y, y[t_len - 1].copy(), c.T.copy()


def run_cell(cell: Cell, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
             y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cell over x3: the fused kernel above for a base cell, the cell-feature kernel (features.py) for
    a cell with features.  ``y``: an output array (T, B, P) to write into (any strides), else a new one."""
    if cell.features is None:
        return run_sequence(cell.uw, x3, h0, c0, y)
    from .features import run_sequence_features

    return run_sequence_features(cell.uw, cell.features, x3, h0, c0, y)
