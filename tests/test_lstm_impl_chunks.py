"""The step operands are filled in chunks of steps (kernel.StepInputs): results do not depend on the chunking.
(That the working memory does not grow with T is tests/test_benchmark.py's memory test.)"""
from __future__ import annotations


import numpy as np
import pytest

from lstm_impl import LSTM
from lstm_impl import kernel

VARIANTS = [
    None,
    {"direction": "bidirectional", "num_layers": 2},
    {"peephole": True, "layer_norm": True, "clip": {"convention": "activation_inputs", "threshold": 0.7}},
    {"peephole": True, "coupling": "cifg", "proj_size": 3, "proj_bias": True, "proj_clip": 0.5},
    {"coupling": "input_forget", "clip": {"convention": "cell_state", "threshold": 0.5}, "layer_norm": True},
]


def test_chunk_steps_are_bounded():
    assert [kernel.chunk_steps(b) for b in (1, 16, 32, 64, 128, 10_000)] == [64, 32, 16, 8, 8, 8]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "+".join(v or {"base": 1}))
def test_results_do_not_depend_on_the_chunking(monkeypatch, variant, dtype):
    rng = np.random.default_rng(5)
    T, B, I, H = 21, 3, 4, 6
    model = LSTM(I, H, variant=variant, seed=1, dtype=dtype, forget_bias=1.0)
    X = rng.standard_normal((T, B, I)).astype(dtype)
    lengths = [21, 9, 0]
    want = [model.forward_sequence(X, return_state=True), model.forward_sequence(X, lengths=lengths)]
    # one chunk of all steps (the former design) against chunks of 8, 8 and 5 steps
    monkeypatch.setattr(kernel, "CHUNK_STEPS_MIN", 1)
    for steps in (T, 8, 1):
        monkeypatch.setattr(kernel, "CHUNK_COLUMNS", steps * B)
        monkeypatch.setattr(kernel, "CHUNK_STEPS_MAX", steps)
        assert kernel.chunk_steps(B) == steps
        y, (h_n, c_n) = model.forward_sequence(X, return_state=True)
        y_len = model.forward_sequence(X, lengths=lengths)
        tol = {np.float32: 1e-6, np.float64: 1e-14}[dtype]
        for got, ref in ((y, want[0][0]), (h_n, want[0][1][0]), (c_n, want[0][1][1]), (y_len, want[1])):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
