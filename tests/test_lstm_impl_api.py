"""API and property tests of lstm_impl (the implementation under test).

The golden/reference comparisons live elsewhere; here: the input forms, the
agreement of the code paths with each other and with a naive per-gate loop,
batch independence, dtypes, initialisation, RNG hygiene, warnings at extreme
inputs, range invariants and every bad-input error message.
"""
from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lstm_impl
from lstm_impl import LSTM, PARAM_NAMES
from lstm_impl.activations import sigmoid
from tests.conftest import assert_error

ROOT = Path(__file__).resolve().parent.parent
GATES = ("i", "f", "g", "o")
FLOATS = (np.float16, np.float32, np.float64)


# --------------------------------------------------------------------------- helpers
def naive_sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def naive_lstm(params, X, h0, c0):
    """Per step, per gate, float64: X (T, B, I), h0, c0 (B, H) -> y, h_n, c_n."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    h, c = np.asarray(h0, np.float64), np.asarray(c0, np.float64)
    ys = []
    for x in np.asarray(X, np.float64):
        pre = {k: x @ p[f"W_{k}"].T + h @ p[f"U_{k}"].T + p[f"b_{k}"] for k in GATES}
        i, f, o = (naive_sigmoid(pre[k]) for k in "ifo")
        g = np.tanh(pre["g"])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    return np.array(ys).reshape(len(ys), *h.shape), h, c


def random_params(rng, i, h, dtype=np.float64, scale=1.0):
    """Canonical params with non-zero biases (scale widens the pre-activations)."""
    p = {}
    for k in GATES:
        p[f"W_{k}"] = scale * rng.standard_normal((h, i)) / np.sqrt(i)
        p[f"U_{k}"] = scale * rng.standard_normal((h, h)) / np.sqrt(h)
        p[f"b_{k}"] = scale * 0.5 * rng.standard_normal(h)
    return {k: v.astype(dtype) for k, v in p.items()}


def make(rng, i=4, h=6, dtype=np.float64, scale=1.0):
    return LSTM.from_params(random_params(rng, i, h, dtype, scale))


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


# --------------------------------------------------------------------------- correctness
@pytest.mark.parametrize("T,B,I,H", [(1, 1, 1, 1), (5, 1, 3, 4), (7, 3, 4, 6), (4, 5, 9, 2), (3, 2, 2, 17)])
def test_forward_sequence_matches_naive_loop(rng, T, B, I, H):
    params = random_params(rng, I, H, scale=1.5)
    X = rng.standard_normal((T, B, I))
    h0 = 0.5 * rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H))
    y, (h_n, c_n) = LSTM.from_params(params).forward_sequence(X, h0, c0, return_state=True)
    y_ref, h_ref, c_ref = naive_lstm(params, X, h0, c0)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h_n, h_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(c_n, c_ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype,rtol,atol", [(np.float32, 1e-4, 2e-6), (np.float16, 2e-2, 5e-3)])
def test_low_precision_close_to_float64_of_the_rounded_inputs(rng, dtype, rtol, atol):
    params = random_params(rng, 5, 7, dtype)
    X = rng.standard_normal((6, 3, 5)).astype(dtype)
    y = LSTM.from_params(params).forward_sequence(X)
    y_ref, _, _ = naive_lstm(params, X, np.zeros((3, 7)), np.zeros((3, 7)))
    np.testing.assert_allclose(y.astype(np.float64), y_ref, rtol=rtol, atol=atol)


def test_forward_input_forms_agree(rng):
    I, H, B = 4, 6, 3
    model = make(rng, I, H)
    x = rng.standard_normal((B, I))
    h = rng.standard_normal((B, H))
    c = rng.standard_normal((B, H))
    hb, cb = model.forward(x, h, c)
    assert hb.shape == cb.shape == (B, H)
    for r in range(B):
        h1, c1 = model.forward(x[r], h[r], c[r])
        assert h1.shape == c1.shape == (H,)
        hcol, ccol = model.forward(x[r].reshape(I, 1), h[r].reshape(H, 1), c[r].reshape(H, 1))
        assert hcol.shape == ccol.shape == (H, 1)
        np.testing.assert_array_equal(hcol[:, 0], h1)  # column form == 1-D form
        np.testing.assert_array_equal(ccol[:, 0], c1)
        np.testing.assert_allclose(h1, hb[r], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(c1, cb[r], rtol=1e-12, atol=1e-14)
    ref, _, cref = naive_lstm(model.params, x[None], h, c)
    np.testing.assert_allclose(hb, ref[0], rtol=1e-12)
    np.testing.assert_allclose(cb, cref, rtol=1e-12)


def test_forward_none_states_are_zeros(rng):
    model = make(rng, 3, 5)
    x = rng.standard_normal((2, 3))
    for got, want in zip(model.forward(x), model.forward(x, np.zeros((2, 5)), np.zeros((2, 5)))):
        np.testing.assert_array_equal(got, want)
    h_only = model.forward(x, None, np.ones((2, 5)))
    np.testing.assert_array_equal(h_only[0], model.forward(x, np.zeros((2, 5)), np.ones((2, 5)))[0])
    np.testing.assert_array_equal(model.forward_sequence(x[None])[0], model.forward(x)[0])


def test_forward_column_form_when_input_size_is_one(rng):
    model = make(rng, 1, 3)
    x = np.array([[0.7]])
    h_col, c_col = model.forward(x, np.zeros((3, 1)), np.zeros((3, 1)))  # (H, 1) states: column
    assert h_col.shape == c_col.shape == (3, 1)
    h_row, c_row = model.forward(x)  # no states: (B=1, I=1)
    assert h_row.shape == c_row.shape == (1, 3)
    np.testing.assert_array_equal(h_col[:, 0], h_row[0])


def test_step_by_step_equals_forward_sequence(rng):
    model = make(rng, 4, 6, scale=1.3)
    X = rng.standard_normal((9, 3, 4))
    h, c = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    y, (h_n, c_n) = model.forward_sequence(X, h, c, return_state=True)
    for t in range(len(X)):
        h, c = model.forward(X[t], h, c)
        np.testing.assert_allclose(h, y[t], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, h_n, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_n, rtol=1e-12, atol=1e-14)


def test_step_by_step_equals_forward_sequence_float32(rng):
    model = make(rng, 4, 6, dtype=np.float32)
    X = rng.standard_normal((9, 4)).astype(np.float32)
    y = model.forward_sequence(X)
    h = c = None
    for t in range(len(X)):
        h, c = model.forward(X[t], h, c)
        assert h.dtype == np.float32
        np.testing.assert_allclose(h, y[t], rtol=1e-5, atol=1e-6)


def test_2d_input_equals_3d_with_batch_one(rng):
    model = make(rng, 3, 5)
    X = rng.standard_normal((8, 3))
    h0, c0 = rng.standard_normal(5), rng.standard_normal(5)
    y2, (h2, c2) = model.forward_sequence(X, h0, c0, return_state=True)
    y3, (h3, c3) = model.forward_sequence(X[:, None, :], h0[None], c0[None], return_state=True)
    assert y2.shape == (8, 5) and h2.shape == c2.shape == (5,)
    assert y3.shape == (8, 1, 5) and h3.shape == c3.shape == (1, 5)
    np.testing.assert_array_equal(y2, y3[:, 0])
    np.testing.assert_array_equal(h2, h3[0])
    np.testing.assert_array_equal(c2, c3[0])


@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(2, 6), row=st.integers(0, 5))
def test_batch_rows_are_independent(seed, batch, row):
    rng = np.random.default_rng(seed)
    row = row % batch
    model = make(rng, 3, 4, scale=2.0)
    X = rng.standard_normal((5, batch, 3))
    h0, c0 = rng.standard_normal((batch, 4)), rng.standard_normal((batch, 4))
    y = model.forward_sequence(X, h0, c0)
    # the row alone
    alone = model.forward_sequence(X[:, row], h0[row], c0[row])
    np.testing.assert_allclose(y[:, row], alone, rtol=1e-12, atol=1e-14)
    # other rows altered (even to huge values): the row is unchanged
    X2, h2, c2 = X.copy(), h0.copy(), c0.copy()
    others = np.arange(batch) != row
    X2[:, others] = 1e6 * rng.standard_normal(X2[:, others].shape)
    h2[others], c2[others] = -0.9, 123.0
    np.testing.assert_allclose(model.forward_sequence(X2, h2, c2)[:, row], y[:, row], rtol=1e-12, atol=1e-14)
    # rows permuted: outputs permuted alike
    perm = rng.permutation(batch)
    np.testing.assert_allclose(model.forward_sequence(X[:, perm], h0[perm], c0[perm]), y[:, perm],
                               rtol=1e-12, atol=1e-14)


def test_return_state(rng):
    model = make(rng, 3, 4)
    X = rng.standard_normal((6, 2, 3))
    y, state = model.forward_sequence(X, return_state=True)
    h_n, c_n = state
    np.testing.assert_array_equal(h_n, y[-1])
    _, _, c_ref = naive_lstm(model.params, X, np.zeros((2, 4)), np.zeros((2, 4)))
    np.testing.assert_allclose(c_n, c_ref, rtol=1e-12)
    y_only = model.forward_sequence(X)
    assert isinstance(y_only, np.ndarray)
    np.testing.assert_array_equal(y_only, y)
    h_n[...] = 7.0  # h_n is not a view into y
    assert not np.any(y == 7.0)


def test_empty_sequence_returns_initial_state(rng):
    model = make(rng, 3, 4)
    h0, c0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    y, (h_n, c_n) = model.forward_sequence(np.zeros((0, 2, 3)), h0, c0, return_state=True)
    assert y.shape == (0, 2, 4)
    np.testing.assert_array_equal(h_n, h0)
    np.testing.assert_array_equal(c_n, c0)


def test_inputs_are_not_modified_and_layouts_do_not_matter(rng):
    model = make(rng, 3, 4)
    X = rng.standard_normal((5, 2, 3))
    h0, c0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    saved = [a.copy() for a in (X, h0, c0)]
    y = model.forward_sequence(X, h0, c0)
    for a, b in zip((X, h0, c0), saved):
        np.testing.assert_array_equal(a, b)
    # Fortran-ordered and strided views give the same result
    Xf = np.asfortranarray(X)
    big = np.zeros((5, 4, 6))
    big[:, ::2, ::2] = X
    np.testing.assert_array_equal(model.forward_sequence(Xf, np.asfortranarray(h0), c0), y)
    np.testing.assert_array_equal(model.forward_sequence(big[:, ::2, ::2], h0, c0), y)
    # nested lists of floats are accepted
    np.testing.assert_array_equal(model.forward_sequence(X.tolist(), h0.tolist(), c0.tolist()), y)


# --------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", FLOATS)
def test_dtype_is_preserved(rng, dtype):
    model = LSTM(3, 4, dtype=dtype, seed=1)
    assert model.dtype == np.dtype(dtype)
    assert all(v.dtype == dtype for v in model.params.values())
    X = rng.standard_normal((5, 2, 3)).astype(dtype)
    y, (h_n, c_n) = model.forward_sequence(X, return_state=True)
    assert y.dtype == h_n.dtype == c_n.dtype == dtype
    assert model.forward_sequence(X[:, 0]).dtype == dtype
    for x in (X[0], X[0, 0], X[0, 0].reshape(3, 1)):
        h, c = model.forward(x)
        assert h.dtype == c.dtype == dtype
    assert np.all(np.isfinite(y))
    # white box: no silent upcast inside (float16 is documented to compute in float32)
    compute = np.float32 if dtype == np.float16 else dtype
    assert all(cell.uw.dtype == compute for cell in model._cells)
    assert model.compute_dtype == compute  # the public name for it


@pytest.mark.parametrize("model_dtype,input_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                                     (np.float16, np.float64), (np.float32, np.float16)])
def test_other_float_inputs_are_cast_to_the_model_dtype(rng, model_dtype, input_dtype):
    model = LSTM(3, 4, dtype=model_dtype, seed=2)
    X = rng.standard_normal((4, 2, 3)).astype(input_dtype)
    h0 = rng.standard_normal((2, 4)).astype(input_dtype)
    y = model.forward_sequence(X, h0)
    assert y.dtype == model_dtype
    np.testing.assert_array_equal(y, model.forward_sequence(X.astype(model_dtype), h0.astype(model_dtype)))


def test_float16_model_runs_on_rounded_params(rng):
    params16 = random_params(rng, 3, 5, np.float16)
    model = LSTM.from_params(params16)
    X = rng.standard_normal((4, 3)).astype(np.float16)
    y = model.forward_sequence(X)
    # computed in float32 from the float16 values, then rounded to float16
    y32 = LSTM.from_params(params16, dtype=np.float32).forward_sequence(X.astype(np.float32))
    np.testing.assert_array_equal(y, y32.astype(np.float16))


# --------------------------------------------------------------------------- params
def test_from_params_round_trip(rng):
    params = random_params(rng, 3, 5)
    model = LSTM.from_params(params)
    assert (model.input_size, model.hidden_size, model.dtype) == (3, 5, np.float64)
    out = model.params
    assert set(out) == set(PARAM_NAMES) == {f"{r}_{k}" for r in "WUb" for k in GATES}
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(out[k], params[k])
        assert out[k].dtype == np.float64
    again = LSTM.from_params(out)
    X = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(again.forward_sequence(X), model.forward_sequence(X))


def test_params_are_copies(rng):
    params = random_params(rng, 3, 5)
    model = LSTM.from_params(params)
    X = rng.standard_normal((4, 3))
    y = model.forward_sequence(X)
    params["W_i"][...] = 0.0  # the input dict
    got = model.params
    got["U_f"][...] = 0.0  # the returned dict
    assert not np.all(model.params["W_i"] == 0) and not np.all(model.params["U_f"] == 0)
    np.testing.assert_array_equal(model.forward_sequence(X), y)


def test_from_params_dtype_inference_and_cast(rng):
    params = random_params(rng, 2, 3, np.float32)
    assert LSTM.from_params(params).dtype == np.float32
    mixed = dict(params, W_i=params["W_i"].astype(np.float64))
    assert LSTM.from_params(mixed).dtype == np.float64
    as16 = LSTM.from_params(params, dtype=np.float16)
    assert as16.dtype == np.float16
    np.testing.assert_array_equal(as16.params["U_g"], params["U_g"].astype(np.float16))


def test_from_params_gates_are_wired_to_their_names(rng):
    """Saturating one gate at a time pins down which parameter drives which gate."""
    H = 3
    base = {k: np.zeros((H, 2) if k[0] == "W" else (H, H) if k[0] == "U" else H) for k in PARAM_NAMES}
    c0 = np.array([[0.5, -2.0, 1.5]])
    x = np.zeros((1, 2))

    def step(**biases):
        p = {k: v.copy() for k, v in base.items()}
        for k, v in biases.items():
            p[k][...] = v
        return LSTM.from_params(p).forward(x, None, c0)

    # i = f = o = 1, g = tanh(b_g): c = c0 + tanh(b_g)
    h, c = step(b_i=50.0, b_f=50.0, b_o=50.0, b_g=0.3)
    np.testing.assert_allclose(c, c0 + np.tanh(0.3), rtol=1e-15)
    np.testing.assert_allclose(h, np.tanh(c0 + np.tanh(0.3)), rtol=1e-15)
    # forget gate closed: c = i * g only
    h, c = step(b_i=50.0, b_f=-50.0, b_o=50.0, b_g=0.3)
    np.testing.assert_allclose(c, np.full_like(c0, np.tanh(0.3)), rtol=1e-15)
    # input gate closed: c = f * c0
    h, c = step(b_i=-50.0, b_f=50.0, b_o=50.0, b_g=0.3)
    np.testing.assert_allclose(c, c0, rtol=1e-15)
    # output gate half open: h = 0.5 * tanh(c)
    h, c = step(b_i=-50.0, b_f=50.0, b_o=0.0)
    np.testing.assert_allclose(h, 0.5 * np.tanh(c0), rtol=1e-15)
    # W_k acts on x, U_k on h: with x = 0 and h0 = 0 neither matters
    p = dict(base, W_g=np.ones((H, 2)), U_g=np.ones((H, H)), b_i=np.full(H, 50.0))
    h, c = LSTM.from_params(p).forward(x, None, c0)
    np.testing.assert_allclose(c, 0.5 * c0, rtol=1e-15)


# --------------------------------------------------------------------------- initialisation
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_statistics(dtype):
    I, H = 96, 128
    p = LSTM(I, H, seed=3, dtype=dtype).params
    bound = math.sqrt(6.0 / (I + H))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for k in GATES:
        W, U = p[f"W_{k}"].astype(np.float64), p[f"U_{k}"].astype(np.float64)
        assert W.shape == (H, I) and U.shape == (H, H)
        assert np.max(np.abs(W)) <= bound * (1 + np.finfo(dtype).eps)
        assert np.max(np.abs(W)) > 0.99 * bound  # spans the interval
        assert abs(W.mean()) < 0.02 * bound
        assert abs(W.var() / (bound**2 / 3) - 1) < 0.05  # Var U(-a, a) = a^2 / 3
        np.testing.assert_allclose(U @ U.T, np.eye(H), atol=tol)
        np.testing.assert_allclose(U.T @ U, np.eye(H), atol=tol)
        np.testing.assert_array_equal(p[f"b_{k}"], np.zeros(H))
    # the gates get different matrices
    assert not np.array_equal(p["W_i"], p["W_f"]) and not np.array_equal(p["U_i"], p["U_o"])
    # Haar, not a fixed-sign QR: diagonal entries are not all positive
    assert np.mean(np.diag(p["U_i"]) > 0) < 0.8


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_orthogonal_is_the_sign_fixed_qr_of_a_normal_matrix(n):
    """Q R = A with diag(R) > 0: the unique such Q is Haar-distributed (Mezzadri 2007)."""
    from lstm_impl.init import orthogonal

    a = np.random.default_rng(n).standard_normal((n, n))
    q = orthogonal(np.random.default_rng(n), n)
    r = q.T @ a
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=1e-12)
    assert np.all(np.diag(r) > 0)


def test_orthogonal_init_of_size_one():
    p = LSTM(2, 1, seed=0).params
    for k in GATES:
        assert abs(abs(float(p[f"U_{k}"][0, 0])) - 1.0) < 1e-15


@pytest.mark.parametrize("forget_bias", [1.0, 2.5, -1])
def test_forget_bias_option(forget_bias):
    p = LSTM(3, 4, seed=0, forget_bias=forget_bias).params
    np.testing.assert_array_equal(p["b_f"], np.full(4, float(forget_bias)))
    for k in "igo":
        np.testing.assert_array_equal(p[f"b_{k}"], np.zeros(4))
    # only the bias changes: the weights equal those of forget_bias=0
    p0 = LSTM(3, 4, seed=0).params
    for k in PARAM_NAMES:
        if k != "b_f":
            np.testing.assert_array_equal(p[k], p0[k])


def test_seeds_and_rng():
    a, b, c = (LSTM(5, 7, seed=s).params for s in (11, 11, 12))
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(a[k], b[k])
    assert all(not np.array_equal(a[k], c[k]) for k in PARAM_NAMES if k[0] != "b")
    d = LSTM(5, 7, rng=np.random.default_rng(11)).params
    for k in PARAM_NAMES:
        np.testing.assert_array_equal(a[k], d[k])
    # the passed generator is advanced: a second model from it differs
    gen = np.random.default_rng(4)
    assert not np.array_equal(LSTM(2, 3, rng=gen).params["W_i"], LSTM(2, 3, rng=gen).params["W_i"])
    # no seed: fresh entropy each time
    assert not np.array_equal(LSTM(5, 7).params["W_i"], LSTM(5, 7).params["W_i"])


def test_global_numpy_rng_is_untouched():
    np.random.seed(1234)
    before = np.random.get_state()
    LSTM(4, 5, seed=1)
    LSTM(4, 5)
    LSTM(4, 5, rng=np.random.default_rng(0))
    after = np.random.get_state()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    np.random.seed(1234)
    first = LSTM(4, 5).params["W_i"]
    np.random.seed(1234)
    assert not np.array_equal(first, LSTM(4, 5).params["W_i"])  # not drawn from the global RNG


# --------------------------------------------------------------------------- extreme inputs
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("big", [800.0, 1e4, 1e30])
def test_no_warnings_at_extreme_finite_inputs(dtype, big):
    big = min(big, float(np.finfo(dtype).max) / 8)
    H = 4
    rng = np.random.default_rng(0)
    params = {k: np.zeros((H, 2) if k[0] == "W" else (H, H) if k[0] == "U" else H) for k in PARAM_NAMES}
    signs = np.array([1.0, -1.0, 1.0, -1.0])
    for n, k in enumerate(GATES):
        params[f"b_{k}"] = big * np.roll(signs, n)  # every gate saturates both ways
        params[f"W_{k}"] = big * np.sign(rng.standard_normal((H, 2))) / 4
    params = {k: v.astype(dtype) for k, v in params.items()}
    X = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.25]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            model = LSTM.from_params(params)
            y, (h_n, c_n) = model.forward_sequence(X, return_state=True)
            model.forward(X[0])
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(c_n))
    assert np.all(np.abs(y) <= 1.0)
    y_ref, _, c_ref = naive_lstm(params, X[:, None], np.zeros((1, H)), np.zeros((1, H)))
    tol = {np.float16: 2e-3, np.float32: 1e-6, np.float64: 1e-15}[dtype]
    np.testing.assert_allclose(y.astype(np.float64), y_ref[:, 0], atol=tol)
    np.testing.assert_allclose(c_n.astype(np.float64), c_ref[0], atol=4 * tol)


@pytest.mark.parametrize("dtype", FLOATS)
def test_public_sigmoid_has_no_warnings_and_saturates(dtype):
    fmax = float(np.finfo(dtype).max)
    z = np.array([-fmax, -1e30, -800, -40, -1, 0, 1, 40, 800, 1e30, fmax], dtype=np.float64)
    z = z[np.abs(z) <= fmax].astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            s = sigmoid(z)
    assert s.dtype == dtype
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s.astype(np.float64)) >= 0)  # monotone
    assert s[z == 0][0] == 0.5
    assert s[-1] == 1.0 and s[0] < 1e-300 + float(np.finfo(dtype).tiny) * 3
    assert np.isnan(sigmoid(np.array([np.nan], dtype=dtype)))[0]


def _exact_sigmoid(z: float) -> float:
    if abs(z) > 1000:  # exp would overflow Decimal; the rounded results are exactly 0 and 1
        return 0.0 if z < 0 else 1.0
    with localcontext() as ctx:
        ctx.prec = 50
        return float(1 / (1 + (-Decimal(z)).exp()))


def test_sigmoid_float64_accuracy():
    rng = np.random.default_rng(5)
    z = np.concatenate([rng.uniform(-40, 40, 3000), rng.uniform(-720, 720, 500),
                        [0.0, 1e-300, -1e-300, 1e-8, -1e-8, 36.7, 37.5, -708.0, -700.0]])
    s = sigmoid(z)
    exact = np.array([_exact_sigmoid(v) for v in z])
    abs_err = np.abs(s - exact)
    assert abs_err.max() <= 1e-15  # the bar; in practice about 1.1e-16
    normal = exact > np.finfo(np.float64).tiny * 4
    rel_err = abs_err[normal] / exact[normal]
    assert rel_err.max() <= 8 * np.finfo(np.float64).eps  # relative accuracy down to tiny values
    assert s[z == -700.0][0] == pytest.approx(math.exp(-700), rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gate", ["i", "f", "o"])
def test_gate_activation_kernel_accuracy(dtype, gate):
    """The kernel's sigmoid, read off one step with W = U = 0 so that c_1 or h_1 is the gate itself:
    i (c0 = 0, g = 1), f (c0 = 1, i = 0), o (c0 = 50, f = 1, i = 0: tanh(c_1) = 1 exactly).  Absolute
    error about one ulp of 1 and no warning at pre-activations from -1e30 to 1e30; in float64 (the exp
    form, which divides by 1 + exp(-z) where it would multiply by the gate) relative accuracy down to
    tiny results; float32's tanh form loses it below about 3e-8 (activations.py)."""
    z = np.concatenate([np.linspace(-30, 30, 61), [-1e30, -800.0, -700.0, -100.0, -80.0, -1e-8, 0.0, 1e-8,
                                                   80.0, 800.0, 1e30]]).astype(dtype)
    H = z.size
    big = dtype(1e30)
    params = {k: np.zeros((H, 1) if k[0] == "W" else (H, H) if k[0] == "U" else H, dtype=dtype)
              for k in PARAM_NAMES}
    params[f"b_{gate}"] = z
    c0 = {"i": 0.0, "f": 1.0, "o": 50.0}[gate]
    params["b_g"] = np.full(H, big if gate == "i" else 0, dtype=dtype)
    if gate != "i":
        params["b_i"] = np.full(H, -big, dtype=dtype)
    if gate == "o":
        params["b_f"] = np.full(H, big, dtype=dtype)
    model = LSTM.from_params(params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            h, c = model.forward(np.zeros((1, 1), dtype=dtype), np.zeros((1, H), dtype=dtype),
                                 np.full((1, H), c0, dtype=dtype))
    got = (h if gate == "o" else c)[0].astype(np.float64)
    exact = np.vectorize(_exact_sigmoid)(z.astype(np.float64))
    tol = 2.3e-16 if dtype == np.float64 else 1.2e-7
    np.testing.assert_allclose(got, exact, rtol=0, atol=tol)
    if dtype == np.float64:
        normal = exact > float(np.finfo(dtype).tiny) * 4
        rel = np.abs(got - exact)[normal] / exact[normal]
        assert rel.max() <= 8 * float(np.finfo(dtype).eps), rel.max()  # relative accuracy down to tiny values


# --------------------------------------------------------------------------- invariants
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.1, 1.0, 5.0, 50.0]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_range_invariants(seed, scale, dtype):
    rng = np.random.default_rng(seed)
    model = make(rng, 3, 5, dtype=dtype, scale=scale)
    X = (scale * rng.standard_normal((12, 2, 3))).astype(dtype)
    c = (3 * rng.standard_normal((2, 5))).astype(dtype)
    h = rng.uniform(-1, 1, (2, 5)).astype(dtype)
    c0 = c.copy()
    slack = 4 * np.finfo(dtype).eps
    for x in X:
        h_new, c_new = model.forward(x, h, c)
        assert np.all(np.abs(h_new) <= 1.0)
        assert np.all(np.abs(c_new) <= (np.abs(c) + 1) * (1 + slack))
        h, c = h_new, c_new
    y, (h_n, c_n) = model.forward_sequence(X, h0=None, c0=c0, return_state=True)
    assert np.all(np.abs(y) <= 1.0)
    assert np.all(np.abs(c_n) <= (np.abs(c0) + len(X)) * (1 + slack))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(c_n))


