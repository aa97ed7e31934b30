"""The fused LSTM kernel: one input-projection GEMM, then one GEMM and a few
in-place elementwise passes per step.

Feature-major inside: the step GEMM is ``U_all (4H, H) @ h^T (H, B)`` (the
transpose of ``h (B, H) @ U_all^T (H, 4H)``), so each gate is a contiguous
(H, B) block of the (4H, B) gate buffer and every elementwise pass runs on
contiguous memory (NumPy is several times slower on row-strided slices).
``h_t`` is written into a contiguous (K, H, B) buffer of the chunk's steps,
read from there by the next step's GEMM, and copied into ``y`` once per chunk.

Memory: ``y`` (T, B, H) + O(B*(H+I)) working memory, independent of T: the
input projection is computed chunk by chunk, ``K = chunk_steps(B)`` steps
(K*B columns, K in [8, 64]) per GEMM, into one reused (4H, K*B) buffer from one
reused (K*B, I + 1) copy of the inputs with a ones column; plus the chunk's
h (K, H, B), the gate buffer (4H, B), the cell state (H, B) and, for float64, the (3H, B) clip bound.
A sequence of at most K steps makes exactly one projection GEMM.

This is the one recurrence of the package: the reverse direction, per-row
lengths, bidirectional and stacked models (structure.py) call it on slices,
views and gathers of their inputs.  ``x3`` may have any strides.
"""
from __future__ import annotations

import numpy as np

from .activations import activate_gates_exp_, activate_gates_tanh_, exp_clip_bound

#: Columns (steps * rows) one input-projection GEMM aims at, and the bounds on its steps per chunk.
CHUNK_COLUMNS = 512  # measured: 512 to 1024 columns best at (100, 32, 64, 128) and (200, 64, 256, 256)
CHUNK_STEPS_MIN, CHUNK_STEPS_MAX = 8, 64


def chunk_steps(b: int) -> int:
    """Steps per input-projection chunk for B rows: about CHUNK_COLUMNS columns, within [8, 64] steps."""
    return max(CHUNK_STEPS_MIN, min(CHUNK_STEPS_MAX, -(-CHUNK_COLUMNS // max(b, 1))))


class InputProjection:
    """``W_aug (4H, I + 1) @ [x_t | 1]^T`` for the steps of one chunk at a time, in reused buffers.

    ``chunk(t0)`` computes steps t0 .. t0 + n - 1 (n = min(K, T - t0)) in one GEMM and returns them as a
    (4H, n, B) array (column s*B + r: step t0 + s, row r); it stays valid until the next call.
    """

    def __init__(self, w_aug: np.ndarray, x3: np.ndarray) -> None:
        t_len, b, i_sz = x3.shape
        self.w_aug, self.x3, self.b, self.i_sz = w_aug, x3, b, i_sz
        self.k = min(t_len, chunk_steps(b))
        cd = w_aug.dtype
        self.x_aug = np.empty((self.k * b, i_sz + 1), dtype=cd)  # (K*B, I + 1)
        self.x_aug[:, i_sz] = 1.0
        self.out = np.empty(w_aug.shape[0] * self.k * b, dtype=cd)  # (4H * K*B,) flat

    def chunk(self, t0: int) -> np.ndarray:
        x3, b = self.x3, self.b
        n = min(self.k, x3.shape[0] - t0)
        x_aug = self.x_aug[:n * b]  # (n*B, I + 1)
        # (n, B, I) into a (n, B, I + 1) view: no temporary for a strided x3 (a reversed or gathered input)
        x_aug.reshape(n, b, self.i_sz + 1)[:, :, :self.i_sz] = x3[t0:t0 + n]
        h4 = self.w_aug.shape[0]
        out = self.out[:h4 * n * b].reshape(h4, n * b)  # contiguous
        np.matmul(self.w_aug, x_aug.T, out=out)  # (4H, n*B)
        return out.reshape(h4, n, b)


def run_sequence(
    w_aug: np.ndarray,
    u_all: np.ndarray,
    form: str,
    x3: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    y: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the recurrence in the dtype of ``w_aug`` (layout.py describes the weights).

    w_aug (4H, I + 1), u_all (4H, H); form "exp" or "tanh" (activations.py);
    x3 (T, B, I); h0, c0 (B, H).  Returns y (T, B, H), h_n (B, H), c_n (B, H),
    newly allocated, except ``y`` when given: a (T, B, H) array of the compute
    dtype, any strides (e.g. one direction's half of a bidirectional output,
    time-reversed), written in place and returned.  The inputs are not modified.
    """
    t_len, b, i_sz = x3.shape
    h4, h_sz = u_all.shape[0], u_all.shape[1]
    h3 = 3 * h_sz
    cd = w_aug.dtype
    if y is None:
        y = np.empty((t_len, b, h_sz), dtype=cd)  # (T, B, H)
    c = np.array(c0.T, dtype=cd, order="C")  # (H, B), updated in place
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    with np.errstate(under="ignore"):  # underflow to 0 is the right answer in an LSTM
        # Input projection, bias included, one GEMM per chunk of K steps:
        # W_aug (4H, I+1) @ [X_chunk | 1]^T (I+1, K*B) -> (4H, K, B).
        proj = InputProjection(w_aug, x3)
        k_steps = proj.k
        gates = np.empty((h4, b), dtype=cd)  # (4H, B): [i; f; o; g] of the current step
        i_g, f_g, o_g, g_g = (gates[k * h_sz:(k + 1) * h_sz] for k in range(4))  # (H, B) each
        hi = np.full((h3, b), exp_clip_bound(cd), dtype=cd) if form == "exp" else None
        matmul, add, multiply, tanh = np.matmul, np.add, np.multiply, np.tanh
        # h of the current chunk's steps, feature-major and contiguous (a contiguous write is ~3x faster
        # than one through the transposed view of y[t]); copied into y once per chunk
        h_chunk = np.empty((k_steps, h_sz, b), dtype=cd)  # (K, H, B)
        h_t = h0.T  # (H, B) view
        for t in range(t_len):
            s = t % k_steps
            if s == 0:
                if t:
                    y[t - k_steps:t] = h_chunk.transpose(0, 2, 1)  # (K, B, H)
                xp = proj.chunk(t)  # (4H, n, B)
            matmul(u_all, h_t, out=gates)
            add(gates, xp[:, s], out=gates)  # pre-activations, sigmoid rows pre-scaled
            if hi is not None:
                activate_gates_exp_(gates, h3, hi)
            else:
                activate_gates_tanh_(gates, h3)
            multiply(c, f_g, out=c)  # f * c_prev
            multiply(i_g, g_g, out=i_g)  # i * g (i is not needed after this)
            add(c, i_g, out=c)  # c_t = f * c_prev + i * g
            tanh(c, out=i_g)  # tanh(c_t), in i's block
            h_t = h_chunk[s]  # (H, B)
            multiply(i_g, o_g, out=h_t)  # h_t = o * tanh(c_t)
        t0 = t_len - 1 - (t_len - 1) % k_steps  # the last chunk's first step
        y[t0:] = h_chunk[:t_len - t0].transpose(0, 2, 1)
    return y, y[t_len - 1].copy(), c.T.copy()


def run_cell(cell: tuple, form: str, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
             y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cell over x3: the fused kernel above for a base cell ``(W_aug, U_all)``, the cell-feature kernel
    (features.py) for ``(W_aug, U_all, CellFeatures)``, whose weights are unscaled.  ``y``: an output
    array (T, B, P) to write into (any strides), else a new one."""
    if len(cell) == 2:
        return run_sequence(cell[0], cell[1], form, x3, h0, c0, y)
    from .features import run_sequence_features

    return run_sequence_features(cell[0], cell[1], cell[2], x3, h0, c0, y)
