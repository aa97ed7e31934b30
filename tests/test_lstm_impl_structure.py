"""Sequence structure in lstm_impl: reverse, bidirectional, stacked layers,
per-row lengths (the ``zero_fill`` convention), ``empty_rows: zeros`` and
``batch_first``.

Every structured output is compared with ``ref_lstm`` below: a plain loop per
row, per layer, per direction and per step, in float64, that only ever looks
at a row's valid prefix ``X[:len_b, b]`` (so padding cannot reach it).  Its
parameter names are spelled out here, not taken from lstm_impl.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lstm_impl import LSTM, PARAM_NAMES
from tests.conftest import assert_error

GATES = ("i", "f", "g", "o")
NAMES = tuple(f"{r}_{k}" for r in "WUb" for k in GATES)


# --------------------------------------------------------------------------- the reference
def suffix(layer: int, direction: int, bidirectional: bool) -> str:
    """``_l{k}`` for layer k >= 1, then ``_reverse`` for a bidirectional model's reverse direction."""
    out = f"_l{layer}" if layer > 0 else ""
    if bidirectional and direction == 1:
        out += "_reverse"
    return out


def n_dirs(direction: str) -> int:
    return 2 if direction == "bidirectional" else 1


def sig(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def ref_step(p, sfx, x, h, c):
    """One step of one cell, one row: vectors x (In,), h, c (H,), float64."""
    pre = {k: p[f"W_{k}{sfx}"] @ x + p[f"U_{k}{sfx}"] @ h + p[f"b_{k}{sfx}"] for k in GATES}
    i, f, o = sig(pre["i"]), sig(pre["f"]), sig(pre["o"])
    g = np.tanh(pre["g"])
    c = f * c + i * g
    return o * np.tanh(c), c


def ref_lstm(params, X, h0, c0, *, num_layers=1, direction="forward", lengths=None,
             empty_rows_zero=False):
    """X (T, B, I); h0, c0 (L*D, B, H) -> y (T, B, D*H), h_n, c_n (L*D, B, H), float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    X = np.asarray(X, np.float64)
    T, B = X.shape[:2]
    D = n_dirs(direction)
    H = p["U_i"].shape[0]
    y = np.zeros((T, B, D * H))
    h_n = np.zeros((num_layers * D, B, H))
    c_n = np.zeros((num_layers * D, B, H))
    for b in range(B):
        n = T if lengths is None else int(lengths[b])
        seq = [X[t, b] for t in range(n)]  # the row's valid steps only
        for layer in range(num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                sfx = suffix(layer, d, direction == "bidirectional")
                backwards = direction == "reverse" or d == 1
                h, c = np.asarray(h0[k, b], np.float64), np.asarray(c0[k, b], np.float64)
                out = [None] * n
                for t in (range(n - 1, -1, -1) if backwards else range(n)):
                    h, c = ref_step(p, sfx, seq[t], h, c)
                    out[t] = h
                if n == 0 and empty_rows_zero:
                    h, c = np.zeros(H), np.zeros(H)
                h_n[k, b], c_n[k, b] = h, c
                outs.append(out)
            seq = [np.concatenate([outs[d][t] for d in range(D)]) for t in range(n)]
        for t in range(n):
            y[t, b] = seq[t]
    return y, h_n, c_n


def random_params(rng, I, H, num_layers=1, direction="forward", scale=1.0):
    """Every cell's parameters, different per cell, with non-zero biases."""
    D = n_dirs(direction)
    p = {}
    for layer in range(num_layers):
        in_size = I if layer == 0 else D * H
        for d in range(D):
            sfx = suffix(layer, d, direction == "bidirectional")
            for k in GATES:
                p[f"W_{k}{sfx}"] = scale * rng.standard_normal((H, in_size)) / np.sqrt(in_size)
                p[f"U_{k}{sfx}"] = scale * rng.standard_normal((H, H)) / np.sqrt(H)
                p[f"b_{k}{sfx}"] = scale * 0.5 * rng.standard_normal(H)
    return p


def variant_of(num_layers=1, direction="forward", **extra):
    v = dict(extra)
    if num_layers != 1:
        v["num_layers"] = num_layers
    if direction != "forward":
        v["direction"] = direction
    return v


@pytest.fixture
def rng():
    return np.random.default_rng(99)


def close(got, want, rtol=1e-12, atol=1e-14):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol)


