"""Sequence structure around the fused kernel: per-row lengths, the reverse
direction, bidirectional and stacked models.

Nothing here touches the recurrence itself: every piece calls
``kernel.run_cell`` (one fused GEMM and a few elementwise passes per step) on
a suitable slice, view or gather of the inputs.

Lengths (the ``zero_fill`` convention)
    Rows are grouped by the distinct lengths l_1 < l_2 < ...: steps
    [l_{j-1}, l_j) run as one kernel call on the rows still active (length >=
    l_j), starting from their states after l_{j-1}.  So a row's padding is
    never read (not even by a step GEMM), y is 0 past its length,
    and its final state is the one after its last valid step (h0 / c0 for a row
    of length 0).  Costs one kernel call per distinct length, plus gathers of
    the active rows; all rows full is one plain call.

Reverse direction
    Without lengths: the kernel on ``x[::-1]``, outputs flipped back.  With
    lengths, each row's valid prefix is reversed by a gather
    (``x_rev[s, b] = x[len_b - 1 - s, b]`` for s < len_b, padding left in
    place), the forward-with-lengths run follows, and the same gather (its own
    inverse) puts the outputs back in input time order.

Stacking
    Layer k reads layer k-1's whole output (T, B, D*P), which is 0 past each
    row's length, and honours the lengths again; no dropout.  h is P wide
    (P = proj_size, else H), c is H wide.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .kernel import run_cell
from .layout import Cell


def run_with_lengths(
    cell: Cell, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
    lengths: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward direction, row b reading only x3[:len_b, b].

    x3 (T, B, In); h0 (B, P), c0 (B, H) (P = H without projection); lengths (B,)
    int64 in [0, T] or None (all T).  Returns y (T, B, P) (0 for t >= len_b),
    h_n (B, P), c_n (B, H).
    """
    cd = cell.uw.dtype
    t_len, b = x3.shape[:2]
    if lengths is None or b == 0 or int(lengths.min()) == t_len:
        return run_cell(cell, x3, h0, c0)
    y = np.zeros((t_len, b, cell.p), dtype=cd)  # (T, B, P)
    h = np.array(h0, dtype=cd)  # (B, P), each row's latest state
    c = np.array(c0, dtype=cd)  # (B, H)
    t0 = 0
    for t1 in np.unique(lengths).tolist():  # ascending distinct lengths
        if t1 == 0:
            continue
        active = np.flatnonzero(lengths >= t1)  # rows with steps t0 .. t1-1 all valid
        if active.size == b:
            y[t0:t1], h, c = run_cell(cell, x3[t0:t1], h, c)
        else:
            y_seg, h_seg, c_seg = run_cell(
                cell, x3[t0:t1, active], h[active], c[active]
            )  # (t1-t0, A, In) -> (t1-t0, A, P), (A, P), (A, H)
            y[t0:t1, active] = y_seg
            h[active] = h_seg
            c[active] = c_seg
        t0 = t1
    return y, h, c


def reverse_index(lengths: np.ndarray, t_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Gather indices reversing each row's valid prefix: (time (T, B), row (1, B)).

    time[s, b] = len_b - 1 - s for s < len_b, else s (padding stays where it
    is).  The gather is its own inverse.
    """
    s = np.arange(t_len)[:, None]  # (T, 1)
    lens = lengths[None, :]  # (1, B)
    time = np.where(s < lens, lens - 1 - s, s)  # (T, B)
    return time, np.arange(lengths.shape[0])[None, :]


def run_direction(
    cell: Cell, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
    lengths: np.ndarray | None, reverse: bool, y_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cell over the sequence, forward or reverse; y (T, B, P) in input time order.

    ``y_out`` (T, B, P), any strides: without lengths the kernel writes y straight into it (and it is
    returned), saving a copy (a bidirectional layer passes its halves); with lengths it is not used.
    """
    if lengths is None and y_out is not None and not reverse:
        return run_cell(cell, x3, h0, c0, y_out)
    if not reverse:
        return run_with_lengths(cell, x3, h0, c0, lengths)
    if lengths is None:  # the kernel writes y backwards in time: y comes out in input time order, no copy
        if y_out is None:
            y_out = np.empty((x3.shape[0], x3.shape[1], cell.p), dtype=cell.uw.dtype)  # (T, B, P)
        _, h_n, c_n = run_cell(cell, x3[::-1], h0, c0, y_out[::-1])
        return y_out, h_n, c_n
    idx = reverse_index(lengths, x3.shape[0])
    y, h_n, c_n = run_with_lengths(cell, x3[idx], h0, c0, lengths)  # x3[idx]: (T, B, In)
    return y[idx], h_n, c_n  # (T, B, P): 0 past each length, as y was


def run_stack(
    cells: Sequence[Cell], x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
    lengths: np.ndarray | None, num_layers: int, bidirectional: bool, reverse: bool,
    empty_rows_zero: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole model: cells[layer*D + direction]; x3 (T, B, I); h0 (L*D, B, P), c0 (L*D, B, H).

    ``reverse``: a reverse-only model (D = 1).  Returns y (T, B, D*P) (forward
    half first), h_n (L*D, B, P), c_n (L*D, B, H); P = H without projection.
    """
    d = 2 if bidirectional else 1
    t_len, b = x3.shape[:2]
    h_sz, p_sz = cells[0].h, cells[0].p
    cd = cells[0].uw.dtype
    h_n = np.empty((num_layers * d, b, p_sz), dtype=cd)  # (L*D, B, P)
    c_n = np.empty((num_layers * d, b, h_sz), dtype=cd)  # (L*D, B, H)
    layer_in = x3  # (T, B, I), then (T, B, D*P)
    for layer in range(num_layers):
        if d == 1:
            k = layer
            layer_in, h_n[k], c_n[k] = run_direction(
                cells[k], layer_in, h0[k], c0[k], lengths, reverse
            )  # (T, B, P)
            continue
        out = np.empty((t_len, b, 2 * p_sz), dtype=cd)  # (T, B, 2P): [forward | reverse]
        for direction in range(2):
            k = 2 * layer + direction
            half = out[:, :, direction * p_sz:(direction + 1) * p_sz]  # (T, B, P) view
            y, h_n[k], c_n[k] = run_direction(
                cells[k], layer_in, h0[k], c0[k], lengths, bool(direction), half
            )
            if y is not half:  # with lengths: a y of its own
                half[...] = y
        layer_in = out
    if empty_rows_zero:
        empty = np.full(b, t_len == 0) if lengths is None else lengths == 0  # (B,)
        h_n[:, empty] = 0.0
        c_n[:, empty] = 0.0
    return layer_in, h_n, c_n
