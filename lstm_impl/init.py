"""Parameter initialisation: Glorot-uniform W, orthogonal U, zero biases
(with projection: U (H, P) with orthonormal columns or rows, Glorot-uniform W_proj).

All draws come from the ``numpy.random.Generator`` passed in (never the global
RNG), in float64, and are then rounded to the model dtype.  Draw order, which
fixes the weights for a given seed: W_i, W_f, W_g, W_o, then U_i, U_f, U_g, U_o;
a stacked or bidirectional model draws its cells one after the other in cell
order (layer*D + direction), so its layer-0 forward cell is the one-layer
model's for the same seed.  Glorot's fan-in is the cell's input size: I for
layer 0, D*P above (P = H without projection).
"""
from __future__ import annotations

import numpy as np

from .layout import GATES


def glorot_uniform(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """Draw a (fan_out, fan_in) float64 matrix from U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_out, fan_in))


def orthogonal(rng: np.random.Generator, n: int, m: int | None = None) -> np.ndarray:
    """Draw an (n, m) float64 matrix with orthonormal columns (n >= m) or rows (n < m), Haar-distributed;
    ``m`` defaults to ``n`` (an orthogonal matrix).

    QR of a standard-normal (max, min) matrix, with the columns of Q multiplied
    by the signs of diag(R) so the distribution is uniform; transposed when n < m.
    """
    m = n if m is None else m
    tall = n >= m
    a = rng.standard_normal((n, m) if tall else (m, n))
    q, r = np.linalg.qr(a)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    q = q * signs  # (max, min): column j scaled by signs[j]
    return q if tall else q.T


def init_params(
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator,
    dtype: np.dtype,
    forget_bias: float = 0.0,
    proj_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Return a fresh canonical parameter dict (see ``lstm_impl.LSTM``) in ``dtype``.

    With ``proj_size`` P: U_k (H, P) with orthonormal columns or rows, and
    W_proj (P, H), Glorot-uniform, drawn after the U_k.
    """
    h, i = hidden_size, input_size
    p = h if proj_size is None else proj_size
    params: dict[str, np.ndarray] = {}
    for k in GATES:
        params[f"W_{k}"] = glorot_uniform(rng, h, i).astype(dtype)  # (H, I)
    for k in GATES:
        params[f"U_{k}"] = orthogonal(rng, h, p).astype(dtype)  # (H, P)
    for k in GATES:
        params[f"b_{k}"] = np.zeros(h, dtype=dtype)  # (H,)
    params["b_f"][...] = forget_bias
    if proj_size is not None:
        params["W_proj"] = glorot_uniform(rng, p, h).astype(dtype)  # (P, H)
    return params


def init_stacked_params(
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator,
    dtype: np.dtype,
    forget_bias: float,
    suffixes: list[list[str]],
    proj_size: int | None = None,
) -> dict[str, np.ndarray]:
    """Fresh parameters of every cell; ``suffixes[layer][direction]`` names the cells.  Layer k >= 1 reads
    D*P inputs (P = proj_size, else H)."""
    params: dict[str, np.ndarray] = {}
    width = hidden_size if proj_size is None else proj_size
    for layer, layer_suffixes in enumerate(suffixes):
        in_size = input_size if layer == 0 else len(layer_suffixes) * width
        for suffix in layer_suffixes:
            cell = init_params(in_size, hidden_size, rng, dtype, forget_bias, proj_size)
            params.update((name + suffix, value) for name, value in cell.items())
    return params