T, B, I, H = 6, 5, 3, 4  # H != I, so a wrong W shape cannot slip through
LENGTHS = {
    "none": None,
    "mixed": [6, 3, 1, 0, 5],  # a full row, short rows, a row of length 1, a row of length 0
    "full": [6, 6, 6, 6, 6],
    "short": [4, 2, 1, 4, 3],  # the longest row is shorter than T
}
STRUCTURES = [(1, "reverse"), (1, "bidirectional"), (2, "forward"), (3, "forward"),
              (2, "reverse"), (2, "bidirectional"), (3, "bidirectional")]


# --------------------------------------------------------------------------- against the reference
@pytest.mark.parametrize("lengths_kind", list(LENGTHS))
@pytest.mark.parametrize("num_layers,direction", [(1, "forward"), *STRUCTURES])
def test_matches_the_reference_loop(rng, num_layers, direction, lengths_kind):
    D = n_dirs(direction)
    C = num_layers * D
    params = random_params(rng, I, H, num_layers, direction, scale=1.5)
    X = rng.standard_normal((T, B, I))
    h0 = 0.5 * rng.standard_normal((C, B, H))  # different per cell (layer and direction)
    c0 = rng.standard_normal((C, B, H))
    lengths = LENGTHS[lengths_kind]
    model = LSTM.from_params(params, variant=variant_of(num_layers, direction))
    if C == 1:  # (B, H) states when L*D == 1
        y, (h_n, c_n) = model.forward_sequence(X, h0[0], c0[0], return_state=True, lengths=lengths)
        assert h_n.shape == c_n.shape == (B, H)
        h_n, c_n = h_n[None], c_n[None]
    else:
        y, (h_n, c_n) = model.forward_sequence(X, h0, c0, return_state=True, lengths=lengths)
        assert h_n.shape == c_n.shape == (C, B, H)
    y_ref, h_ref, c_ref = ref_lstm(params, X, h0, c0, num_layers=num_layers, direction=direction,
                                   lengths=lengths)
    assert y.shape == (T, B, D * H) and y.dtype == np.float64
    close(y, y_ref)
    close(h_n, h_ref)
    close(c_n, c_ref)
    if lengths is not None:
        lens = np.asarray(lengths)
        for b in range(B):
            assert np.all(y[lens[b]:, b] == 0.0)  # exactly 0 past each row's length
        if 0 in lens:  # a row of length 0 keeps its initial state, in every cell
            np.testing.assert_array_equal(h_n[:, lens == 0], h0[:, lens == 0])
            np.testing.assert_array_equal(c_n[:, lens == 0], c0[:, lens == 0])


def test_the_reference_is_not_trivially_symmetric(rng):
    """The structures differ from each other, so agreeing with the reference means something."""
    params = random_params(rng, I, H, 1, "bidirectional")
    X = rng.standard_normal((T, B, I))
    zeros = np.zeros((2, B, H))
    y_bi = ref_lstm(params, X, zeros, zeros, direction="bidirectional")[0]
    y_fw = ref_lstm(params, X, zeros[:1], zeros[:1])[0]
    y_rev = ref_lstm({k: params[k + "_reverse"] for k in NAMES}, X, zeros[:1], zeros[:1],
                     direction="reverse")[0]
    np.testing.assert_array_equal(y_bi[..., :H], y_fw)  # forward half first
    np.testing.assert_array_equal(y_bi[..., H:], y_rev)
    assert not np.allclose(y_rev, ref_lstm({k: params[k + "_reverse"] for k in NAMES}, X,
                                           zeros[:1], zeros[:1])[0])
    y_len = ref_lstm(params, X, zeros, zeros, direction="bidirectional", lengths=[3] * B)[0]
    assert not np.allclose(y_len[:3, :, H:], y_bi[:3, :, H:])  # reverse starts at len - 1, not T - 1


def test_reverse_equals_forward_on_the_reversed_valid_prefix(rng):
    """A second, independent check: reverse(x)[t] = forward(x[len-1::-1])[len-1-t], row by row."""
    params = random_params(rng, I, H)
    X = rng.standard_normal((T, B, I))
    lengths = [6, 3, 1, 0, 5]
    rev = LSTM.from_params(params, variant={"direction": "reverse"})
    fwd = LSTM.from_params(params)
    y, (h_n, c_n) = rev.forward_sequence(X, return_state=True, lengths=lengths)
    for b, n in enumerate(lengths):
        if n == 0:
            continue
        y_f, (h_f, c_f) = fwd.forward_sequence(X[n - 1::-1, b], return_state=True)  # (n, H)
        close(y[:n, b], y_f[::-1])
        close(h_n[b], h_f)
        close(c_n[b], c_f)


