"""ONNX's LSTM operator evaluated by onnx.reference.ReferenceEvaluator (the operator's official Python
implementation, onnx/reference/ops/op_lstm.py), in the same models as the onnxruntime adapter
(lstm_adapters/onnx_model.py). A real peer: it computes in the input's dtype, so it runs float64 too.

Its behaviour depends on the onnx version, and an attribute or input it ignores must not pass
silently: supports() refuses every feature DEPARTURES lists for the installed version, and every
feature other than the base LSTM on a version nobody has pinned yet.
"""
from __future__ import annotations

import numpy as np

from .onnx_model import OPSET, OnnxLSTM, OnnxOperatorAdapter

# onnx version -> {feature: why its reference LSTM cannot run it}. A version is listed only once its
# behaviour was pinned by running the goldens through it (python -m pytest tests/test_adapter_onnx.py);
# on a version not listed, only the base LSTM runs. Every feature of the model builder's ENCODED
# that is not listed for a version passed every golden at float64 and float32.
DEPARTURES: dict[str, dict[str, str]] = {
    # onnx 1.23.2 (pinned 2026, numpy float64 and float32):
    # - direction forward / reverse / bidirectional and chained layers follow the spec: every such golden
    #   passes, largest float64 error 2.8e-14 (c_n of cell-T64-B2-I3-H4-growth), float32 4.3e-5 (the same).
    # - sequence_lens is accepted and ignored (op_lstm.py: `sequence_lens=None,  # noqa: ARG002`): in
    #   len-T6-B4-I3-H5 (lengths [6, 3, 1, 5]) Y, Y_h and Y_c with sequence_lens equal, bit for bit, those
    #   of the same model without it; row 1 (length 3) ends at h_n[1, 0] = -9.7e-18 where the golden has
    #   -0.2278, row 3 (length 5) at 0.7053 instead of -0.0509: it runs through the padding. Every golden
    #   with lengths fails (y off by up to 0.996, c_n by up to 4.0), so lengths (and empty_rows, which
    #   needs lengths) are refused.
    # - layout = 1 (batch-first: the onnx-reference-batch-first adapter) runs: Y comes back [B, T, D, H],
    #   Y_h and Y_c [B, D, H]; every golden it runs passes as with layout = 0.
    "1.23.2": {
        "lengths": "onnx 1.23.2's reference LSTM ignores sequence_lens (it runs every row through the padding)",
        "coupling": "onnx 1.23.2's reference LSTM ignores input_forget (op_lstm.py: `input_forget=None,  # noqa: "
                    "ARG002`): it computes an uncoupled forget gate",
        "clip": "onnx 1.23.2's reference LSTM ignores clip (op_lstm.py: `clip=None,  # noqa: ARG002`): it clips "
                "nothing",
        # measured: every activations golden fails at float64, y off by 0.067 (act-hardsig-T6-B3-I3-H4) to 11.0
        # (act-keras-T6-B3-I3-H4, whose Relu cell grows where the evaluator's tanh does not)
        "activations": "onnx 1.23.2's reference LSTM ignores activations, activation_alpha and activation_beta "
                       "(op_lstm.py: `activations=None,  # noqa: ARG002`): it computes sigmoid, tanh, tanh",
    },
    # Not pinned (source only, not run here): onnx/onnx main at 0a983feb masks by sequence_lens (a masked
    # step keeps the state and outputs 0; the reverse run flips the mask, so it starts at len_b - 1) and a
    # row of length 0 keeps initial_h / initial_c: the canonical empty_rows, no conventions to declare.
    # Older versions (per the semantics notes) also ignore direction and refuse bidirectional.
}


class OnnxReferenceLSTMAdapter(OnnxOperatorAdapter):
    """ONNX's LSTM operator (default activations) on onnx.reference.ReferenceEvaluator."""

    name = "onnx reference LSTM"
    framework = "onnx"
    install = "pip install onnx"

    def _import(self) -> None:
        import onnx
        from onnx.reference import ReferenceEvaluator

        self.onnx, self.evaluator = onnx, ReferenceEvaluator
        self.version = onnx.__version__
        self.name = f"onnx {onnx.__version__} reference evaluator LSTM (ONNX opset {OPSET})"

    def refused(self, variant: dict) -> str | None:
        if not variant:
            return None  # the base LSTM: every version's reference runs it
        if self.version not in DEPARTURES:
            return (f"onnx {self.version}'s reference LSTM is not pinned (DEPARTURES in "
                    f"lstm_adapters/onnx_reference_lstm.py): only the base LSTM runs")
        for feature in variant:
            if feature in DEPARTURES[self.version]:
                return DEPARTURES[self.version][feature]
        return None

    def evaluate(self, built: OnnxLSTM):
        # its sigmoid is 1 / (1 + exp(-z)): exp overflows to inf for z below about -709 (-88 in float32)
        # and the sigmoid is then exactly 0, the right answer; the overflow warning is not an error here
        with np.errstate(over="ignore"):
            return self.evaluator(built.model).run(["y", "h_n", "c_n"], built.feeds)


class OnnxReferenceBatchFirstLSTMAdapter(OnnxReferenceLSTMAdapter):
    """The same models with layout=1 (x [B, T, I], Y [B, T, D, H], initial and final states [B, D, H])."""

    layout = 1

    def _import(self) -> None:
        super()._import()
        self.name = f"{self.name}, layout=1"
    conventions = {"layout": "batch_first"}
