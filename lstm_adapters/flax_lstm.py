"""flax.linen LSTMCell and OptimizedLSTMCell, loaded through the spec's `flax` packing.

The base LSTM scans the cell over time with jax.lax.scan; the spec's sequence structures
(spec/lstm.yaml `features`) use flax's own sequence modules. float64 needs jax_enable_x64, which
the adapter sets when it is built: run it in the harness's worker process (the default) so that no
other code sees the change.

What flax does with the sequence structure, pinned by running flax 0.12.8 (jax 0.10.2) against a
step-by-step cell.apply loop (tests/test_adapter_keras_flax.py runs the goldens):

- direction "reverse": nn.RNN(cell, reverse=True, keep_order=True) processes x[T-1] .. x[0] and, with
  keep_order=True, returns y in input time order (keep_order=False, the default, returns it in
  processing order: reversed). Its final carry is the state after consuming x[0]. Canonical as is.
- direction "bidirectional": nn.Bidirectional(forward_rnn, backward_rnn). It calls the backward RNN with
  reverse=True, keep_order=True whatever that RNN's own attributes say; its default merge_fn
  concatenates [forward | backward] on the last axis; its carry is (forward carry, backward carry),
  each the cell's (c, h) of shape (B, H), and initial_carry takes the same nesting. Two RNNs built on
  one cell *instance* share its parameters (flax adopts the instance once): each RNN needs its own cell.
- num_layers: a chain of those modules (one per layer, `layer_<k>`), layer k >= 1 reading layer
  k-1's y; each has its own initial carry, taken from h0/c0[layer * D + run].
- lengths: each nn.RNN / nn.Bidirectional is called with seq_lengths. With `seq_lengths`, nn.RNN does
  NOT zero y past a row's length: the forward run simply continues through the padding, and those
  values are in y. The reverse run (flip_sequences) processes x[len-1] .. x[0] and then the padding,
  x[T-1] .. x[len], and puts y back through the same index map, so y[len:] holds the states after the
  padding. The final carry is read at index seq_lengths - 1 of the carry history, so it is right for
  len >= 1, and a row of length 0 reads index -1: the carry after all T steps of padding (forward:
  x[0] .. x[T-1]; reverse: x[T-1] .. x[0]), neither h0/c0 nor zeros.
  Declared as conventions = {"lengths": "valid_steps"} (spec/lstm.yaml derived_conventions): y is judged
  only where t < len_b; h_n, c_n and y there follow zero_fill. Stacked layers read the previous layer's
  padded steps only past the length, where neither run looks. A row of length 0 is the deviation it is,
  not a convention: skip_case skips those cases with the measured behaviour (EMPTY_ROW_DEVIATION), and
  tests/test_adapter_keras_flax.py pins it (h_n of that row equals a plain run over all T padded steps).

No gate permutation lives here: each layer's and run's parameters (lstm_conformance.spec.variants.cell_params)
are packed with the spec's `flax` packing and placed at the path flax gives that layer's cell. The
compiled function is cached per structure, hidden size and dtype (jax.jit then caches per shape).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .base import FrameworkAdapter
from .gpu import DeviceRequired

# The features this adapter runs through flax's own modules (empty_rows only at its canonical default).
RUNS_FEATURES = frozenset({"direction", "num_layers", "lengths"})
EMPTY_ROW_DEVIATION = ("deviation: flax nn.RNN(seq_lengths=...) gives a row of length 0 the carry after all T "
                       "padded steps (it reads the carry history at index seq_lengths - 1 = -1), not h0/c0 "
                       "(README, Deviations); not judged")


class FlaxLSTMCellAdapter(FrameworkAdapter):
    """flax.linen.LSTMCell: jax.lax.scan over time for the base LSTM; nn.RNN, nn.Bidirectional and a
    chain of layers for the other sequence structures; jit-compiled."""

    name = "flax.linen.LSTMCell"
    framework = "flax"
    install = "pip install jax flax"
    cell_class = "LSTMCell"
    conventions = {"lengths": "valid_steps"}  # y past a row's length holds the padded steps (module docstring)

    def _import(self) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)
        import flax
        import flax.linen as nn

        self.jax, self.nn = jax, nn
        self.name = f"flax {flax.__version__} linen.{self.cell_class} (jax {jax.__version__})"

    def supports(self, variant: dict) -> bool:
        return set(variant) <= RUNS_FEATURES

    def skip_case(self, inputs: Mapping[str, np.ndarray], variant: dict, dtype: str) -> str | None:
        lengths = inputs.get("seq_lengths")
        if lengths is None or not (np.asarray(lengths) == 0).any():
            return None
        return f"{EMPTY_ROW_DEVIATION} (rows {np.flatnonzero(np.asarray(lengths) == 0).tolist()})"

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

    def run_variant(self, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                    variant: dict) -> dict[str, np.ndarray]:
        from lstm_conformance.spec.variants import cell_params, structure

        if not self.supports(variant):  # pragma: no cover - the runner asks supports() first
            raise ValueError(f"{self.name} does not run variant {variant}")
        st = structure(self.spec, variant)
        x, h0, c0 = inputs["x"], inputs["h0"], inputs["c0"]
        if not st.stacked:  # (B, H) -> (1, B, H): one layer, one run
            h0, c0 = h0[None], c0[None]
        h_sz = h0.shape[-1]
        module, apply = self._module(st.runs, st.L, h_sz, x.dtype)
        tree: dict = {}
        for layer in range(st.L):
            for run in range(st.D):
                packed = self.tensors("flax", cell_params(self.spec, variant, params, layer, run))
                node = tree
                for part in _cell_path(st.runs, layer, run):
                    node = node.setdefault(part, {})
                node.update(_nest(packed))
        self._check_tree(module, tree, x, h0, c0)
        lengths = None if st.lengths is None else np.asarray(inputs["seq_lengths"])
        y, h_n, c_n = apply({"params": tree}, x, h0, c0, lengths)
        y, h_n, c_n = np.asarray(y), np.asarray(h_n), np.asarray(c_n)
        if not st.stacked:
            h_n, c_n = h_n[0], c_n[0]
        return {"y": y, "h_n": h_n, "c_n": c_n}

    def _module(self, runs: tuple[str, ...], layers: int, h_sz: int, dtype: np.dtype) -> tuple[Any, Any]:
        """The flax module for this structure and its jit-compiled apply, cached."""
        key = (runs, layers, h_sz, np.dtype(dtype).name)
        compiled = self.__dict__.setdefault("_compiled", {})
        if key not in compiled:
            module = _stack_module(self.nn, getattr(self.nn, self.cell_class), runs, layers, h_sz, np.dtype(dtype))
            compiled[key] = (module, self.jax.jit(module.apply))  # jax.jit compiles once per input shape
        return compiled[key]

    def _check_tree(self, module, tree: dict, x, h0, c0) -> None:
        """The packed parameters must be exactly the ones flax creates (names and shapes), or the run
        would fail with flax's less helpful words (or ignore a tensor)."""
        jax = self.jax
        key = (id(module), x.shape, h0.shape, x.dtype.name)
        checked = self.__dict__.setdefault("_param_shapes", {})
        if key not in checked:  # flax's own parameter shapes for this module and shape (traced once)
            want = jax.eval_shape(module.init, jax.random.key(0), x, h0, c0)["params"]
            checked[key] = {_path(p): tuple(a.shape) for p, a in jax.tree_util.tree_flatten_with_path(want)[0]}
        want_shapes = checked[key]
        have_shapes = {_path(p): tuple(np.shape(a)) for p, a in jax.tree_util.tree_flatten_with_path(tree)[0]}
        if want_shapes != have_shapes:
            raise RuntimeError(f"flax's parameters are {sorted(want_shapes.items())}, but the spec's flax packing "
                               f"gave {sorted(have_shapes.items())}")