@pytest.mark.parametrize("num_layers,direction", STRUCTURES)
def test_padding_garbage_changes_nothing(rng, num_layers, direction):
    params = random_params(rng, I, H, num_layers, direction)
    model = LSTM.from_params(params, variant=variant_of(num_layers, direction))
    C = num_layers * n_dirs(direction)
    X = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((C, B, H)), rng.standard_normal((C, B, H))
    if C == 1:
        h0, c0 = h0[0], c0[0]
    lengths = np.array([6, 3, 1, 0, 4])
    clean = model.forward_sequence(X, h0, c0, return_state=True, lengths=lengths)
    for garbage in (1e300, -1e300, np.nan, np.inf):
        dirty = X.copy()
        for b, n in enumerate(lengths):
            dirty[n:, b] = garbage * np.sign(rng.standard_normal((T - n, I)) + 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="raise"):
                got = model.forward_sequence(dirty, h0, c0, return_state=True, lengths=lengths)
        np.testing.assert_array_equal(got[0], clean[0])
        np.testing.assert_array_equal(got[1][0], clean[1][0])
        np.testing.assert_array_equal(got[1][1], clean[1][1])


@pytest.mark.parametrize("num_layers,direction", [(1, "forward"), (1, "reverse"), (2, "bidirectional")])
def test_empty_rows_zeros(rng, num_layers, direction):
    params = random_params(rng, I, H, num_layers, direction)
    C = num_layers * n_dirs(direction)
    X = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((C, B, H)), rng.standard_normal((C, B, H))
    lengths = [6, 0, 2, 0, 3]
    model = LSTM.from_params(params, variant=variant_of(num_layers, direction, empty_rows="zeros"))
    plain = LSTM.from_params(params, variant=variant_of(num_layers, direction))
    shape = (B, H) if C == 1 else (C, B, H)
    y, (h_n, c_n) = model.forward_sequence(X, h0.reshape(shape), c0.reshape(shape),
                                           return_state=True, lengths=lengths)
    y_ref, h_ref, c_ref = ref_lstm(params, X, h0, c0, num_layers=num_layers, direction=direction,
                                   lengths=lengths, empty_rows_zero=True)
    close(y, y_ref)
    close(h_n.reshape(C, B, H), h_ref)
    close(c_n.reshape(C, B, H), c_ref)
    assert np.all(h_ref[:, [1, 3]] == 0) and np.all(c_ref[:, [1, 3]] == 0)
    # without the variant the empty rows keep h0 / c0; the other rows are the same
    y2, (h2, c2) = plain.forward_sequence(X, h0.reshape(shape), c0.reshape(shape),
                                          return_state=True, lengths=lengths)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(h2.reshape(C, B, H)[:, [1, 3]], h0[:, [1, 3]])
    np.testing.assert_array_equal(h2.reshape(C, B, H)[:, [0, 2, 4]], h_n.reshape(C, B, H)[:, [0, 2, 4]])
    # T == 0 without lengths: every row is empty
    _, (h_e, c_e) = model.forward_sequence(np.zeros((0, B, I)), h0.reshape(shape), c0.reshape(shape),
                                           return_state=True)
    assert np.all(h_e == 0) and np.all(c_e == 0) and h_e.shape == shape
    _, (h_e, _) = plain.forward_sequence(np.zeros((0, B, I)), h0.reshape(shape), c0.reshape(shape),
                                         return_state=True)
    np.testing.assert_array_equal(h_e, h0.reshape(shape))


@pytest.mark.parametrize("num_layers,direction", [(1, "forward"), (1, "reverse"), (2, "bidirectional")])
def test_batch_first(rng, num_layers, direction):
    params = random_params(rng, I, H, num_layers, direction)
    var = variant_of(num_layers, direction)
    tm = LSTM.from_params(params, variant=var)
    bf = LSTM.from_params(params, variant=var, batch_first=True)
    assert bf.batch_first and not tm.batch_first
    C = num_layers * n_dirs(direction)
    shape = (B, H) if C == 1 else (C, B, H)  # states are never batch-first, as in torch
    X = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal(shape), rng.standard_normal(shape)
    lengths = [6, 2, 0, 5, 1]
    y, (h_n, c_n) = tm.forward_sequence(X, h0, c0, return_state=True, lengths=lengths)
    yb, (hb, cb) = bf.forward_sequence(X.transpose(1, 0, 2), h0, c0, return_state=True, lengths=lengths)
    assert yb.shape == (B, T, n_dirs(direction) * H) and yb.flags.c_contiguous
    np.testing.assert_array_equal(yb, y.transpose(1, 0, 2))
    np.testing.assert_array_equal(hb, h_n)
    np.testing.assert_array_equal(cb, c_n)
    # the constructor keyword too
    m = LSTM(I, H, num_layers=num_layers, bidirectional=direction == "bidirectional",
             batch_first=True, seed=3, variant={"direction": "reverse"} if direction == "reverse" else None)
    assert m.forward_sequence(X.transpose(1, 0, 2)).shape == (B, T, n_dirs(direction) * H)
    assert_error(ValueError, lambda: bf.forward_sequence(X[:, :, :2]), "X.shape=(6, 5, 2)",
                 f"(B, T, {I})", "batch_first=True")


