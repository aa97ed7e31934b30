"""Parameter initialisation: Glorot-uniform W, orthogonal U, zero biases.

All draws come from the ``numpy.random.Generator`` passed in (never the global
RNG), in float64, and are then rounded to the model dtype.  Draw order, which
fixes the weights for a given seed: W_i, W_f, W_g, W_o, then U_i, U_f, U_g, U_o;
a stacked or bidirectional model draws its cells one after the other in cell
order (layer*D + direction), so its layer-0 forward cell is the one-layer
model's for the same seed.  Glorot's fan-in is the cell's input size: I for
layer 0, D*H above.
"""
from __future__ import annotations

import numpy as np

from .layout import GATES


def glorot_uniform(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """Draw a (fan_out, fan_in) float64 matrix from U(-a, a), a = sqrt(6 / (fan_in + fan_out))."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=(fan_out, fan_in))


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw an (n, n) float64 orthogonal matrix, Haar-distributed.

    QR of a standard-normal matrix, with the columns of Q multiplied by the
    signs of diag(R) so the distribution is uniform over O(n).
    """
    a = rng.standard_normal((n, n))
    q, r = np.linalg.qr(a)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs  # (n, n): column j scaled by signs[j]


def init_params(
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator,
    dtype: np.dtype,
    forget_bias: float = 0.0,
) -> dict[str, np.ndarray]:
    """Return a fresh canonical parameter dict (see ``lstm_impl.LSTM``) in ``dtype``."""
    h, i = hidden_size, input_size
    params: dict[str, np.ndarray] = {}
    for k in GATES:
        params[f"W_{k}"] = glorot_uniform(rng, h, i).astype(dtype)  # (H, I)
    for k in GATES:
        params[f"U_{k}"] = orthogonal(rng, h).astype(dtype)  # (H, H)
    for k in GATES:
        params[f"b_{k}"] = np.zeros(h, dtype=dtype)  # (H,)
    params["b_f"][...] = forget_bias
    return params


def init_stacked_params(
    input_size: int,
    hidden_size: int,
    rng: np.random.Generator,
    dtype: np.dtype,
    forget_bias: float,
    suffixes: list[list[str]],
) -> dict[str, np.ndarray]:
    """Fresh parameters of every cell; ``suffixes[layer][direction]`` names the cells."""
    params: dict[str, np.ndarray] = {}
    for layer, layer_suffixes in enumerate(suffixes):
        in_size = input_size if layer == 0 else len(layer_suffixes) * hidden_size
        for suffix in layer_suffixes:
            cell = init_params(in_size, hidden_size, rng, dtype, forget_bias)
            params.update((name + suffix, value) for name, value in cell.items())
    return params
