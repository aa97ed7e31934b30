"""The LSTM: canonical parameters, a one-step ``forward`` and a fused
``forward_sequence``, for one layer and one direction or any stack of
layers, reverse-only or bidirectional, with optional per-row lengths.

Structure
---------
``LSTM(I, H, num_layers=L, bidirectional=True, batch_first=True)`` as torch
users expect, or equivalently ``variant={"num_layers": L, "direction":
"bidirectional"}`` (variant.py lists the keys; ``{"direction": "reverse"}`` is
a reverse-only LSTM).  D = 2 directions when bidirectional, else 1; the model
has L*D cells, indexed layer*D + direction as in torch, each with its own
canonical parameter set (names in layout.py).  Shapes:

* ``X`` (T, B, I), or (B, T, I) with ``batch_first``, or one unbatched
  sequence (T, I) (B = 1);
* ``h0`` / ``c0`` and ``h_n`` / ``c_n``: (B, H) when L*D == 1, else
  (L*D, B, H) (also with ``batch_first``, as torch does); (H,) or (L*D, H)
  for an unbatched ``X``;
* ``y`` (T, B, D*H) (batch-first: (B, T, D*H)): the last layer's h_t for
  every t in input time order, forward half first;
* ``lengths`` (B,) integers in [0, T]: the ``zero_fill`` convention
  (variant.py; structure.py has the algorithm).

Cell features (variant keys ``activations``, ``peephole``, ``coupling``,
``layer_norm``, ``clip``, ``proj_size``, ``proj_bias``, ``proj_clip``;
features.py) run a plainer per-step kernel.  With ``proj_size`` P, h is P
wide: ``h0`` / ``h_n`` are (B, P) or (L*D, B, P), ``y`` (T, B, D*P), while
``c0`` / ``c_n`` stay H wide; ``U_k`` is (H, P) and the ``W_k`` above layer 0
are (H, D*P).

``forward`` (one step) is one step of one cell: it is defined for a model with
a single cell (one layer; forward or reverse-only) and raises ``ValueError``
for a stacked or bidirectional model, where a step has no single meaning (a
bidirectional output at t needs the whole sequence): use ``forward_sequence``.

Dtypes
------
The model has one dtype (float16, float32 or float64); its parameters are
held in it and every output is returned in it.  Inputs (``X``, ``x_t`` and
the states) of another *floating* dtype are cast to the model dtype first
(e.g. a float64 ``X`` given to a float32 model is rounded to float32; a value
too large for the model dtype becomes inf, with NumPy's cast warning); integer,
bool and complex inputs raise ``TypeError``.  float32 and float64 are computed
in their own dtype end to end.  float16 is computed in float32 (NumPy has no
float16 BLAS) from float16-rounded parameters and inputs, and the outputs are
rounded back to float16.

Memory (``forward_sequence``)
-----------------------------
Outputs ``y`` (T, B, H) plus O(B*(H+I)) working memory, independent of T:
each step's GEMM operand ``[h_{t-1}; x_t; 1]`` lives in a reused buffer of at
most 64 steps (the inputs are copied in, and the h's out to ``y``, once per
chunk), plus one (5H, B) buffer for the gates and the cell state; kernel.py
has the details (the cell-feature kernel shares the operand buffer).
A stacked, reverse or bidirectional model, or one given ``lengths``, holds in
addition one layer's output (T, B, D*H) and, for the reverse direction with
lengths, a reversed copy of the layer's input.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .activations import SIGMOID_SCALE, gate_form
from .checks import (
    check_bool,
    check_finite,
    check_float_array,
    check_model_dtype,
    check_lengths,
    check_positive_int,
    check_real_scalar,
)
from .init import init_stacked_params
from .features import cell_features, has_cell_features, layer_norm_weights, weights_scale
from .kernel import run_cell
from .layout import GATES, PARAM_NAMES, Cell, cell_param_names, cell_suffix, pack_params, param_names
from .structure import run_stack
from .variant import check_variant


class LSTM:
    """An LSTM: one layer and one direction by default, time-major; the base cell below unless the
    variant sets cell features (features.py).

    Per step, per batch row, per cell (sigma = logistic sigmoid)::

        i = sigma(W_i x_t + U_i h_{t-1} + b_i)    f = sigma(W_f x_t + U_f h_{t-1} + b_f)
        g = tanh (W_g x_t + U_g h_{t-1} + b_g)    o = sigma(W_o x_t + U_o h_{t-1} + b_o)
        c_t = f * c_{t-1} + i * g                 h_t = o * tanh(c_t)

    Parameters (canonical dict, see :attr:`params`): ``W_k`` (H, I), ``U_k``
    (H, H), ``b_k`` (H,) for k in i, f, g, o.  A stacked or bidirectional
    model (``num_layers``, ``bidirectional`` or ``variant``; the module
    docstring has the shapes) holds one such set per cell, suffixed ``_l{k}``
    for layer k >= 1 and ``_reverse`` for a bidirectional model's reverse
    direction; above layer 0, ``W_k`` is (H, D*H) (D*P with projection).
    ``batch_first`` makes ``X`` and ``y`` (B, T, ...) and leaves the states
    as they are.

    A new model is initialised with Glorot-uniform ``W_k``, orthogonal ``U_k``
    and zero biases except ``b_f = forget_bias`` (1.0 is a common choice), cell
    after cell; cell features start neutral: peepholes and ``b_proj`` 0,
    layer-norm scales 1, ``W_proj`` Glorot-uniform.  Random draws come from
    ``rng`` if given, else ``np.random.default_rng(seed)``; the global NumPy
    RNG is never used.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        variant: Mapping[str, Any] | None = None,
        dtype: Any = np.float64,
        seed: Any = None,
        forget_bias: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        i = check_positive_int(input_size, "input_size")
        h = check_positive_int(hidden_size, "hidden_size")
        dt = check_model_dtype(dtype)
        fb = check_real_scalar(forget_bias, "forget_bias")
        var = _merge_variant(variant, num_layers, bidirectional)
        bf = check_bool(batch_first, "batch_first")
        if rng is not None:
            if seed is not None:
                raise ValueError(
                    f"seed={seed!r} and rng were both given, but should be at most one of them"
                )
            if not isinstance(rng, np.random.Generator):
                raise TypeError(
                    f"rng is a {type(rng).__name__}, but should be a numpy.random.Generator"
                )
        else:
            rng = np.random.default_rng(seed)
        suffixes = _cell_suffixes(var)
        params = init_stacked_params(i, h, rng, dt, fb, suffixes, var.get("proj_size"))
        # peepholes and b_proj start at zero, layer-norm scales at one; "cifg" has no input gate
        own = [k for k in cell_param_names(var) if k not in PARAM_NAMES and k != "W_proj"]
        p = var.get("proj_size", h)
        for suffix in (s for layer_suffixes in suffixes for s in layer_suffixes):
            for k in own:
                params[k + suffix] = (np.ones(h, dtype=dt) if k.startswith("ln_")
                                      else np.zeros(p if k == "b_proj" else h, dtype=dt))
        self._set_params({k: v for k, v in params.items() if k in param_names(len(suffixes), len(suffixes[0]) == 2, var)},
                         dt, var, bf)

    # ------------------------------------------------------------------ params
    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any],
        dtype: Any = None,
        validate: bool = True,
        *,
        variant: Mapping[str, Any] | None = None,
        batch_first: bool = False,
    ) -> "LSTM":
        """Build a model from a canonical parameter dict (the arrays are copied).

        ``variant`` (variant.py) says which cells the dict holds: ``None``
        (the base LSTM) means exactly ``W_i ... b_o``; e.g. ``{"num_layers":
        2, "direction": "bidirectional"}`` also wants the ``_reverse``, ``_l1``
        and ``_l1_reverse`` sets; cell features add theirs (``p_i``, ``ln_f``,
        ``W_proj``, ...; layout.cell_param_names).  I and H are inferred from
        ``W_f`` (H, I), P from ``W_proj`` (P, H), which must agree with the
        variant's ``proj_size``; then ``U_k`` is (H, P) and the ``W_k`` of
        layers >= 1 are (H, D*P).
        Every key must be present, no other key allowed, every value a real
        floating array of the right shape.  ``dtype`` defaults to the common
        dtype of the arrays; they are cast to it.  With ``validate`` (default)
        the cast values must be finite.
        """
        var = check_variant(variant)
        bf = check_bool(batch_first, "batch_first")
        if not isinstance(params, Mapping):
            raise TypeError(f"params is a {type(params).__name__}, but should be a mapping (dict)")
        names = param_names(var.get("num_layers", 1), var.get("direction") == "bidirectional", var)
        missing = [k for k in names if k not in params]
        unknown = sorted(str(k) for k in params if k not in names)
        if missing or unknown:
            hint = ""
            if not var and any(k.endswith("_reverse") or _layer_of(k) for k in unknown):
                hint = (" (names with _l{k} or _reverse belong to a stacked or bidirectional "
                        "model: pass its variant, e.g. variant={'num_layers': 2})")
            raise ValueError(
                f"params keys: missing {missing}, unknown {unknown}, "
                f"but should be exactly {list(names)}{hint}"
            )
        arrays = {k: check_float_array(params[k], f"params['{k}']") for k in names}
        w_f = arrays["W_f"]  # the input gate's W_i is absent under coupling "cifg"
        if w_f.ndim != 2 or 0 in w_f.shape:
            raise ValueError(
                f"params['W_f'].shape={w_f.shape}, but should be (H, I) with H, I >= 1"
            )
        h, i = w_f.shape
        d = 2 if var.get("direction") == "bidirectional" else 1
        proj = "proj_size" in var
        if proj:
            w_proj = arrays["W_proj"]
            if w_proj.shape != (var["proj_size"], h):
                raise ValueError(
                    f"params['W_proj'].shape={w_proj.shape}, but should be (P, H) = "
                    f"{(var['proj_size'], h)} [P={var['proj_size']} from variant['proj_size'], "
                    f"H={h} from params['W_f'].shape]"
                )
        p = var["proj_size"] if proj else h  # the width of h
        dims = f"H={h}, I={i} from params['W_f'].shape" + (f", P={p} from params['W_proj'].shape" if proj else "")
        for layer, layer_suffixes in enumerate(_cell_suffixes(var)):
            for suffix in layer_suffixes:
                for base in cell_param_names(var):
                    k = base + suffix
                    shape, text = _expected_shape(base, layer, h, i, p, d, proj)
                    if arrays[k].shape != shape:
                        raise ValueError(
                            f"params['{k}'].shape={arrays[k].shape}, but should be {text} [{dims}]"
                        )
        if dtype is None:
            dt = np.result_type(*arrays.values())
            dt = check_model_dtype(dt, "dtype (common dtype of params)")
        else:
            dt = check_model_dtype(dtype)
        with np.errstate(over="ignore"):  # a value too big for dt becomes inf, caught below
            canonical = {k: np.array(arrays[k], dtype=dt, copy=True) for k in names}
        if validate:
            for k in names:
                check_finite(canonical[k], f"params['{k}'] (as {dt})")
        model = cls.__new__(cls)
        model._set_params(canonical, dt, var, bf)
        return model

    def _set_params(
        self, canonical: dict[str, np.ndarray], dtype: np.dtype, variant: dict[str, Any],
        batch_first: bool,
    ) -> None:
        self._dtype = dtype
        # float16 is computed in float32 (see module docstring).
        self._compute_dtype = np.dtype(np.float32) if dtype == np.float16 else dtype
        self._params = canonical
        self._hidden_size, self._input_size = canonical["W_f"].shape
        self._proj_size = canonical["W_proj"].shape[0] if "W_proj" in canonical else None
        self._h_width = self._proj_size or self._hidden_size  # P: the width of h (H without projection)
        self._variant = variant
        self._batch_first = batch_first
        self._num_layers = variant.get("num_layers", 1)
        self._bidirectional = variant.get("direction") == "bidirectional"
        self._reverse = variant.get("direction") == "reverse"
        self._empty_rows_zero = variant.get("empty_rows") == "zeros"
        # Fused layout (layout.py): gate order (i, f, o, g), [U | W | b] side by side, the sigmoid blocks
        # pre-scaled for the sigmoid form of the compute dtype (activations.py; a feature cell may carry
        # the factor in its layer norm instead, features.cell_features).  One Cell per (layer, direction).
        features = has_cell_features(variant)  # cell features: features.py's kernel
        form = "own" if "activations" in variant else gate_form(self._compute_dtype)
        s_sig = 1.0 if form == "own" else SIGMOID_SCALE[form]
        scale = weights_scale(variant, s_sig) if features else s_sig
        self._cells = []
        for suffix in (s for layer_suffixes in _cell_suffixes(variant) for s in layer_suffixes):
            own = {k: canonical[k + suffix] for k in cell_param_names(variant) if k in PARAM_NAMES}
            if variant.get("layer_norm"):  # the biases are added after the normalisation (CellFeatures.bias)
                own = {k: np.zeros_like(v) if k[0] == "b" else v for k, v in own.items()}
            feats = cell_features(variant, canonical, suffix, self._compute_dtype, s_sig) if features else None
            uw = pack_params(own, self._compute_dtype, scale)
            if feats is not None and feats.centered:  # layer norm's centring (and scales), in the weights
                uw, feats = layer_norm_weights(uw, feats)
            self._cells.append(Cell(uw, form, self._h_width, feats))
        self._first_cell = self._cells[0]  # the first cell (the only one of the base LSTM)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The canonical parameter dict (copies; editing them does not change the model).

        Cell by cell (layer*D + direction), each in the order W_i ... W_o,
        U_i ... U_o, b_i ... b_o.
        """
        return {k: v.copy() for k, v in self._params.items()}

    @property
    def variant(self) -> dict[str, Any]:
        """The canonical variant (a new dict): only what differs from the base LSTM."""
        return dict(self._variant)

    @property
    def input_size(self) -> int:
        """I, the size of one input vector x_t."""
        return self._input_size

    @property
    def hidden_size(self) -> int:
        """H, the number of units of every cell (the size of c, and of h without projection)."""
        return self._hidden_size

    @property
    def proj_size(self) -> int | None:
        """P, the width of h (h0, y, h_n) when the variant sets ``proj_size``; else None (h is H wide)."""
        return self._proj_size

    @property
    def num_layers(self) -> int:
        """L, the number of stacked layers."""
        return self._num_layers

    @property
    def bidirectional(self) -> bool:
        """True if every layer has a forward and a reverse direction (D = 2)."""
        return self._bidirectional

    @property
    def batch_first(self) -> bool:
        """True if ``X`` and ``y`` are (B, T, ...) instead of (T, B, ...)."""
        return self._batch_first

    @property
    def dtype(self) -> np.dtype:
        """The model dtype: parameters and outputs."""
        return self._dtype

    @property
    def compute_dtype(self) -> np.dtype:
        """The dtype the kernel computes in: the model dtype, or float32 for float16."""
        return self._compute_dtype

    def __repr__(self) -> str:
        extra = f", variant={self._variant!r}" if self._variant else ""
        extra += ", batch_first=True" if self._batch_first else ""
        return (
            f"LSTM(input_size={self._input_size}, hidden_size={self._hidden_size}, "
            f"dtype={self._dtype.name}{extra})"
        )

    # ------------------------------------------------------------------ input checks
    def _as_input(self, value: Any, name: str) -> np.ndarray:
        """Float array in the model dtype, then in the compute dtype."""
        arr = check_float_array(value, name)
        if arr.dtype != self._dtype:
            arr = arr.astype(self._dtype)
        return arr.astype(self._compute_dtype, copy=False)

    def _state(self, value: Any, name: str, shape: tuple[int, ...], text: str) -> np.ndarray:
        """A state argument (h or c) of ``shape`` in the compute dtype, zeros if None."""
        if value is None:
            return np.zeros(shape, dtype=self._compute_dtype)
        arr = self._as_input(value, name)
        if arr.shape != shape:
            raise ValueError(f"{name}.shape={arr.shape}, but should be {text} = {shape}")
        return arr

    # ------------------------------------------------------------------ forward
    def forward(
        self, x_t: Any, h_prev: Any = None, c_prev: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One step of the model's one cell; returns ``(h_t, c_t)`` in the form of the inputs.

        Forms: ``x_t`` (I,) with states (H,); (B, I) with states (B, H); or the
        older column vectors (I, 1) with states (H, 1).  When I == 1 a (1, 1)
        ``x_t`` is read as (B=1, I) unless a state has shape (H, 1) with H > 1.
        With projection, h is P wide in each form ((P,), (B, P), (P, 1)).
        ``h_prev`` / ``c_prev`` default to zeros.

        A reverse-only model steps the same way (feed it x_{T-1}, ..., x_0 to
        retrace ``forward_sequence``).  A stacked or bidirectional model raises
        ``ValueError``: use ``forward_sequence`` (for a stacked one-direction
        model, ``forward_sequence(x_t[None], h, c, return_state=True)`` is one step).
        """
        if len(self._cells) > 1:
            raise ValueError(
                f"forward() is one step of one LSTM cell, but this model has "
                f"num_layers={self._num_layers}, bidirectional={self._bidirectional} "
                f"({len(self._cells)} cells; a bidirectional output needs the whole sequence): "
                f"use forward_sequence"
            )
        x = self._as_input(x_t, "x_t")
        i_sz, h_sz, p_sz = self._input_size, self._hidden_size, self._h_width
        if x.ndim == 1 and x.shape == (i_sz,):
            b = 1
            form = (None,), "({W},)"
        elif x.ndim == 2 and x.shape == (i_sz, 1) and (
            i_sz != 1 or _is_column_state(h_prev, c_prev, p_sz, h_sz)
        ):
            b = 1
            form = (None, 1), "({W}, 1)"
        elif x.ndim == 2 and x.shape[1] == i_sz:
            b = x.shape[0]
            form = (b, None), "(B, {W})"
        else:
            raise ValueError(
                f"x_t.shape={x.shape}, but should be ({i_sz},), (B, {i_sz}) or ({i_sz}, 1) "
                f"[input_size={i_sz}]"
            )
        (h_shape, h_text), (c_shape, c_text) = self._state_forms(*form)
        h0 = self._state(h_prev, "h_prev", h_shape, h_text).reshape(b, p_sz)  # (B, P)
        c0 = self._state(c_prev, "c_prev", c_shape, c_text).reshape(b, h_sz)  # (B, H)
        x3 = x.reshape(1, b, i_sz)  # (T=1, B, I)
        y, _, c_n = self._run(x3, h0, c0)
        h_out, c_out = y[0], c_n  # (B, P), (B, H)
        return self._to_model(h_out.reshape(h_shape)), self._to_model(c_out.reshape(c_shape))

    def forward_sequence(
        self,
        X: Any,
        h0: Any = None,
        c0: Any = None,
        return_state: bool = False,
        *,
        lengths: Any = None,
    ) -> np.ndarray | tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Run the whole sequence.

        ``X`` (T, B, I) -> ``y`` (T, B, D*H) (``batch_first``: (B, T, I) ->
        (B, T, D*H)); states (B, H) when L*D == 1, else (L*D, B, H).  One
        unbatched sequence ``X`` (T, I) -> ``y`` (T, D*H), states (H,) or
        (L*D, H).  With projection, h and y are P wide instead of H ((B, P),
        (L*D, B, P), (T, B, D*P)); c stays H wide.  ``h0`` / ``c0`` default to
        zeros.  With ``return_state`` returns ``(y, (h_n, c_n))``; for T == 0
        the final state is the initial one (zeros under the variant
        ``empty_rows: zeros``).

        ``lengths`` (B,) integers in [0, T] (an int array or a list of ints):
        row b's sequence is ``X[:len_b, b]``; the rest is padding and is never
        read.  y is 0 from len_b on, h_n / c_n are the state after the row's
        last valid step (h0 / c0 for a row of length 0), and the reverse
        direction starts at step len_b - 1 (the ``zero_fill`` convention).
        """
        x = self._as_input(X, "X")
        i_sz, h_sz, p_sz = self._input_size, self._hidden_size, self._h_width
        n_cells = len(self._cells)
        bf = self._batch_first
        if x.ndim == 2 and x.shape[1] == i_sz:
            t_len, b = x.shape[0], 1
            x3 = x.reshape(t_len, 1, i_sz)  # (T, B=1, I)
            b_text, t_text = "B=1 for an unbatched X (T, I)", "T from X.shape[0]"
            if n_cells == 1:
                form = (None,), "({W},)"
            else:
                form = (n_cells, None), f"(L*D, {{W}}) [{self._ld_text()}]"
        elif x.ndim == 3 and x.shape[2] == i_sz:
            if bf:
                b, t_len = x.shape[0], x.shape[1]
                x3 = x.transpose(1, 0, 2)  # (B, T, I) -> (T, B, I) view
                b_text, t_text = "B from X.shape[0]", "T from X.shape[1]"
            else:
                t_len, b = x.shape[0], x.shape[1]
                x3 = x
                b_text, t_text = "B from X.shape[1]", "T from X.shape[0]"
            b_text = b_text.replace("B ", f"B={b} ")
            if n_cells == 1:
                form = (b, None), f"(B, {{W}}) [{b_text}]"
            else:
                form = (n_cells, b, None), f"(L*D, B, {{W}}) [{self._ld_text()}, {b_text}]"
        else:
            shape = "(B, T, {0})" if bf else "(T, B, {0})"
            raise ValueError(
                f"X.shape={x.shape}, but should be (T, {i_sz}) or {shape.format(i_sz)} "
                f"[input_size={i_sz}{', batch_first=True' if bf else ''}]"
            )
        lens = None if lengths is None else check_lengths(
            lengths, b, t_len, b_text, t_text.replace("T ", f"T={t_len} ")
        )
        (h_shape, h_text), (c_shape, c_text) = self._state_forms(*form)
        h_init = self._state(h0, "h0", h_shape, h_text)
        c_init = self._state(c0, "c0", c_shape, c_text)
        if n_cells == 1 and not self._variant and lens is None:
            # The base LSTM: the kernel alone (the benchmark's subject).
            y, h_n, c_n = self._run(x3, h_init.reshape(b, p_sz), c_init.reshape(b, h_sz))
        else:
            y, h_n, c_n = run_stack(
                self._cells, x3,
                h_init.reshape(n_cells, b, p_sz), c_init.reshape(n_cells, b, h_sz),  # (L*D, B, P), (L*D, B, H)
                lens, self._num_layers, self._bidirectional, self._reverse,
                self._empty_rows_zero,
            )  # y (T, B, D*P); h_n (L*D, B, P), c_n (L*D, B, H)
        d_p = y.shape[2]
        if x.ndim == 2:
            y = y.reshape(t_len, d_p)  # (T, D*P)
        elif bf:
            y = y.transpose(1, 0, 2)  # (T, B, D*P) -> (B, T, D*P) view
        y_out = self._to_model(np.ascontiguousarray(y))
        if not return_state:
            return y_out
        return y_out, (self._to_model(h_n.reshape(h_shape)), self._to_model(c_n.reshape(c_shape)))

    def _state_forms(self, dims: tuple, text: str) -> tuple[tuple[tuple[int, ...], str], ...]:
        """``((h_shape, h_text), (c_shape, c_text))`` for a state form: ``dims`` with None for the state's
        width and ``text`` with ``{W}`` for its name (h: P, or H without projection; c: H)."""
        p_name = "P" if self._proj_size is not None else "H"
        return tuple((tuple(width if d is None else d for d in dims), text.replace("{W}", name))
                     for width, name in ((self._h_width, p_name), (self._hidden_size, "H")))

    def _ld_text(self) -> str:
        return f"L={self._num_layers}, D={2 if self._bidirectional else 1}"

    def _to_model(self, arr: np.ndarray) -> np.ndarray:
        return arr if arr.dtype == self._dtype else arr.astype(self._dtype)

    def _run(
        self, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first cell alone: x3 (T, B, I); h0, c0 (B, H), in the compute dtype -> y, h_n, c_n."""
        return run_cell(self._first_cell, x3, h0, c0)