def test_lengths_all_full_equal_no_lengths(rng):
    for num_layers, direction in [(1, "forward"), *STRUCTURES]:
        params = random_params(rng, I, H, num_layers, direction)
        model = LSTM.from_params(params, variant=variant_of(num_layers, direction))
        X = rng.standard_normal((T, B, I))
        close(model.forward_sequence(X, lengths=[T] * B), model.forward_sequence(X), rtol=1e-14, atol=0)
    base = LSTM.from_params(random_params(rng, I, H))
    X = rng.standard_normal((T, B, I))
    np.testing.assert_array_equal(base.forward_sequence(X, lengths=np.full(B, T)), base.forward_sequence(X))


def test_unbatched_sequence_with_stacked_states(rng):
    params = random_params(rng, I, H, 2, "bidirectional")
    model = LSTM.from_params(params, variant={"num_layers": 2, "direction": "bidirectional"})
    X = rng.standard_normal((T, I))
    h0, c0 = rng.standard_normal((4, H)), rng.standard_normal((4, H))
    y, (h_n, c_n) = model.forward_sequence(X, h0, c0, return_state=True, lengths=[4])
    assert y.shape == (T, 2 * H) and h_n.shape == c_n.shape == (4, H)
    y_ref, h_ref, c_ref = ref_lstm(params, X[:, None], h0[:, None], c0[:, None], num_layers=2,
                                   direction="bidirectional", lengths=[4])
    close(y, y_ref[:, 0])
    close(h_n, h_ref[:, 0])
    close(c_n, c_ref[:, 0])
    assert_error(ValueError, lambda: model.forward_sequence(X, np.zeros(H)), "h0.shape=(4,)",
                 "(L*D, H)", "L=2, D=2", "(4, 4)")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_preserved(rng, dtype):
    params = {k: v.astype(dtype) for k, v in random_params(rng, I, H, 2, "bidirectional").items()}
    model = LSTM.from_params(params, variant={"num_layers": 2, "direction": "bidirectional"})
    assert model.dtype == dtype and all(v.dtype == dtype for v in model.params.values())
    X = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((4, B, H)).astype(dtype)
    lengths = np.array([6, 3, 1, 0, 5], dtype=np.int32)
    y, (h_n, c_n) = model.forward_sequence(X, h0, None, return_state=True, lengths=lengths)
    assert y.dtype == h_n.dtype == c_n.dtype == dtype
    y_ref, h_ref, _ = ref_lstm(params, X, h0, np.zeros((4, B, H)), num_layers=2,
                               direction="bidirectional", lengths=lengths)
    tol = {np.float16: 1e-2, np.float32: 2e-6, np.float64: 1e-13}[dtype]
    close(y, y_ref, rtol=tol, atol=tol)
    close(h_n, h_ref, rtol=tol, atol=tol)
    fresh = LSTM(I, H, num_layers=3, bidirectional=True, dtype=dtype, seed=0)
    assert all(v.dtype == dtype for v in fresh.params.values())
    assert fresh.forward_sequence(X, lengths=lengths).dtype == dtype


def test_no_warnings_at_extreme_finite_inputs(rng):
    params = random_params(rng, I, H, 2, "bidirectional", scale=1e4)
    model = LSTM.from_params(params, variant={"num_layers": 2, "direction": "bidirectional"})
    X = 1e30 * rng.standard_normal((T, B, I))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y, (h_n, c_n) = model.forward_sequence(X, return_state=True, lengths=[6, 3, 1, 0, 5])
    assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1) and np.all(np.isfinite(c_n))


# --------------------------------------------------------------------------- hypothesis
@given(seed=st.integers(0, 2**32 - 1), num_layers=st.integers(1, 3),
       direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       t_len=st.integers(0, 7), batch=st.integers(1, 4), data=st.data())