# --------------------------------------------------------------------------- bad input
def _model():
    return LSTM(4, 8, seed=0)


BAD_CONSTRUCTOR = [
    (lambda: LSTM(0, 8), ValueError, ["input_size=0", "positive int"]),
    (lambda: LSTM(-3, 8), ValueError, ["input_size=-3", "positive int"]),
    (lambda: LSTM(2.5, 8), TypeError, ["input_size=2.5", "float", "positive int"]),
    (lambda: LSTM(True, 8), TypeError, ["input_size=True", "bool", "positive int"]),
    (lambda: LSTM("4", 8), TypeError, ["input_size='4'", "str", "positive int"]),
    (lambda: LSTM(4, 0), ValueError, ["hidden_size=0", "positive int"]),
    (lambda: LSTM(4, None), TypeError, ["hidden_size=None", "positive int"]),
    (lambda: LSTM(4, 8, dtype=np.int32), TypeError, ["dtype=int32", "float16, float32, float64"]),
    (lambda: LSTM(4, 8, dtype=np.complex128), TypeError, ["dtype=complex128", "float16, float32, float64"]),
    (lambda: LSTM(4, 8, dtype="nonsense"), TypeError, ["dtype='nonsense'", "float16, float32, float64"]),
    (lambda: LSTM(4, 8, forget_bias=float("nan")), ValueError, ["forget_bias=nan", "finite"]),
    (lambda: LSTM(4, 8, forget_bias="1"), TypeError, ["forget_bias='1'", "real number"]),
    (lambda: LSTM(4, 8, seed=1, rng=np.random.default_rng(1)), ValueError, ["seed=1", "rng", "at most one"]),
    (lambda: LSTM(4, 8, rng=np.random.RandomState(1)), TypeError, ["rng", "RandomState", "Generator"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_CONSTRUCTOR)
def test_bad_constructor_arguments(call, exc, fragments):
    assert_error(exc, call, *fragments)


BAD_SEQUENCE = [
    # (X, h0, c0, exception, fragments)
    (np.zeros(5), None, None, ValueError, ["X.shape=(5,)", "(T, 4) or (T, B, 4)", "input_size=4"]),
    (np.zeros((5, 3)), None, None, ValueError,
     ["X.shape=(5, 3), but should be (T, 4) or (T, B, 4) [input_size=4]"]),
    (np.zeros((5, 2, 3)), None, None, ValueError, ["X.shape=(5, 2, 3)", "(T, B, 4)"]),
    (np.zeros((5, 2, 4, 1)), None, None, ValueError, ["X.shape=(5, 2, 4, 1)", "(T, B, 4)"]),
    (np.zeros((5, 4)), np.zeros(3), None, ValueError, ["h0.shape=(3,)", "(H,) = (8,)"]),
    (np.zeros((5, 4)), None, np.zeros((1, 8)), ValueError, ["c0.shape=(1, 8)", "(H,) = (8,)"]),
    (np.zeros((5, 2, 4)), np.zeros((3, 8)), None, ValueError, ["h0.shape=(3, 8)", "(B, H)", "(2, 8)"]),
    (np.zeros((5, 2, 4)), np.zeros(8), None, ValueError, ["h0.shape=(8,)", "(B, H)", "(2, 8)"]),
    (np.zeros((5, 2, 4)), None, np.zeros((2, 7)), ValueError, ["c0.shape=(2, 7)", "(B, H)", "(2, 8)"]),
    (np.zeros((5, 4), dtype=np.int64), None, None, TypeError, ["X.dtype=int64", "floating"]),
    (np.zeros((5, 4), dtype=bool), None, None, TypeError, ["X.dtype=bool", "floating"]),
    (np.zeros((5, 4), dtype=np.complex128), None, None, TypeError, ["X.dtype=complex128", "floating"]),
    ([[1, 2, 3, 4]], None, None, TypeError, ["X.dtype=int64", "floating"]),
    (np.zeros((5, 4)), np.zeros(8, dtype=np.int32), None, TypeError, ["h0.dtype=int32", "floating"]),
    (np.zeros((5, 4)), None, np.zeros(8, dtype=np.complex64), TypeError, ["c0.dtype=complex64", "floating"]),
    (np.array([["a"] * 4]), None, None, TypeError, ["X.dtype=<U1", "floating"]),
]


@pytest.mark.parametrize("X,h0,c0,exc,fragments", BAD_SEQUENCE)
def test_bad_forward_sequence_arguments(X, h0, c0, exc, fragments):
    assert_error(exc, lambda: _model().forward_sequence(X, h0, c0), *fragments)


BAD_STEP = [
    (np.zeros(3), None, None, ValueError, ["x_t.shape=(3,)", "(4,), (B, 4) or (4, 1)", "input_size=4"]),
    (np.zeros((2, 3)), None, None, ValueError, ["x_t.shape=(2, 3)", "(4,), (B, 4) or (4, 1)"]),
    (np.zeros((1, 2, 4)), None, None, ValueError, ["x_t.shape=(1, 2, 4)"]),
    (np.zeros(()), None, None, ValueError, ["x_t.shape=()"]),
    (np.zeros(4), np.zeros(7), None, ValueError, ["h_prev.shape=(7,)", "(H,) = (8,)"]),
    (np.zeros(4), np.zeros((8, 1)), None, ValueError, ["h_prev.shape=(8, 1)", "(H,) = (8,)"]),
    (np.zeros((3, 4)), None, np.zeros((2, 8)), ValueError, ["c_prev.shape=(2, 8)", "(B, H) = (3, 8)"]),
    (np.zeros((4, 1)), np.zeros(8), None, ValueError, ["h_prev.shape=(8,)", "(H, 1) = (8, 1)"]),
    (np.zeros(4, dtype=np.int8), None, None, TypeError, ["x_t.dtype=int8", "floating"]),
    (np.zeros(4), np.zeros(8, dtype=bool), None, TypeError, ["h_prev.dtype=bool", "floating"]),
]


@pytest.mark.parametrize("x,h,c,exc,fragments", BAD_STEP)
def test_bad_forward_arguments(x, h, c, exc, fragments):
    assert_error(exc, lambda: _model().forward(x, h, c), *fragments)


def _good_params():
    return LSTM(4, 3, seed=0).params


def _with(**changes):
    p = _good_params()
    for k, v in changes.items():
        if v is None:
            del p[k]
        else:
            p[k] = v
    return p


BAD_PARAMS = [
    (lambda: LSTM.from_params(_with(U_o=None)), ValueError, ["missing ['U_o']", "should be exactly"]),
    (lambda: LSTM.from_params(_with(V_x=np.zeros(3))), ValueError, ["unknown ['V_x']", "should be exactly"]),
    (lambda: LSTM.from_params(_with(U_f=np.zeros((3, 4)))), ValueError,
     ["params['U_f'].shape=(3, 4), but should be (H, H) = (3, 3)", "H=3, I=4"]),
    (lambda: LSTM.from_params(_with(W_o=np.zeros((3, 5)))), ValueError,
     ["params['W_o'].shape=(3, 5)", "(H, I) = (3, 4)"]),
    (lambda: LSTM.from_params(_with(b_g=np.zeros((3, 1)))), ValueError,
     ["params['b_g'].shape=(3, 1)", "(H,) = (3,)"]),
    (lambda: LSTM.from_params(_with(W_i=np.zeros(3))), ValueError, ["params['W_i'].shape=(3,)", "(H, I)"]),
    (lambda: LSTM.from_params(_with(W_f=np.zeros((0, 4)))), ValueError,
     ["params['W_f'].shape=(0, 4)", "H, I >= 1"]),
    (lambda: LSTM.from_params(_with(W_i=np.zeros((3, 4), dtype=np.int64))), TypeError,
     ["params['W_i'].dtype=int64", "floating"]),
    (lambda: LSTM.from_params(_with(b_f=np.zeros(3, dtype=bool))), TypeError, ["params['b_f'].dtype=bool"]),
    (lambda: LSTM.from_params(_with(b_g=np.array([0.0, np.nan, 1.0]))), ValueError,
     ["params['b_g']", "1 non-finite", "should be all finite"]),
    (lambda: LSTM.from_params(_with(U_i=np.full((3, 3), np.inf))), ValueError,
     ["params['U_i']", "9 non-finite"]),
    (lambda: LSTM.from_params(_with(W_f=np.full((3, 4), 1e300)), dtype=np.float32), ValueError,
     ["params['W_f'] (as float32)", "non-finite"]),
    (lambda: LSTM.from_params(_good_params(), dtype=np.int16), TypeError,
     ["dtype=int16", "float16, float32, float64"]),
    (lambda: LSTM.from_params([("W_i", np.zeros((3, 4)))]), TypeError, ["params is a list", "mapping"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_PARAMS)
def test_bad_params(call, exc, fragments):
    assert_error(exc, call, *fragments)


def test_non_finite_params_accepted_without_validation():
    model = LSTM.from_params(_with(b_g=np.array([0.0, np.nan, 1.0])), validate=False)
    y = model.forward_sequence(np.zeros((1, 4)))  # one step: NaN stays in its unit
    assert np.isnan(y[0, 1]) and np.all(np.isfinite(y[0, [0, 2]]))
    assert np.all(np.isnan(model.forward_sequence(np.zeros((2, 4)))[1]))  # then U spreads it


# --------------------------------------------------------------------------- independence
def test_lstm_impl_is_independent_of_the_harness():
    code = (
        "import sys, lstm_impl, numpy as np\n"
        "lstm_impl.LSTM(2, 3, seed=0).forward_sequence(np.zeros((2, 2)))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('lstm_conformance', 'scipy', 'torch')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    for path in (ROOT / "lstm_impl").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+lstm_conformance", text, re.M), path
        assert "lstm.yaml" not in text and "import yaml" not in text, path


def test_repr_and_public_surface():
    model = LSTM(2, 3, dtype=np.float32, seed=0)
    assert repr(model) == "LSTM(input_size=2, hidden_size=3, dtype=float32)"
    assert lstm_impl.LSTM is LSTM
    assert set(lstm_impl.GATES) == set(GATES)


def test_dtype_none_is_refused_not_silently_float64():
    with pytest.raises(TypeError, match=r"dtype=None, but should be one of float16, float32, float64"):
        LSTM(3, 5, dtype=None)


def test_ragged_input_names_the_argument():
    model = LSTM(3, 5, seed=0)
    with pytest.raises(ValueError, match=r"^X is not a rectangular array"):
        model.forward_sequence([[1.0, 2.0, 3.0], [1.0]])


def test_base_model_structure_properties_and_new_names():
    """The base LSTM under the structure API (tests/test_lstm_impl_structure.py has the rest)."""
    model = LSTM(2, 3, seed=0)
    assert (model.num_layers, model.bidirectional, model.batch_first, model.variant) == (1, False, False, {})
    assert lstm_impl.param_names() == PARAM_NAMES
    assert set(lstm_impl.VARIANT_KEYS) == {"direction", "num_layers", "lengths", "empty_rows", "activations",
                                          "peephole", "coupling", "layer_norm", "clip", "proj_size", "proj_bias",
                                          "proj_clip"}
    x = np.random.default_rng(0).standard_normal((4, 2, 2))
    y, (h_n, c_n) = model.forward_sequence(x, None, None, True, lengths=None)  # return_state stays positional
    np.testing.assert_array_equal(y, model.forward_sequence(x))
    assert h_n.shape == c_n.shape == (2, 3)


@pytest.mark.parametrize("variant, words", [
    ({"peephole": False}, "should be True"),
    ({"coupling": "forget_input"}, "should be 'input_forget' or 'cifg'"),
    ({"clip": {"convention": "cell", "threshold": 1.0}}, "convention should be one of"),
    ({"clip": {"convention": "cell_state", "threshold": 0.0}}, "threshold should be a finite number > 0"),
    ({"clip": {"convention": "cell_state"}}, "but should be {'convention': ..., 'threshold': ...}"),
])
def test_bad_cell_features_are_named(variant, words):
    from lstm_impl import LSTM

    with pytest.raises(ValueError) as info:
        LSTM(2, 3, variant=variant)
    assert words in str(info.value)


def test_cell_feature_parameters_follow_the_variant():
    from lstm_impl import LSTM

    names = set(LSTM(2, 3, variant={"peephole": True, "coupling": "cifg"}, seed=0).params)
    assert {"p_f", "p_o"} <= names and not {"W_i", "U_i", "b_i", "p_i"} & names



# --------------------------------------------------------------------------- activations, layer norm, projection
def act(name, alpha=0, beta=0):
    return {"name": name, "alpha": alpha, "beta": beta}


BASE_ACTS = {"gate": act("Sigmoid"), "cell_input": act("Tanh"), "cell_output": act("Tanh")}
ELU_SOFTPLUS = {"gate": act("HardSigmoid", 0.2, 0.5), "cell_input": act("Elu", 1.5), "cell_output": act("Softplus")}
SOFTPLUS_ELU = {"gate": act("Sigmoid"), "cell_input": act("Softplus"), "cell_output": act("Elu", 0.5)}


def naive_activation(name, alpha, beta, z):
    """The spec's definitions, written plainly (float64, moderate z only)."""
    z = np.asarray(z, np.float64)
    return {
        "Sigmoid": lambda: 1 / (1 + np.exp(-z)),
        "Tanh": lambda: np.tanh(z),
        "Relu": lambda: np.maximum(z, 0),
        "Affine": lambda: alpha * z + beta,
        "LeakyRelu": lambda: np.where(z >= 0, z, alpha * z),
        "ThresholdedRelu": lambda: np.where(z > alpha, z, 0.0),
        "ScaledTanh": lambda: alpha * np.tanh(beta * z),
        "HardSigmoid": lambda: np.maximum(0, np.minimum(1, alpha * z + beta)),
        "Elu": lambda: np.where(z >= 0, z, alpha * (np.exp(z) - 1)),
        "Softsign": lambda: z / (1 + np.abs(z)),
        "Softplus": lambda: np.log(1 + np.exp(z)),
    }[name]()


def naive_feature_lstm(params, variant, X, h0, c0):
    """One forward cell with cell features, per row, per step, per gate, float64.

    X (T, B, I), h0 (B, P), c0 (B, H) -> y (T, B, P), h_n (B, P), c_n (B, H).
    """
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    acts = variant.get("activations", BASE_ACTS)
    gate, cell_in, cell_out = (lambda z, a=acts[s]: naive_activation(a["name"], a["alpha"], a["beta"], z)
                               for s in ("gate", "cell_input", "cell_output"))
    clip = variant.get("clip", {})
    t_clip = clip.get("threshold")
    ys, hs, cs = [], [], []
    for b in range(X.shape[1]):
        h, c = np.asarray(h0[b], np.float64), np.asarray(c0[b], np.float64)
        row = []
        for x in np.asarray(X[:, b], np.float64):
            def pre(k, c_read):
                if k == "i" and "W_i" not in p:  # cifg
                    return np.zeros_like(c)
                z = p[f"W_{k}"] @ x + p[f"U_{k}"] @ h
                if variant.get("peephole") and k != "g":
                    z = z + p.get(f"p_{k}", np.zeros_like(c)) * c_read
                if variant.get("layer_norm"):
                    d = z - z.mean()
                    a = p[f"ln_{k}"] * d / np.sqrt((d * d).mean() + 1e-8) + p[f"b_{k}"]
                else:
                    a = z + p[f"b_{k}"]
                if clip.get("convention") in ("gate_preactivations", "activation_inputs"):
                    a = np.clip(a, -t_clip, t_clip)
                return a
            i, f, g = gate(pre("i", c)), gate(pre("f", c)), cell_in(pre("g", c))
            if variant.get("coupling") == "input_forget":
                f = 1 - i
            elif variant.get("coupling") == "cifg":
                i = 1 - f
            c = f * c + i * g
            if clip.get("convention") == "cell_state":
                c = np.clip(c, -t_clip, t_clip)
            o = gate(pre("o", c))
            h = o * cell_out(np.clip(c, -t_clip, t_clip) if clip.get("convention") == "activation_inputs" else c)
            if "proj_size" in variant:
                h = p["W_proj"] @ h + (p["b_proj"] if variant.get("proj_bias") else 0.0)
                if "proj_clip" in variant:
                    h = np.clip(h, -variant["proj_clip"], variant["proj_clip"])
            row.append(h)
        ys.append(row)
        hs.append(h)
        cs.append(c)
    return np.array(ys).transpose(1, 0, 2), np.array(hs), np.array(cs)


def feature_params(rng, variant, i, h, dtype=np.float64, scale=1.0):
    """Random params of a one-cell model under `variant` (names and shapes from the model itself)."""
    names = LSTM(i, h, variant=variant, seed=0).params
    return {k: (scale * rng.standard_normal(v.shape)).astype(dtype) for k, v in names.items()}


FEATURE_VARIANTS = [
    {"proj_size": 3},
    {"proj_size": 2, "proj_bias": True, "proj_clip": 0.3},
    {"proj_size": 7, "proj_bias": True},  # P > H
    {"layer_norm": True},
    {"layer_norm": True, "peephole": True, "coupling": "cifg", "clip": {"convention": "cell_state", "threshold": 0.6},
     "proj_size": 3, "proj_bias": True, "proj_clip": 0.4},
    {"activations": ELU_SOFTPLUS},
    {"activations": SOFTPLUS_ELU, "layer_norm": True, "proj_size": 2},
    {"activations": {"gate": act("Affine", 0.3, 0.5), "cell_input": act("ThresholdedRelu", 0.2),
                     "cell_output": act("Softsign")}, "peephole": True, "coupling": "input_forget"},
    {"activations": {"gate": act("Sigmoid"), "cell_input": act("LeakyRelu", 0.1),
                     "cell_output": act("ScaledTanh", 1.5, 0.5)},
     "clip": {"convention": "activation_inputs", "threshold": 0.5}, "layer_norm": True},
    {"activations": {"gate": act("HardSigmoid", 1 / 6, 0.5), "cell_input": act("Relu"), "cell_output": act("Relu")},
     "clip": {"convention": "gate_preactivations", "threshold": 0.8}, "proj_size": 1},
]


@pytest.mark.parametrize("variant", FEATURE_VARIANTS, ids=lambda v: "+".join(v))
def test_cell_features_match_a_naive_per_row_loop(rng, variant):
    T, B, I, H = 6, 3, 4, 5
    params = feature_params(rng, variant, I, H)
    P = variant.get("proj_size", H)
    X = rng.standard_normal((T, B, I))
    h0, c0 = 0.5 * rng.standard_normal((B, P)), rng.standard_normal((B, H))
    model = LSTM.from_params(params, variant=variant)
    assert model.proj_size == variant.get("proj_size")
    y, (h_n, c_n) = model.forward_sequence(X, h0, c0, return_state=True)
    assert y.shape == (T, B, P) and h_n.shape == (B, P) and c_n.shape == (B, H)
    y_ref, h_ref, c_ref = naive_feature_lstm(params, variant, X, h0, c0)
    np.testing.assert_allclose(y, y_ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(h_n, h_ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(c_n, c_ref, rtol=1e-11, atol=1e-13)
    # one step at a time, in every state form
    h, c = h0, c0
    for t in range(T):
        h, c = model.forward(X[t], h, c)
        np.testing.assert_allclose(h, y[t], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_n, rtol=1e-12, atol=1e-14)
    h1, c1 = model.forward(X[0, 0], h0[0], c0[0])
    assert h1.shape == (P,) and c1.shape == (H,)
    hc, cc = model.forward(X[0, 0].reshape(I, 1), h0[0].reshape(P, 1), c0[0].reshape(H, 1))
    assert hc.shape == (P, 1) and cc.shape == (H, 1)
    np.testing.assert_array_equal(hc[:, 0], h1)
    np.testing.assert_allclose(h1, y[0, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scales", ["random", "a zero", "tiny", "huge"])
def test_layer_norm_paths_for_its_scales_match_the_naive_loop(rng, scales, dtype):
    """Without peepholes the weights carry layer norm's centring, and its scales when they lie within
    LN_FOLD_RANGE; a zero, tiny or huge scale keeps the product per step.  Every path agrees with the
    naive loop (float32 on the same rounded values)."""
    from lstm_impl.features import LN_FOLD_RANGE

    variant = {"layer_norm": True}
    T, B, I, H = 6, 3, 4, 5
    params = feature_params(rng, variant, I, H, dtype)
    odd = {"random": None, "a zero": 0.0, "tiny": LN_FOLD_RANGE[0] / 4, "huge": LN_FOLD_RANGE[1] * 4}[scales]
    if odd is not None:
        params["ln_f"][2] = odd
    model = LSTM.from_params(params, variant=variant)
    assert (model._cells[0].features.ln_var_rows is None) == (odd is not None)  # white box: the path taken
    X = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = (0.5 * rng.standard_normal((B, H))).astype(dtype), rng.standard_normal((B, H)).astype(dtype)
    y, (h_n, c_n) = model.forward_sequence(X, h0, c0, return_state=True)
    with np.errstate(over="ignore"):  # the naive loop's sigmoid of a huge scale's gate
        y_ref, h_ref, c_ref = naive_feature_lstm(params, variant, X, h0, c0)
    tol = {np.float64: 1e-11, np.float32: 1e-5}[dtype]
    np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(c_n, c_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype,k", [(np.float64, 1e300), (np.float32, 1e34)])
@pytest.mark.parametrize("variant", [{"layer_norm": True}, {"coupling": "cifg", "layer_norm": True}],
                         ids=lambda v: "+".join(v))
def test_layer_norm_with_weights_near_the_dtype_range(rng, variant, dtype, k):
    """Layer norm does not see the scale of z: W and U times k give the same y.  Near the dtype's range
    the centred, scaled weights of the fast path overflow in the GEMM (the step is redone from the
    plain weights) or already when they are made (the model keeps the per-step centring)."""
    I, H = 3, 5
    params = feature_params(rng, variant, I, H, dtype)
    big = {n: (v * k).astype(dtype) if n[0] in "WU" else v for n, v in params.items()}
    X = rng.standard_normal((4, 2, I)).astype(dtype)
    model = LSTM.from_params(params, variant=variant)
    assert model._cells[0].features.ln_var_rows is not None  # white box: cifg's absent gate does not block it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            y_big, (_, c_big) = LSTM.from_params(big, variant=variant).forward_sequence(X, return_state=True)
    y, (_, c) = model.forward_sequence(X, return_state=True)
    tol = {np.float64: 1e-7, np.float32: 1e-4}[dtype]  # epsilon's 1e-8 next to a variance of about 1
    np.testing.assert_allclose(y_big, y, rtol=tol, atol=tol)
    np.testing.assert_allclose(c_big, c, rtol=tol, atol=tol)
    # weights whose centred values leave the range: the model keeps the plain weights
    edge = dict(params)
    edge["W_f"] = np.zeros((H, I), dtype=dtype)
    edge["W_f"][:, 0] = 0.9 * float(np.finfo(dtype).max) * np.array([1, 1, 1, 1, -1])
    edged = LSTM.from_params(edge, variant=variant)
    assert not edged._cells[0].features.centered
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            y_edge = edged.forward_sequence(np.full((2, 1, I), 0.5, dtype=dtype))
    assert np.isfinite(y_edge).all()


def test_own_activations_with_centred_layer_norm_keep_numpy_overflow_warnings():
    """A variant's own activation whose result overflows warns as documented (activations.py), on the
    centred layer-norm path as on the per-step one."""
    acts = {"gate": act("Sigmoid"), "cell_input": act("Tanh"), "cell_output": act("Affine", 1e308, 0.0)}
    X = np.full((5, 1, 2), 3.0)
    for variant in ({"layer_norm": True, "activations": acts},
                    {"layer_norm": True, "peephole": True, "activations": acts}):
        params = feature_params(np.random.default_rng(1), variant, 2, 4)
        for gate in "ifg":  # i, f and g near 1 (the biases come after the normalisation): c grows past 1.8,
            params[f"b_{gate}"] = np.full(4, 8.0)  # so 1e308 * c overflows

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LSTM.from_params(params, variant=variant).forward_sequence(X)
        assert any("overflow" in str(w.message) for w in caught), (variant, [str(w.message) for w in caught])


def test_projection_structure_shapes_and_agreement(rng):
    """Stacked, bidirectional, batch-first, lengths: h P wide, c H wide; the reverse run of a bidirectional model
    is a reverse-only model on its own parameters."""
    T, B, I, H, P = 5, 4, 3, 6, 2
    var = {"direction": "bidirectional", "num_layers": 2, "proj_size": P, "proj_bias": True,
           "activations": [ELU_SOFTPLUS, SOFTPLUS_ELU], "layer_norm": True}
    model = LSTM(I, H, variant=var, seed=3, batch_first=True)
    params = model.params
    assert params["W_f_l1_reverse"].shape == (H, 2 * P) and params["U_o_l1"].shape == (H, P)
    assert params["W_proj_reverse"].shape == (P, H) and params["b_proj_l1"].shape == (P,)
    params = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    model = LSTM.from_params(params, variant=var, batch_first=True)
    X = rng.standard_normal((B, T, I))
    h0, c0 = rng.standard_normal((4, B, P)), rng.standard_normal((4, B, H))
    lengths = [5, 2, 0, 3]
    y, (h_n, c_n) = model.forward_sequence(X, h0, c0, return_state=True, lengths=lengths)
    assert y.shape == (B, T, 2 * P) and h_n.shape == (4, B, P) and c_n.shape == (4, B, H)
    assert np.all(y[1, 2:] == 0) and np.all(y[2] == 0)
    np.testing.assert_array_equal(h_n[:, 2], h0[:, 2])  # a row of length 0 keeps its initial state
    np.testing.assert_array_equal(c_n[:, 2], c0[:, 2])
    # layer 0's reverse run, alone: a reverse-only model with the plain names, SOFTPLUS_ELU
    one = {k[:-len("_reverse")]: v for k, v in params.items() if k.endswith("_reverse") and "_l1" not in k}
    rev_var = {"direction": "reverse", "proj_size": P, "proj_bias": True, "activations": SOFTPLUS_ELU,
               "layer_norm": True}
    rev = LSTM.from_params(one, variant=rev_var)
    one_layer = {k: v for k, v in params.items() if "_l1" not in k}
    first = LSTM.from_params(one_layer, variant={k: v for k, v in var.items() if k != "num_layers"})
    y0, (h0n, c0n) = first.forward_sequence(X.transpose(1, 0, 2), h0[:2], c0[:2], return_state=True)
    y_rev, (h_rev, c_rev) = rev.forward_sequence(X.transpose(1, 0, 2), h0[1], c0[1], return_state=True)
    np.testing.assert_allclose(y0[:, :, P:], y_rev, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h0n[1], h_rev, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c0n[1], c_rev, rtol=1e-12, atol=1e-14)


def test_new_model_with_projection_and_layer_norm_is_initialised_neutrally():
    H, P = 6, 4
    p = LSTM(3, H, variant={"proj_size": P, "proj_bias": True, "layer_norm": True, "num_layers": 2}, seed=0).params
    for k in GATES:
        U = p[f"U_{k}"]
        assert U.shape == (H, P)
        np.testing.assert_allclose(U.T @ U, np.eye(P), atol=1e-12)  # orthonormal columns
        np.testing.assert_array_equal(p[f"ln_{k}"], np.ones(H))
    assert p["W_i_l1"].shape == (H, P) and p["W_proj"].shape == (P, H)
    np.testing.assert_array_equal(p["b_proj"], np.zeros(P))
    wide = LSTM(3, 2, variant={"proj_size": 5}, seed=0).params["U_f"]  # P > H: orthonormal rows
    np.testing.assert_allclose(wide @ wide.T, np.eye(2), atol=1e-12)
    # the base LSTM's draws are unchanged by the rectangular orthogonal init
    assert np.array_equal(LSTM(3, H, seed=0).params["W_i"], p["W_i"])


@pytest.mark.parametrize("name,alpha,beta", [
    ("Sigmoid", 0, 0), ("Tanh", 0, 0), ("Relu", 0, 0), ("Affine", 0.5, -0.25), ("LeakyRelu", 0.1, 0),
    ("ThresholdedRelu", 0.5, 0), ("ThresholdedRelu", -0.5, 0), ("ScaledTanh", 1.5, 0.5), ("HardSigmoid", 0.2, 0.5),
    ("Elu", 1.5, 0), ("Softsign", 0, 0), ("Softplus", 0, 0)])
def test_activation_kernels(name, alpha, beta):
    from lstm_impl.activations import activation

    fn = activation(name, alpha, beta)
    z = np.concatenate([np.linspace(-30, 30, 601), [-0.5, 0.5, 0.0, -0.0, 1e-300, -1e-300]])
    np.testing.assert_allclose(fn(z), naive_activation(name, alpha, beta, z), rtol=1e-14, atol=1e-15)
    for dtype in FLOATS:
        fmax = float(np.finfo(dtype).max)
        big = np.array([-fmax, -1e30, -800.0, -90.0, 90.0, 800.0, 1e30, fmax])
        big = big[np.abs(big) <= fmax].astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="raise", under="ignore"):
                out = fn(big) if name not in ("Affine", "LeakyRelu") else fn(big / 4)
        assert out.dtype == dtype and np.all(np.isfinite(out)), (dtype, out)
    assert activation("ThresholdedRelu", 0.5)(np.array([0.5, 0.5000001]))[0] == 0.0  # strict
    if name == "Softplus":
        assert fn(np.array([1e30]))[0] == 1e30 and fn(np.array([-800.0]))[0] == 0.0
    if name == "Elu":
        assert fn(np.array([-1e30]))[0] == -alpha


def test_layer_norm_is_scale_invariant_without_overflow():
    from lstm_impl.features import layer_norm

    rng = np.random.default_rng(3)
    z = rng.standard_normal((5, 4))
    scale, bias = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    want = layer_norm(z, scale, bias)
    for dtype, k in ((np.float64, 1e200), (np.float64, 1e300), (np.float32, 1e30), (np.float32, 1e35)):
        zz = (z * k).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="raise", under="ignore"):
                got = layer_norm(zz, scale.astype(dtype), bias.astype(dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol={np.float64: 1e-12, np.float32: 1e-5}[dtype], atol=1e-5)
    # a constant row: the variance is 0 and epsilon keeps it finite; the result is the bias
    flat = layer_norm(np.full((5, 2), 7.0), scale, bias)
    np.testing.assert_allclose(flat, np.repeat(bias, 2, axis=1), atol=1e-12)


HUGE_VARIANTS = [
    {"activations": ELU_SOFTPLUS, "layer_norm": True},
    {"activations": SOFTPLUS_ELU},  # Softplus(+-1e30) as g, Elu of a cell of 1e30 as h's function
    {"layer_norm": True, "peephole": True, "proj_size": 2, "proj_bias": True, "proj_clip": 1.0},
    {"activations": ELU_SOFTPLUS, "layer_norm": True, "proj_size": 3, "coupling": "cifg",
     "clip": {"convention": "activation_inputs", "threshold": 5.0}},
]


@pytest.mark.parametrize("variant", [{"layer_norm": True}, {"layer_norm": True, "activations": ELU_SOFTPLUS},
                                     {"layer_norm": True, "peephole": True}], ids=lambda v: "+".join(v))
def test_layer_norm_redoes_overflowing_squares_in_float32(variant):
    """z near 1e25 has squares beyond float32's range; the kernel notices (an overflow in the step) and
    redoes the variance by rescaling, so float32 agrees with float64 on the same values (layer norm does
    not see the scale).  Without the redo the normalised gates would be their biases."""
    rng = np.random.default_rng(3)
    I, H = 3, 5
    params = feature_params(rng, variant, I, H, np.float32, scale=0.5)
    X = (1e25 * rng.standard_normal((4, 2, I))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            y32, (h32, c32) = LSTM.from_params(params, variant=variant).forward_sequence(X, return_state=True)
    y64, (h64, c64) = LSTM.from_params({k: v.astype(np.float64) for k, v in params.items()}, variant=variant) \
        .forward_sequence(X.astype(np.float64), return_state=True)
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c32, c64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("big", [800.0, 1e30])
@pytest.mark.parametrize("variant", HUGE_VARIANTS, ids=lambda v: "+".join(v))
def test_cell_features_have_no_warnings_at_huge_inputs(variant, big, dtype):
    rng = np.random.default_rng(11)
    I, H = 2, 4
    params = feature_params(rng, variant, I, H, dtype, scale=0.5)
    X = (big * np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, -0.25], [-1.0, -1.0]])).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            model = LSTM.from_params(params, variant=variant)
            y, (h_n, c_n) = model.forward_sequence(X, return_state=True)
            model.forward(X[0])
    assert y.dtype == h_n.dtype == c_n.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(c_n))
    if dtype == np.float64 and variant.get("layer_norm"):  # bounded pre-activations: the naive loop is exact
        P = variant.get("proj_size", H)
        with np.errstate(over="ignore", under="ignore"):  # its where() evaluates both branches
            y_ref, _, c_ref = naive_feature_lstm(params, variant, X[:, None], np.zeros((1, P)), np.zeros((1, H)))
        np.testing.assert_allclose(y, y_ref[:, 0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c_n, c_ref[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", FLOATS)
def test_cell_features_keep_the_dtype(rng, dtype):
    variant = {"activations": ELU_SOFTPLUS, "layer_norm": True, "peephole": True, "proj_size": 3, "proj_bias": True,
               "proj_clip": 2.0, "num_layers": 2, "direction": "bidirectional"}
    model = LSTM(4, 5, variant=variant, seed=0, dtype=dtype)
    assert all(v.dtype == dtype for v in model.params.values())
    X = rng.standard_normal((6, 2, 4)).astype(dtype)
    y, (h_n, c_n) = model.forward_sequence(X, return_state=True, lengths=[6, 3])
    assert y.dtype == h_n.dtype == c_n.dtype == dtype
    assert y.shape == (6, 2, 6) and h_n.shape == (4, 2, 3) and c_n.shape == (4, 2, 5)
    compute = np.float32 if dtype == np.float16 else dtype
    cells = model._cells
    assert all(c.uw.dtype == compute and c.features.w_proj.dtype == compute for c in cells)
    assert all(a.dtype == compute for c in cells for a in (*c.features.layer_norm, c.features.bias,
                                                            c.features.b_proj))
    if dtype != np.float64:  # close to float64 on the same rounded values
        y64 = LSTM.from_params({k: v.astype(np.float64) for k, v in model.params.items()}, variant=variant) \
            .forward_sequence(X.astype(np.float64), lengths=[6, 3])
        tol = 1e-5 if dtype == np.float32 else 2e-2
        np.testing.assert_allclose(y.astype(np.float64), y64, rtol=tol, atol=tol)


BAD_NEW_VARIANTS = [
    ({"activations": {**BASE_ACTS, "gate": act("Sigmoidal")}}, ValueError,
     ["variant['activations']['gate']['name']='Sigmoidal'", "should be one of", "HardSigmoid"]),
    ({"activations": {**BASE_ACTS, "cell_output": act("Relu", 0.5)}}, ValueError,
     ["variant['activations']['cell_output']['alpha']=0.5", "Relu takes no alpha", "write 0"]),
    ({"activations": {**BASE_ACTS, "gate": act("LeakyRelu", 0.1, 2.0)}}, ValueError,
     ["variant['activations']['gate']['beta']=2.0", "LeakyRelu takes no beta", "takes alpha"]),
    ({"activations": {**BASE_ACTS, "gate": act("Elu", float("inf"))}}, ValueError,
     ["variant['activations']['gate']['alpha']=inf", "finite number"]),
    ({"activations": {**BASE_ACTS, "gate": {"name": "Sigmoid", "alpha": 0}}}, ValueError,
     ["variant['activations']['gate']", "{'name': ..., 'alpha': ..., 'beta': ...}"]),
    ({"activations": {"gate": act("Sigmoid"), "cell_input": act("Tanh")}}, ValueError,
     ["variant['activations']=", "'cell_output': A"]),
    ({"activations": BASE_ACTS}, ValueError, ["variant['activations'] is the default", "leave 'activations' out"]),
    ({"activations": [ELU_SOFTPLUS, SOFTPLUS_ELU]}, ValueError,
     ["variant['activations'] is a list", "direction 'bidirectional'", "direction=None"]),
    ({"activations": [ELU_SOFTPLUS, SOFTPLUS_ELU], "direction": "reverse"}, ValueError,
     ["variant['activations'] is a list", "direction='reverse'"]),
    ({"activations": [ELU_SOFTPLUS, ELU_SOFTPLUS], "direction": "bidirectional"}, ValueError,
     ["same activations for both directions", "write it once"]),
    ({"activations": [ELU_SOFTPLUS], "direction": "bidirectional"}, ValueError,
     ["lists 1 object(s)", "should list two"]),
    ({"activations": [ELU_SOFTPLUS, {**BASE_ACTS, "gate": act("Foo")}], "direction": "bidirectional"}, ValueError,
     ["variant['activations'][1]['gate']['name']='Foo'"]),
    ({"layer_norm": False}, ValueError, ["variant['layer_norm']=False", "should be True"]),
    ({"proj_size": 0}, ValueError, ["variant['proj_size']=0", "an int >= 1"]),
    ({"proj_size": 2.0}, TypeError, ["variant['proj_size']=2.0 (float)", "an int >= 1"]),
    ({"proj_size": True}, TypeError, ["variant['proj_size']=True (bool)", "an int >= 1"]),
    ({"proj_bias": True}, ValueError, ["variant['proj_bias']=True requires 'proj_size'"]),
    ({"proj_size": 2, "proj_bias": 1}, ValueError, ["variant['proj_bias']=1", "should be True"]),
    ({"proj_clip": 0.5}, ValueError, ["variant['proj_clip']=0.5 requires 'proj_size'"]),
    ({"proj_size": 2, "proj_clip": 0.0}, ValueError, ["variant['proj_clip']=0.0", "a finite number > 0"]),
    ({"proj_size": 2, "proj_clip": -1}, ValueError, ["variant['proj_clip']=-1", "a finite number > 0"]),
    ({"proj_size": 2, "proj_clip": float("nan")}, ValueError, ["variant['proj_clip']=nan", "a finite number > 0"]),
    ({"proj_size": 2, "proj_clip": True}, ValueError, ["variant['proj_clip']=True", "a finite number > 0"]),
]


@pytest.mark.parametrize("variant,exc,fragments", BAD_NEW_VARIANTS)
def test_bad_new_cell_feature_variants_are_named(variant, exc, fragments):
    assert_error(exc, lambda: LSTM(3, 4, variant=variant), *fragments)
    assert_error(exc, lambda: LSTM.from_params(LSTM(3, 4, seed=0).params, variant=variant), *fragments)


def test_new_cell_feature_variants_are_canonical():
    var = {"proj_clip": 1, "proj_size": 2, "layer_norm": True, "direction": "bidirectional",
           "activations": [BASE_ACTS, ELU_SOFTPLUS]}  # a list may hold the base functions for one direction
    model = LSTM(3, 4, variant=var, seed=0)
    assert list(model.variant) == ["direction", "activations", "layer_norm", "proj_size", "proj_clip"]
    assert model.variant["proj_clip"] == 1.0 and model.variant["activations"] == [BASE_ACTS, ELU_SOFTPLUS]
    assert LSTM.from_params(model.params, variant=model.variant).variant == model.variant


def _proj_model(**kw):
    return LSTM(3, 5, variant={"proj_size": 2, **kw}, seed=0)


BAD_PROJ_STATES = [
    (lambda: _proj_model().forward_sequence(np.zeros((4, 2, 3)), np.zeros((2, 5))), ValueError,
     ["h0.shape=(2, 5)", "(B, P)", "B=2 from X.shape[1]", "(2, 2)"]),
    (lambda: _proj_model().forward_sequence(np.zeros((4, 2, 3)), None, np.zeros((2, 2))), ValueError,
     ["c0.shape=(2, 2)", "(B, H)", "(2, 5)"]),
    (lambda: _proj_model(num_layers=2, direction="bidirectional").forward_sequence(
        np.zeros((4, 2, 3)), np.zeros((4, 2, 5))), ValueError,
     ["h0.shape=(4, 2, 5)", "(L*D, B, P)", "L=2, D=2", "(4, 2, 2)"]),
    (lambda: _proj_model(num_layers=2).forward_sequence(np.zeros((4, 2, 3)), None, np.zeros((2, 2, 2))), ValueError,
     ["c0.shape=(2, 2, 2)", "(L*D, B, H)", "(2, 2, 5)"]),
    (lambda: _proj_model(num_layers=2).forward_sequence(np.zeros((4, 3)), np.zeros((2, 5))), ValueError,
     ["h0.shape=(2, 5)", "(L*D, P)", "(2, 2)"]),
    (lambda: _proj_model().forward_sequence(np.zeros((4, 3)), np.zeros(5)), ValueError,
     ["h0.shape=(5,)", "(P,) = (2,)"]),
    (lambda: _proj_model().forward(np.zeros(3), np.zeros(5)), ValueError, ["h_prev.shape=(5,)", "(P,) = (2,)"]),
    (lambda: _proj_model().forward(np.zeros((3, 1)), None, np.zeros((2, 1))), ValueError,
     ["c_prev.shape=(2, 1)", "(H, 1) = (5, 1)"]),
    (lambda: _proj_model().forward(np.zeros((4, 3)), np.zeros((4, 5))), ValueError,
     ["h_prev.shape=(4, 5)", "(B, P) = (4, 2)"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_PROJ_STATES)
def test_bad_states_with_projection_name_the_expected_shape(call, exc, fragments):
    assert_error(exc, call, *fragments)


def test_bad_params_with_projection_name_the_expected_shape():
    var = {"proj_size": 2, "proj_bias": True, "layer_norm": True, "num_layers": 2, "direction": "bidirectional"}
    good = LSTM(3, 5, variant=var, seed=0).params
    cases = [
        ("W_proj", np.zeros((3, 5)), ["params['W_proj'].shape=(3, 5)", "(P, H) = (2, 5)", "variant['proj_size']"]),
        ("W_proj_l1_reverse", np.zeros((2, 4)), ["params['W_proj_l1_reverse'].shape=(2, 4)", "(P, H) = (2, 5)"]),
        ("U_g_reverse", np.zeros((5, 5)), ["params['U_g_reverse'].shape=(5, 5)", "(H, P) = (5, 2)", "P=2"]),
        ("W_o_l1", np.zeros((5, 10)), ["params['W_o_l1'].shape=(5, 10)", "(H, D*P) = (5, 4) [D=2]"]),
        ("b_proj_l1", np.zeros(5), ["params['b_proj_l1'].shape=(5,)", "(P,) = (2,)"]),
        ("ln_g", np.zeros(2), ["params['ln_g'].shape=(2,)", "(H,) = (5,)"]),
    ]
    for name, value, fragments in cases:
        assert_error(ValueError, lambda: LSTM.from_params({**good, name: value}, variant=var), *fragments)
    missing = {k: v for k, v in good.items() if k != "ln_i_l1"}
    assert_error(ValueError, lambda: LSTM.from_params(missing, variant=var), "missing ['ln_i_l1']")
    cifg = LSTM(3, 5, variant={"layer_norm": True, "coupling": "cifg"}, seed=0).params
    assert "ln_i" not in cifg and {"ln_f", "ln_g", "ln_o"} <= set(cifg)