def _merge_variant(variant: Any, num_layers: Any, bidirectional: Any) -> dict[str, Any]:
    """The canonical variant of the constructor's ``variant``, ``num_layers`` and ``bidirectional``."""
    var = check_variant(variant)
    n = check_positive_int(num_layers, "num_layers")
    bi = check_bool(bidirectional, "bidirectional")
    if n != 1:
        if var.get("num_layers", n) != n:
            raise ValueError(
                f"num_layers={n} and variant['num_layers']={var['num_layers']}, "
                f"but should agree (or give only one of them)"
            )
        var["num_layers"] = n
    if bi:
        if var.get("direction", "bidirectional") != "bidirectional":
            raise ValueError(
                f"bidirectional=True and variant['direction']={var['direction']!r}, "
                f"but should agree (or give only one of them)"
            )
        var["direction"] = "bidirectional"
    return check_variant(var)  # canonical key order


def _cell_suffixes(variant: Mapping[str, Any]) -> list[list[str]]:
    """Parameter-name suffixes, ``[layer][direction]``, of a canonical variant's cells."""
    bi = variant.get("direction") == "bidirectional"
    return [[cell_suffix(layer, direction, bi) for direction in range(2 if bi else 1)]
            for layer in range(variant.get("num_layers", 1))]


def _expected_shape(base: str, layer: int, h: int, i: int, p: int, d: int, proj: bool
                    ) -> tuple[tuple[int, ...], str]:
    """The shape of one cell's parameter ``base`` (its name without the cell suffix) in layer ``layer``,
    and how to write it: ``((5, 3), "(H, I) = (5, 3)")``.  p: the width of h (P, or H without projection)."""
    pn = "P" if proj else "H"
    if base == "W_proj":
        shape, text = (p, h), "(P, H)"
    elif base == "b_proj":
        shape, text = (p,), "(P,)"
    elif base[0] == "W" and layer:
        return (h, d * p), f"(H, D*{pn}) = {(h, d * p)} [D={d}]"
    elif base[0] == "W":
        shape, text = (h, i), "(H, I)"
    elif base[0] == "U":
        shape, text = (h, p), f"(H, {pn})"
    else:  # b_k, p_k, ln_k
        shape, text = (h,), "(H,)"
    return shape, f"{text} = {shape}"


def _layer_of(name: str) -> int:
    """The layer of a canonical parameter name: ``U_f_l2_reverse`` -> 2, ``W_i`` -> 0."""
    for part in name.split("_")[2:]:
        if part.startswith("l") and part[1:].isdigit():
            return int(part[1:])
    return 0


def _is_column_state(h_prev: Any, c_prev: Any, h_width: int, hidden_size: int) -> bool:
    """True if a given state is a column, h (P, 1) with P > 1 or c (H, 1) with H > 1 (disambiguates I == 1)."""
    for s, n in ((h_prev, h_width), (c_prev, hidden_size)):
        if s is not None and n > 1 and np.shape(s) == (n, 1):
            return True
    return False


__all__ = ["LSTM", "GATES"]