def test_property_matches_the_reference(seed, num_layers, direction, t_len, batch, data):
    rng = np.random.default_rng(seed)
    i_sz, h_sz = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    lengths = data.draw(st.none() | st.lists(st.integers(0, t_len), min_size=batch, max_size=batch))
    C = num_layers * n_dirs(direction)
    params = random_params(rng, i_sz, h_sz, num_layers, direction, scale=2.0)
    X = rng.standard_normal((t_len, batch, i_sz))
    h0, c0 = rng.standard_normal((C, batch, h_sz)), 2 * rng.standard_normal((C, batch, h_sz))
    model = LSTM.from_params(params, variant=variant_of(num_layers, direction))
    shape = (batch, h_sz) if C == 1 else (C, batch, h_sz)
    y, (h_n, c_n) = model.forward_sequence(X, h0.reshape(shape), c0.reshape(shape),
                                           return_state=True, lengths=lengths)
    y_ref, h_ref, c_ref = ref_lstm(params, X, h0, c0, num_layers=num_layers, direction=direction,
                                   lengths=lengths)
    close(y, y_ref, rtol=1e-11, atol=1e-13)
    close(h_n.reshape(C, batch, h_sz), h_ref, rtol=1e-11, atol=1e-13)
    close(c_n.reshape(C, batch, h_sz), c_ref, rtol=1e-11, atol=1e-13)


@given(seed=st.integers(0, 2**32 - 1), direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       row=st.integers(0, 4))
def test_property_a_row_with_its_length_equals_the_row_alone(seed, direction, row):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, T + 1, B)
    params = random_params(rng, I, H, 2, direction)
    model = LSTM.from_params(params, variant=variant_of(2, direction))
    C = 2 * n_dirs(direction)
    X = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((C, B, H)), rng.standard_normal((C, B, H))
    y, (h_n, c_n) = model.forward_sequence(X, h0, c0, return_state=True, lengths=lengths)
    n = int(lengths[row])
    y1, (h1, c1) = model.forward_sequence(X[:n, row], h0[:, row], c0[:, row], return_state=True)
    close(y[:n, row], y1)
    close(h_n[:, row], h1)
    close(c_n[:, row], c1)


# --------------------------------------------------------------------------- parameters
def test_constructor_names_and_shapes():
    model = LSTM(I, H, num_layers=3, bidirectional=True, seed=0)
    p = model.params
    expected = {}
    for layer in range(3):
        for d in range(2):
            for name in NAMES:
                in_size = I if layer == 0 else 2 * H
                shape = {"W": (H, in_size), "U": (H, H), "b": (H,)}[name[0]]
                expected[name + suffix(layer, d, True)] = shape
    assert {k: v.shape for k, v in p.items()} == expected
    assert p["W_i_l1_reverse"].shape == (H, 2 * H) and p["U_f_l1_reverse"].shape == (H, H)
    assert list(p)[:12] == list(PARAM_NAMES) and list(p)[12:24] == [k + "_reverse" for k in PARAM_NAMES]
    # reverse-only: plain names; stacked forward: _l{k}, W (H, H) above layer 0
    assert set(LSTM(I, H, variant={"direction": "reverse"}, seed=0).params) == set(NAMES)
    stacked = LSTM(I, H, num_layers=2, seed=0).params
    assert set(stacked) == set(NAMES) | {k + "_l1" for k in NAMES}
    assert stacked["W_g_l1"].shape == (H, H)
    # layer 0's forward cell is the one-layer model's for the same seed; other cells differ
    base = LSTM(I, H, seed=0).params
    for k in NAMES:
        np.testing.assert_array_equal(p[k], base[k])
    assert not np.array_equal(p["U_i_reverse"], p["U_i"])
    assert not np.array_equal(p["U_i_l1"], p["U_i"])
    assert np.all(LSTM(I, H, num_layers=2, forget_bias=1.0, seed=0).params["b_f_l1"] == 1.0)


def test_defaults_written_as_keywords_are_the_base_lstm():
    a = LSTM(I, H, num_layers=1, bidirectional=False, batch_first=False, seed=5)
    b = LSTM(I, H, seed=5)
    assert a.variant == {} and a.num_layers == 1 and not a.bidirectional
    assert repr(a) == repr(b) == f"LSTM(input_size={I}, hidden_size={H}, dtype=float64)"
    for k in NAMES:
        np.testing.assert_array_equal(a.params[k], b.params[k])


