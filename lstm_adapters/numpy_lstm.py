"""lstm_impl, this project's NumPy LSTM, as an adapter."""
from __future__ import annotations

from typing import Any


class NumpyLSTMAdapter:
    """lstm_impl, this project's NumPy LSTM: every sequence structure of the spec (direction, layers,
    per-row lengths, both empty-row rules)."""

    name = "numpy (lstm_impl)"

    def supports(self, variant: dict) -> bool:
        from lstm_impl import VARIANT_KEYS

        return set(variant) <= set(VARIANT_KEYS)

    def compute(self, inputs: dict[str, Any], params: dict[str, Any], variant: dict) -> dict[str, Any]:
        from lstm_impl import LSTM

        x = inputs["x"]
        model = LSTM.from_params(params, variant=variant or None, dtype=x.dtype)
        y, (h_n, c_n) = model.forward_sequence(x, inputs["h0"], inputs["c0"], return_state=True,
                                               lengths=inputs.get("seq_lengths"))
        return {"y": y, "h_n": h_n, "c_n": c_n}
