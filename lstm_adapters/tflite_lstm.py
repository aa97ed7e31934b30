"""TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM on the LiteRT interpreter (`ai_edge_litert`), one operator per
case, built in memory by lstm_adapters/tflite_model.py (its docstring records what was measured).

What TFLite runs of the spec (ai_edge_litert 2.3.0), against the goldens:
- the base LSTM and the cell features it encodes: peephole, coupling "cifg" (i = 1 - f; no input-gate
  tensors), clip "cell_state" (its cell_clip), layer_norm, proj_size with proj_bias and proj_clip, in any
  combination (tflite-full-T6-B2-I3-H5-P3 has them all). The states are the operator's variable
  tensors: h0 and c0 are set through them and h_n, c_n read back, so all three outputs are judged.
- float32 only: a float64 model fails to prepare, "input_gate_bias->type != kTfLiteFloat32 (FLOAT64 !=
  FLOAT32)" (unidirectional_sequence_lstm.cc), and every float64 case is skipped with those words.
- one layer, forward only, no lengths, sigmoid gates and tanh: a reverse or bidirectional LSTM is a
  different operator (BIDIRECTIONAL_SEQUENCE_LSTM), stacked layers are a chain of operators, and the
  activation of g and h is a fused-activation enum that the spec's activations feature does not map;
  input_forget coupling and the other clip conventions are not TFLite's.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .base import FrameworkAdapter

INSTALL = "pip install ai-edge-litert"


class TFLiteLSTMAdapter(FrameworkAdapter):
    """A one-operator UNIDIRECTIONAL_SEQUENCE_LSTM model on the LiteRT interpreter (float32)."""

    name = "TFLite UNIDIRECTIONAL_SEQUENCE_LSTM"
    framework = "ai_edge_litert"
    install = INSTALL

    def _import(self) -> None:
        from importlib.metadata import version

        import ai_edge_litert.interpreter  # the missing-framework skip starts here

        from . import tflite_model

        del ai_edge_litert

        self.model = tflite_model
        self.name = f"TFLite UNIDIRECTIONAL_SEQUENCE_LSTM (ai_edge_litert {version('ai-edge-litert')})"

    def supports(self, variant: dict) -> bool:
        if self.missing:
            return True  # skip_reason skips every case, saying how to install the framework
        try:
            self.model.features_of(variant)
        except ValueError:
            return False
        return True

    def run(self, x, h0, c0, params):
        out = self.model.run_tflite_lstm(x, h0, c0, dict(params), {})
        return out["y"], out["h_n"], out["c_n"]

    def run_variant(self, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                    variant: dict) -> dict[str, Any]:
        return self.model.run_tflite_lstm(inputs["x"], inputs["h0"], inputs["c0"], dict(params), variant)