@pytest.mark.parametrize("variant", [
    {"direction": "reverse"}, {"direction": "bidirectional"}, {"num_layers": 2},
    {"num_layers": 3, "direction": "bidirectional"}, {"num_layers": 2, "direction": "reverse"},
    {"num_layers": 2, "lengths": "zero_fill", "empty_rows": "zeros"},
])
def test_from_params_round_trip(rng, variant):
    model = LSTM(I, H, variant=variant, seed=1)
    assert model.variant == variant  # canonical: equal variants are equal dicts
    again = LSTM.from_params(model.params, variant=model.variant)
    assert again.variant == variant and repr(again) == repr(model)
    for k, v in model.params.items():
        np.testing.assert_array_equal(again.params[k], v)
    X = rng.standard_normal((T, B, I))
    np.testing.assert_array_equal(again.forward_sequence(X, lengths=[6, 1, 0, 3, 2]),
                                  model.forward_sequence(X, lengths=[6, 1, 0, 3, 2]))
    as32 = LSTM.from_params(model.params, variant=variant, dtype=np.float32)
    assert as32.dtype == np.float32 and as32.forward_sequence(X).dtype == np.float32


def test_keywords_and_variant_agree():
    a = LSTM(I, H, num_layers=2, bidirectional=True, seed=0)
    b = LSTM(I, H, variant={"direction": "bidirectional", "num_layers": 2}, seed=0)
    c = LSTM(I, H, num_layers=2, variant={"num_layers": 2, "direction": "bidirectional"}, seed=0)
    assert a.variant == b.variant == c.variant == {"num_layers": 2, "direction": "bidirectional"}
    assert list(a.variant) == list(b.variant)  # canonical key order too
    assert a.num_layers == 2 and a.bidirectional
    for k, v in a.params.items():
        np.testing.assert_array_equal(b.params[k], v)
    assert "variant={'direction': 'bidirectional', 'num_layers': 2}" in repr(a)


def test_variant_is_a_copy():
    model = LSTM(I, H, num_layers=2, seed=0)
    v = model.variant
    v["num_layers"] = 5
    assert model.variant == {"num_layers": 2}
    given_variant = {"num_layers": 2}
    model = LSTM.from_params(model.params, variant=given_variant)
    given_variant["direction"] = "reverse"
    assert model.variant == {"num_layers": 2}


# --------------------------------------------------------------------------- one step
def test_forward_step_of_a_reverse_model_retraces_the_sequence(rng):
    model = LSTM.from_params(random_params(rng, I, H), variant={"direction": "reverse"})
    X = rng.standard_normal((T, B, I))
    y, (h_n, c_n) = model.forward_sequence(X, return_state=True)
    h = c = None
    for t in range(T - 1, -1, -1):
        h, c = model.forward(X[t], h, c)
        close(h, y[t])
    close(h, h_n)
    close(c, c_n)


@pytest.mark.parametrize("kw", [{"num_layers": 2}, {"bidirectional": True}])
def test_forward_step_of_a_stacked_or_bidirectional_model_is_refused(kw):
    model = LSTM(I, H, seed=0, **kw)
    assert_error(ValueError, lambda: model.forward(np.zeros((B, I))), "forward() is one step of one LSTM cell",
                 "use forward_sequence")


# --------------------------------------------------------------------------- bad input
def _model(**kw):
    return LSTM(I, H, seed=0, **kw)


X0 = np.zeros((T, B, I))

BAD_LENGTHS = [
    ([6, 3, -1, 0, 2], ["lengths[2]=-1", "should be in [0, T] = [0, 6]", "T=6 from X.shape[0]"]),
    ([6, 3, 7, 0, 2], ["lengths[2]=7", "should be in [0, T] = [0, 6]"]),
    (np.array([6, 3, 1, 0, 2, 1]), ["lengths.shape=(6,)", "should be (B,) = (5,)", "B=5 from X.shape[1]"]),
    ([6, 3], ["lengths.shape=(2,)", "(B,) = (5,)"]),
    (np.ones((5, 1), dtype=np.int64), ["lengths.shape=(5, 1)", "(B,) = (5,)"]),
    (3, ["lengths.shape=()", "(B,) = (5,)"]),
    (np.array([6.0, 3, 1, 0, 2]), ["lengths.dtype=float64", "should be an integer dtype"]),
    ([6.0, 3.0, 1.0, 0.0, 2.0], ["lengths.dtype=float64", "integer dtype"]),
    (np.ones(5, dtype=bool), ["lengths.dtype=bool", "integer dtype"]),
    ([True, 3, 1, 0, 2], ["lengths holds bool(s) [True]", "integers"]),
    (["6", "3", "1", "0", "2"], ["lengths.dtype=<U1", "integer dtype"]),
    ([[6, 3], [1]], ["lengths is not a rectangular array", "(B,) integers"]),
    (np.array([6, 3, 1, 0, 2], dtype=np.float32), ["lengths.dtype=float32"]),
]


@pytest.mark.parametrize("lengths,fragments", BAD_LENGTHS)
@pytest.mark.parametrize("kw", [{}, {"bidirectional": True, "num_layers": 2}])
def test_bad_lengths(lengths, fragments, kw):
    assert_error(ValueError, lambda: _model(**kw).forward_sequence(X0, lengths=lengths), *fragments)


def test_bad_lengths_with_batch_first_and_unbatched():
    model = _model(batch_first=True)
    assert_error(ValueError, lambda: model.forward_sequence(np.zeros((B, T, I)), lengths=[7] * B),
                 "lengths[0]=7", "[0, 6]", "T=6 from X.shape[1]")
    assert_error(ValueError, lambda: model.forward_sequence(np.zeros((B, T, I)), lengths=[1] * T),
                 "lengths.shape=(6,)", "(B,) = (5,)", "B=5 from X.shape[0]")
    assert_error(ValueError, lambda: _model().forward_sequence(np.zeros((T, I)), lengths=3),
                 "lengths.shape=()", "(B,) = (1,)", "unbatched")


def test_good_lengths_forms_agree(rng):
    model = LSTM.from_params(random_params(rng, I, H, 1, "bidirectional"), variant={"direction": "bidirectional"})
    X = rng.standard_normal((T, B, I))
    want = model.forward_sequence(X, lengths=[6, 3, 1, 0, 2])
    for lengths in ([6, 3, 1, 0, 2], (6, 3, 1, 0, 2), np.array([6, 3, 1, 0, 2], np.int32),
                    np.array([6, 3, 1, 0, 2], np.int64), np.array([6, 3, 1, 0, 2], np.uint8),
                    [np.int64(6), 3, 1, 0, 2]):
        np.testing.assert_array_equal(model.forward_sequence(X, lengths=lengths), want)
    y = model.forward_sequence(np.zeros((T, 0, I)), lengths=[])
    assert y.shape == (T, 0, 2 * H)
    X_saved, lengths = X.copy(), np.array([6, 3, 1, 0, 2])
    model.forward_sequence(X, lengths=lengths)
    np.testing.assert_array_equal(X, X_saved)  # inputs are not modified
    np.testing.assert_array_equal(lengths, [6, 3, 1, 0, 2])


BAD_VARIANTS = [
    ({"direction": "forward"}, ValueError, ["variant['direction']='forward' is the default",
                                            "leave 'direction' out"]),
    ({"num_layers": 1}, ValueError, ["variant['num_layers']=1 is the default", "leave 'num_layers' out"]),
    ({"num_layers": 0}, ValueError, ["variant['num_layers']=0", "an int >= 2"]),
    ({"num_layers": -2}, ValueError, ["variant['num_layers']=-2", "an int >= 2"]),
    ({"num_layers": 2.0}, TypeError, ["variant['num_layers']=2.0 (float)", "an int >= 2"]),
    ({"num_layers": True}, TypeError, ["variant['num_layers']=True (bool)", "an int >= 2"]),
    ({"num_layers": "2"}, TypeError, ["variant['num_layers']='2' (str)"]),
    ({"direction": "backward"}, ValueError, ["variant['direction']='backward'",
                                             "should be 'reverse' or 'bidirectional'"]),
    ({"direction": None}, ValueError, ["variant['direction']=None"]),
    ({"lengths": "keep_state"}, ValueError, ["variant['lengths']='keep_state'", "should be 'zero_fill'",
                                             "only padding convention lstm_impl implements"]),
    ({"lengths": True}, ValueError, ["variant['lengths']=True", "'zero_fill'"]),
    ({"empty_rows": "initial"}, ValueError, ["variant['empty_rows']='initial'", "should be 'zeros'",
                                             "leave 'empty_rows' out"]),
    ({"peepholes": True}, ValueError, ["unknown key(s) 'peepholes'", "'direction', 'num_layers'"]),
    ({"direction": "reverse", "dropout": 0.1, "proj_size": 2}, ValueError,
     ["unknown key(s) 'dropout'"]),
    ([("direction", "reverse")], TypeError, ["variant is a list", "mapping"]),
    ("reverse", TypeError, ["variant is a str", "mapping"]),
]


@pytest.mark.parametrize("variant,exc,fragments", BAD_VARIANTS)
def test_bad_variants(variant, exc, fragments):
    assert_error(exc, lambda: LSTM(I, H, variant=variant), *fragments)
    params = LSTM(I, H, seed=0).params
    assert_error(exc, lambda: LSTM.from_params(params, variant=variant), *fragments)


