"""lstm_impl, this project's NumPy LSTM, as an adapter."""
from __future__ import annotations


class NumpyLSTMAdapter:
    """lstm_impl, this project's NumPy LSTM."""

    name = "numpy (lstm_impl)"

    def supports(self, variant: dict) -> bool:
        return not variant

    def forward(self, x, h0, c0, params, variant):
        from lstm_impl import LSTM

        model = LSTM.from_params(params, dtype=x.dtype)
        y, (h_n, c_n) = model.forward_sequence(x, h0, c0, return_state=True)
        return y, h_n, c_n