class FlaxOptimizedLSTMCellAdapter(FlaxLSTMCellAdapter):
    """flax.linen.OptimizedLSTMCell (same parameters as LSTMCell, one fused matmul per input)."""

    name = "flax.linen.OptimizedLSTMCell"
    cell_class = "OptimizedLSTMCell"


def _cell_path(runs: tuple[str, ...], layer: int, run: int) -> tuple[str, ...]:
    """Where flax puts the cell of layer `layer`, run `run`, in the stack's parameter tree: nn.RNN names
    its cell `cell`; nn.Bidirectional names its RNNs `forward_rnn` and `backward_rnn`."""
    if len(runs) == 2:
        return (f"layer_{layer}", ("forward_rnn", "backward_rnn")[run], "cell")
    return (f"layer_{layer}", "cell")


def _stack_module(nn, cell_cls, runs: tuple[str, ...], layers: int, h_sz: int, dtype: np.dtype):
    """A linen module: `layers` layers of nn.RNN (one run) or nn.Bidirectional (forward, reverse), time-major,
    each with its own initial carry; (x, h0, c0) -> (y, h_n, c_n) with states (L * D, B, H)."""
    import jax.numpy as jnp

    if runs not in (("forward",), ("reverse",), ("forward", "reverse")):
        raise ValueError(f"runs {runs}: flax's Bidirectional concatenates [forward | backward]; "
                         f"this adapter knows no other order")

    def rnn(reverse: bool, **where):
        # parent=None: the cell belongs to its RNN (`cell`), not to the module whose method builds it; and a
        # cell per RNN, since one instance given to two RNNs is one set of parameters
        cell = cell_cls(features=h_sz, dtype=dtype, param_dtype=dtype, parent=None)
        return nn.RNN(cell, time_major=True, return_carry=True, reverse=reverse, keep_order=True, **where)

    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x, h0, c0, seq_lengths=None):
            d = len(runs)
            hs, cs = [], []
            for layer in range(layers):
                k = layer * d  # the spec's structure.state_index: layer * D + run
                if d == 2:
                    bi = nn.Bidirectional(rnn(False, parent=None), rnn(True, parent=None), time_major=True,
                                          return_carry=True, name=f"layer_{layer}")
                    ((c_f, h_f), (c_b, h_b)), x = bi(x, initial_carry=((c0[k], h0[k]), (c0[k + 1], h0[k + 1])),
                                                     seq_lengths=seq_lengths)
                    hs += [h_f, h_b]
                    cs += [c_f, c_b]
                else:
                    (c, h), x = rnn(runs[0] == "reverse", name=f"layer_{layer}")(x, initial_carry=(c0[k], h0[k]),
                                                                                 seq_lengths=seq_lengths)
                    hs.append(h)
                    cs.append(c)
            return x, jnp.stack(hs), jnp.stack(cs)

    return Stack()


def _path(path) -> str:
    return "/".join(str(getattr(k, "key", k)) for k in path)


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


class FlaxGpuLSTMCellAdapter(DeviceRequired, FlaxLSTMCellAdapter):
    """The `flax` adapter with jax placed on its first GPU (jax.devices("gpu")[0]): each call runs under
    jax.default_device(that GPU), so the jit-compiled functions and their inputs live there, and the outputs
    come back with np.asarray. Without a GPU for jax every case is skipped with the reason
    (lstm_adapters.gpu.jax_gpu), so the run is NOT RUN."""

    def _import(self) -> None:
        from .gpu import jax_gpu

        super()._import()
        self.device, self.no_device = jax_gpu(self.jax)
        where = "no GPU" if self.no_device else f"{self.device} {getattr(self.device, 'device_kind', '')}".rstrip()
        self.name = f"{self.name} on GPU ({where})"

    def _on_device(self):
        return self.jax.default_device(self.device)


class FlaxGpuOptimizedLSTMCellAdapter(FlaxGpuLSTMCellAdapter):
    """The `flax-optimized` adapter (linen.OptimizedLSTMCell) on jax's first GPU."""

    name = "flax.linen.OptimizedLSTMCell"
    cell_class = "OptimizedLSTMCell"
