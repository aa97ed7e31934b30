"""The fused LSTM kernel: one input-projection GEMM, then one GEMM and a few
in-place elementwise passes per step.

Feature-major inside: the step GEMM is ``U_all (4H, H) @ h^T (H, B)`` (the
transpose of ``h (B, H) @ U_all^T (H, 4H)``), so each gate is a contiguous
(H, B) block of the (4H, B) gate buffer and every elementwise pass runs on
contiguous memory (NumPy is several times slower on row-strided slices).
``h^T`` is read straight from ``y[t-1]`` as a transposed view, and ``h_t`` is
written into ``y[t]`` through one, so ``h`` needs no buffer of its own.

Memory: ``y`` (T, B, H) + the input projection (4H, T*B) + a copy of the
inputs with a ones column (T*B, I + 1) + O(B*H) working state (the gate
buffer (4H, B), the cell state (H, B) and, for float64, the (3H, B) clip bound).

This is the one recurrence of the package: the reverse direction, per-row
lengths, bidirectional and stacked models (structure.py) call it on slices,
views and gathers of their inputs.  ``x3`` may have any strides.
"""
from __future__ import annotations

import numpy as np

from .activations import activate_gates_exp_, activate_gates_tanh_, exp_clip_bound


def run_sequence(
    w_aug: np.ndarray,
    u_all: np.ndarray,
    form: str,
    x3: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the recurrence in the dtype of ``w_aug`` (layout.py describes the weights).

    w_aug (4H, I + 1), u_all (4H, H); form "exp" or "tanh" (activations.py);
    x3 (T, B, I); h0, c0 (B, H).  Returns y (T, B, H), h_n (B, H), c_n (B, H),
    all newly allocated; the inputs are not modified.
    """
    t_len, b, i_sz = x3.shape
    h4, h_sz = u_all.shape[0], u_all.shape[1]
    h3 = 3 * h_sz
    cd = w_aug.dtype
    y = np.empty((t_len, b, h_sz), dtype=cd)  # (T, B, H)
    c = np.array(c0.T, dtype=cd, order="C")  # (H, B), updated in place
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    with np.errstate(under="ignore"):  # underflow to 0 is the right answer in an LSTM
        # Input projection of all steps, bias included, in one GEMM:
        # W_aug (4H, I+1) @ [X | 1]^T (I+1, T*B) -> (4H, T*B); column t*B + r is (step t, row r).
        x_aug = np.empty((t_len * b, i_sz + 1), dtype=cd)  # (T*B, I + 1)
        # (T, B, I) into a (T, B, I + 1) view: no temporary for strided x3 (a reversed or gathered input)
        x_aug.reshape(t_len, b, i_sz + 1)[:, :, :i_sz] = x3
        x_aug[:, i_sz] = 1.0
        xp = np.matmul(w_aug, x_aug.T).reshape(h4, t_len, b)  # (4H, T, B)
        del x_aug
        gates = np.empty((h4, b), dtype=cd)  # (4H, B): [i; f; o; g] of the current step
        i_g, f_g, o_g, g_g = (gates[k * h_sz:(k + 1) * h_sz] for k in range(4))  # (H, B) each
        hi = np.full((h3, b), exp_clip_bound(cd), dtype=cd) if form == "exp" else None
        matmul, add, multiply, tanh = np.matmul, np.add, np.multiply, np.tanh
        h_t = h0.T  # (H, B) view
        for t in range(t_len):
            matmul(u_all, h_t, out=gates)
            add(gates, xp[:, t], out=gates)  # pre-activations, sigmoid rows pre-scaled
            if hi is not None:
                activate_gates_exp_(gates, h3, hi)
            else:
                activate_gates_tanh_(gates, h3)
            multiply(c, f_g, out=c)  # f * c_prev
            multiply(i_g, g_g, out=i_g)  # i * g (i is not needed after this)
            add(c, i_g, out=c)  # c_t = f * c_prev + i * g
            tanh(c, out=i_g)  # tanh(c_t), in i's block
            h_t = y[t].T  # (H, B) view of y[t] (B, H)
            multiply(i_g, o_g, out=h_t)  # h_t = o * tanh(c_t)
    return y, y[t_len - 1].copy(), c.T.copy()


def run_cell(cell: tuple, form: str, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cell over x3: the fused kernel above for a base cell ``(W_aug, U_all)``, the cell-feature kernel
    (features.py) for ``(W_aug, U_all, CellFeatures)``, whose weights are unscaled."""
    if len(cell) == 2:
        return run_sequence(cell[0], cell[1], form, x3, h0, c0)
    from .features import run_sequence_features

    return run_sequence_features(cell[0], cell[1], cell[2], x3, h0, c0)
