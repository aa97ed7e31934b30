"""The LSTM: canonical parameters, a one-step ``forward`` and a fused
``forward_sequence``.

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
Outputs ``y`` (T, B, H) plus the input projection of all steps (T*B x 4H,
computed by one GEMM before the recurrence, bias included), plus O(B*H)
working state (the cell state and one (4H, B) gate buffer); kernel.py has the
details.  ``h`` needs no buffer of its own: step t reads h_{t-1} from ``y[t-1]``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .activations import SIGMOID_SCALE, gate_form
from .checks import (
    check_finite,
    check_float_array,
    check_model_dtype,
    check_positive_int,
    check_real_scalar,
)
from .init import init_params
from .kernel import run_sequence
from .layout import GATES, PARAM_NAMES, pack_params


class LSTM:
    """A one-layer, one-direction LSTM (no peepholes), time-major.

    Per step, per batch row (sigma = logistic sigmoid)::

        i = sigma(W_i x_t + U_i h_{t-1} + b_i)    f = sigma(W_f x_t + U_f h_{t-1} + b_f)
        g = tanh (W_g x_t + U_g h_{t-1} + b_g)    o = sigma(W_o x_t + U_o h_{t-1} + b_o)
        c_t = f * c_{t-1} + i * g                 h_t = o * tanh(c_t)

    Parameters (canonical dict, see :attr:`params`): ``W_k`` (H, I), ``U_k``
    (H, H), ``b_k`` (H,) for k in i, f, g, o.

    A new model is initialised with Glorot-uniform ``W_k``, orthogonal ``U_k``
    and zero biases except ``b_f = forget_bias`` (1.0 is a common choice).
    Random draws come from ``rng`` if given, else ``np.random.default_rng(seed)``;
    the global NumPy RNG is never used.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype: Any = np.float64,
        seed: Any = None,
        forget_bias: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        i = check_positive_int(input_size, "input_size")
        h = check_positive_int(hidden_size, "hidden_size")
        dt = check_model_dtype(dtype)
        fb = check_real_scalar(forget_bias, "forget_bias")
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
        self._set_params(init_params(i, h, rng, dt, fb), dt)

    # ------------------------------------------------------------------ params
    @classmethod
    def from_params(
        cls,
        params: Mapping[str, Any],
        dtype: Any = None,
        validate: bool = True,
    ) -> "LSTM":
        """Build a model from a canonical parameter dict (the arrays are copied).

        I and H are inferred from ``W_i`` (H, I).  Every key must be present,
        no other key allowed, every value a real floating array of the right
        shape.  ``dtype`` defaults to the common dtype of the arrays; they are
        cast to it.  With ``validate`` (default) the cast values must be finite.
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params is a {type(params).__name__}, but should be a mapping (dict)")
        missing = [k for k in PARAM_NAMES if k not in params]
        unknown = sorted(str(k) for k in params if k not in PARAM_NAMES)
        if missing or unknown:
            raise ValueError(
                f"params keys: missing {missing}, unknown {unknown}, "
                f"but should be exactly {list(PARAM_NAMES)}"
            )
        arrays = {k: check_float_array(params[k], f"params['{k}']") for k in PARAM_NAMES}
        w_i = arrays["W_i"]
        if w_i.ndim != 2 or 0 in w_i.shape:
            raise ValueError(
                f"params['W_i'].shape={w_i.shape}, but should be (H, I) with H, I >= 1"
            )
        h, i = w_i.shape
        expected = {"W": ((h, i), "(H, I)"), "U": ((h, h), "(H, H)"), "b": ((h,), "(H,)")}
        for k in PARAM_NAMES:
            shape, text = expected[k[0]]
            if arrays[k].shape != shape:
                raise ValueError(
                    f"params['{k}'].shape={arrays[k].shape}, but should be {text} = {shape} "
                    f"[H={h}, I={i} from params['W_i'].shape]"
                )
        if dtype is None:
            dt = np.result_type(*arrays.values())
            dt = check_model_dtype(dt, "dtype (common dtype of params)")
        else:
            dt = check_model_dtype(dtype)
        with np.errstate(over="ignore"):  # a value too big for dt becomes inf, caught below
            canonical = {k: np.array(arrays[k], dtype=dt, copy=True) for k in PARAM_NAMES}
        if validate:
            for k in PARAM_NAMES:
                check_finite(canonical[k], f"params['{k}'] (as {dt})")
        model = cls.__new__(cls)
        model._set_params(canonical, dt)
        return model

    def _set_params(self, canonical: dict[str, np.ndarray], dtype: np.dtype) -> None:
        self._dtype = dtype
        # float16 is computed in float32 (see module docstring).
        self._compute_dtype = np.dtype(np.float32) if dtype == np.float16 else dtype
        self._params = canonical
        self._hidden_size, self._input_size = canonical["W_i"].shape
        # Fused layout (layout.py): gate order (i, f, o, g), sigmoid blocks pre-scaled
        # for the activation form of the compute dtype (activations.py).
        self._form = gate_form(self._compute_dtype)
        self._w_aug, self._u_all = pack_params(
            canonical, self._compute_dtype, SIGMOID_SCALE[self._form]
        )

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The canonical parameter dict (copies; editing them does not change the model)."""
        return {k: v.copy() for k, v in self._params.items()}

    @property
    def input_size(self) -> int:
        """I, the size of one input vector x_t."""
        return self._input_size

    @property
    def hidden_size(self) -> int:
        """H, the number of units (size of h and c)."""
        return self._hidden_size

    @property
    def dtype(self) -> np.dtype:
        """The model dtype: parameters and outputs."""
        return self._dtype

    @property
    def compute_dtype(self) -> np.dtype:
        """The dtype the kernel computes in: the model dtype, or float32 for float16."""
        return self._compute_dtype

    def __repr__(self) -> str:
        return (
            f"LSTM(input_size={self._input_size}, hidden_size={self._hidden_size}, "
            f"dtype={self._dtype.name})"
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
        """One step; returns ``(h_t, c_t)`` in the form of the inputs.

        Forms: ``x_t`` (I,) with states (H,); (B, I) with states (B, H); or the
        older column vectors (I, 1) with states (H, 1).  When I == 1 a (1, 1)
        ``x_t`` is read as (B=1, I) unless a state has shape (H, 1) with H > 1.
        ``h_prev`` / ``c_prev`` default to zeros.
        """
        x = self._as_input(x_t, "x_t")
        i_sz, h_sz = self._input_size, self._hidden_size
        if x.ndim == 1 and x.shape == (i_sz,):
            b = 1
            st_shape, st_text = (h_sz,), "(H,)"
        elif x.ndim == 2 and x.shape == (i_sz, 1) and (
            i_sz != 1 or _is_column_state(h_prev, c_prev, h_sz)
        ):
            b = 1
            st_shape, st_text = (h_sz, 1), "(H, 1)"
        elif x.ndim == 2 and x.shape[1] == i_sz:
            b = x.shape[0]
            st_shape, st_text = (b, h_sz), "(B, H)"
        else:
            raise ValueError(
                f"x_t.shape={x.shape}, but should be ({i_sz},), (B, {i_sz}) or ({i_sz}, 1) "
                f"[input_size={i_sz}]"
            )
        h0 = self._state(h_prev, "h_prev", st_shape, st_text).reshape(b, h_sz)  # (B, H)
        c0 = self._state(c_prev, "c_prev", st_shape, st_text).reshape(b, h_sz)  # (B, H)
        x3 = x.reshape(1, b, i_sz)  # (T=1, B, I)
        y, _, c_n = self._run(x3, h0, c0)
        h_out, c_out = y[0], c_n  # (B, H) each
        return self._to_model(h_out.reshape(st_shape)), self._to_model(c_out.reshape(st_shape))

    def forward_sequence(
        self,
        X: Any,
        h0: Any = None,
        c0: Any = None,
        return_state: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Run the whole sequence.

        ``X`` (T, I) -> ``y`` (T, H), states (H,); ``X`` (T, B, I) -> ``y``
        (T, B, H), states (B, H).  ``h0`` / ``c0`` default to zeros.  With
        ``return_state`` returns ``(y, (h_n, c_n))``; for T == 0 the final state
        is the initial one.
        """
        x = self._as_input(X, "X")
        i_sz, h_sz = self._input_size, self._hidden_size
        if x.ndim == 2 and x.shape[1] == i_sz:
            t_len, b = x.shape[0], 1
            x3 = x.reshape(t_len, 1, i_sz)  # (T, B=1, I)
            st_shape, st_text = (h_sz,), "(H,)"
        elif x.ndim == 3 and x.shape[2] == i_sz:
            t_len, b = x.shape[0], x.shape[1]
            x3 = x
            st_shape, st_text = (b, h_sz), f"(B, H) [B={b} from X.shape[1]]"
        else:
            raise ValueError(
                f"X.shape={x.shape}, but should be (T, {i_sz}) or (T, B, {i_sz}) "
                f"[input_size={i_sz}]"
            )
        h_init = self._state(h0, "h0", st_shape, st_text).reshape(b, h_sz)  # (B, H)
        c_init = self._state(c0, "c0", st_shape, st_text).reshape(b, h_sz)  # (B, H)
        y, h_n, c_n = self._run(x3, h_init, c_init)
        y_out = self._to_model(y if x.ndim == 3 else y.reshape(t_len, h_sz))  # (T, [B,] H)
        if not return_state:
            return y_out
        return y_out, (self._to_model(h_n.reshape(st_shape)), self._to_model(c_n.reshape(st_shape)))

    def _to_model(self, arr: np.ndarray) -> np.ndarray:
        return arr if arr.dtype == self._dtype else arr.astype(self._dtype)

    def _run(
        self, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x3 (T, B, I); h0, c0 (B, H), all in the compute dtype -> y, h_n, c_n."""
        return run_sequence(self._w_aug, self._u_all, self._form, x3, h0, c0)


def _is_column_state(h_prev: Any, c_prev: Any, hidden_size: int) -> bool:
    """True if a given state is an (H, 1) column with H > 1 (disambiguates I == 1)."""
    for s in (h_prev, c_prev):
        if s is not None and hidden_size > 1 and np.shape(s) == (hidden_size, 1):
            return True
    return False


__all__ = ["LSTM", "GATES"]