BAD_STRUCTURE_ARGS = [
    (lambda: LSTM(I, H, num_layers=0), ValueError, ["num_layers=0", "positive int"]),
    (lambda: LSTM(I, H, num_layers=2.0), TypeError, ["num_layers=2.0", "positive int"]),
    (lambda: LSTM(I, H, bidirectional=1), TypeError, ["bidirectional=1 (int)", "bool"]),
    (lambda: LSTM(I, H, batch_first="yes"), TypeError, ["batch_first='yes' (str)", "bool"]),
    (lambda: LSTM.from_params(LSTM(I, H, seed=0).params, batch_first=None), TypeError,
     ["batch_first=None", "bool"]),
    (lambda: LSTM(I, H, num_layers=2, variant={"num_layers": 3}), ValueError,
     ["num_layers=2 and variant['num_layers']=3", "should agree"]),
    (lambda: LSTM(I, H, bidirectional=True, variant={"direction": "reverse"}), ValueError,
     ["bidirectional=True and variant['direction']='reverse'", "should agree"]),
]


@pytest.mark.parametrize("call,exc,fragments", BAD_STRUCTURE_ARGS)
def test_bad_structure_arguments(call, exc, fragments):
    assert_error(exc, call, *fragments)


def test_bad_stacked_params():
    good = LSTM(I, H, num_layers=2, bidirectional=True, seed=0).params
    var = {"num_layers": 2, "direction": "bidirectional"}
    bad = dict(good, W_i_l1_reverse=np.zeros((H, H)))
    assert_error(ValueError, lambda: LSTM.from_params(bad, variant=var),
                 f"params['W_i_l1_reverse'].shape=({H}, {H}), but should be (H, D*H) = ({H}, {2 * H}) [D=2]",
                 f"H={H}, I={I}")
    bad = dict(good, U_o_reverse=np.zeros((H, I)))
    assert_error(ValueError, lambda: LSTM.from_params(bad, variant=var),
                 f"params['U_o_reverse'].shape=({H}, {I}), but should be (H, H) = ({H}, {H})")
    bad = dict(good, W_g_reverse=np.zeros((H, 2 * H)))
    assert_error(ValueError, lambda: LSTM.from_params(bad, variant=var),
                 "params['W_g_reverse'].shape", f"(H, I) = ({H}, {I})")
    missing = {k: v for k, v in good.items() if k != "b_o_l1"}
    assert_error(ValueError, lambda: LSTM.from_params(missing, variant=var), "missing ['b_o_l1']")
    # a stacked dict read as the base LSTM: the unknown names and a hint
    assert_error(ValueError, lambda: LSTM.from_params(good), "unknown ['U_f_l1', ", "pass its variant")
    # a base dict read as a stacked LSTM
    assert_error(ValueError, lambda: LSTM.from_params(LSTM(I, H, seed=0).params, variant={"num_layers": 2}),
                 "missing ['W_i_l1', ")
    bad = dict(good, b_g_l1=np.array([0.0, np.nan, 0.0, 0.0]))
    assert_error(ValueError, lambda: LSTM.from_params(bad, variant=var), "params['b_g_l1']", "non-finite")
    bad = dict(good, U_i_l1=np.zeros((H, H), dtype=np.int64))
    assert_error(TypeError, lambda: LSTM.from_params(bad, variant=var), "params['U_i_l1'].dtype=int64")


BAD_STATES = [
    (np.zeros((B, H)), ["h0.shape=(5, 4)", "(L*D, B, H)", "L=2, D=2", "B=5 from X.shape[1]", "(4, 5, 4)"]),
    (np.zeros((2, B, H)), ["h0.shape=(2, 5, 4)", "(4, 5, 4)"]),
    (np.zeros((4, B, H), dtype=np.int32), ["h0.dtype=int32", "floating"]),
]


@pytest.mark.parametrize("h0,fragments", BAD_STATES)
def test_bad_stacked_states(h0, fragments):
    exc = TypeError if h0.dtype.kind == "i" else ValueError
    assert_error(exc, lambda: _model(num_layers=2, bidirectional=True).forward_sequence(X0, h0), *fragments)
    assert_error(ValueError, lambda: _model(num_layers=2).forward_sequence(X0, None, np.zeros((B, H))),
                 "c0.shape=(5, 4)", "(L*D, B, H)", "(2, 5, 4)")
    # one cell: (B, H), not (1, B, H)
    assert_error(ValueError, lambda: _model(variant={"direction": "reverse"}).forward_sequence(
        X0, np.zeros((1, B, H))), "h0.shape=(1, 5, 4)", "(B, H)", "(5, 4)")


def test_package_docstring_examples_run():
    import doctest

    import lstm_impl
    result = doctest.testmod(lstm_impl, verbose=False)
    assert result.attempted >= 8 and result.failed == 0
