"""flax.linen LSTMCell and OptimizedLSTMCell scanned over time, loaded through the spec's `flax` packing.

float64 needs jax_enable_x64, which the adapter sets when it is built: run it in
the harness's worker process (the default) so that no other code sees the change.
"""
from __future__ import annotations

import numpy as np

from .base import FrameworkAdapter


class FlaxLSTMCellAdapter(FrameworkAdapter):
    """flax.linen.LSTMCell, jax.lax.scan over time, jit-compiled."""

    name = "flax.linen.LSTMCell"
    framework = "flax"
    install = "pip install jax flax"
    cell_class = "LSTMCell"

    def _import(self) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)
        import flax
        import flax.linen as nn

        self.jax, self.nn = jax, nn
        self.name = f"flax {flax.__version__} linen.{self.cell_class} (jax {jax.__version__})"

    def run(self, x, h0, c0, params):
        jax, jnp = self.jax, self.jax.numpy
        cell = getattr(self.nn, self.cell_class)(features=h0.shape[1], dtype=x.dtype, param_dtype=x.dtype)
        variables = {"params": _nest(self.tensors("flax", params))}

        @jax.jit
        def scan(variables, x, carry):
            def step(carry, x_t):
                carry, h = cell.apply(variables, carry, x_t)
                return carry, h

            return jax.lax.scan(step, carry, x)

        (c_n, h_n), y = scan(variables, jnp.asarray(x), (jnp.asarray(c0), jnp.asarray(h0)))  # flax's carry is (c, h)
        return np.asarray(y), np.asarray(h_n), np.asarray(c_n)


class FlaxOptimizedLSTMCellAdapter(FlaxLSTMCellAdapter):
    """flax.linen.OptimizedLSTMCell (same parameters as LSTMCell, one fused matmul per input)."""

    name = "flax.linen.OptimizedLSTMCell"
    cell_class = "OptimizedLSTMCell"


def _nest(flat: dict[str, np.ndarray]) -> dict:
    """{"ii/kernel": a} -> {"ii": {"kernel": a}}: flax's parameter tree from the packing's tensor names."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree
