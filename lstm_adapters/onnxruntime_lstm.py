"""ONNX's LSTM operator on ONNX Runtime's CPU provider, in the models lstm_adapters/onnx_model.py writes
(one LSTM node per layer, weights through the spec's `onnx` packing).

What ONNX Runtime does, pinned by experiment against the goldens (onnxruntime 1.32.0, onnx 1.23.2):
- direction forward, reverse, bidirectional, a chain of 2 or 3 LSTM nodes, and sequence_lens all
  follow the spec: at float32 the largest error on any golden it runs is 3.8e-5 (c_n of
  cell-T64-B2-I3-H4-growth, |c| about 65; allowed 6.6e-4), 1.5e-6 elsewhere (y of
  sat-T5-B3-I4-H3-input900); y is exactly 0 past a row's length, and the reverse run starts at
  len_b - 1.
- A row of length 0 returns Y_h = Y_c = 0, not initial_h / initial_c: in len0-T4-B3-I2-H3 (lengths
  [4, 0, 2]) row 1 gives h_n = [0, 0, 0] where h0 (and the canonical golden) is
  [0.026819, -0.515061, -0.898118] (|error| up to 0.898 in h_n, 1.65 in c_n); in
  bidir-len0-T4-B3-I2-H3 both directions' states of the empty row are 0. Declared as
  conventions = {"empty_rows": "zeros"}: the zeros goldens pass to 3.5e-8 (len0-zeros-T4-B3-I2-H3).
- float64: refused at run time, "LSTM operator does not support double yet" (skipped, its words).
- layout = 1 (batch-first; the `onnxruntime-batch-first` adapter, conventions = {"layout":
  "batch_first"}): refused when the session is built, "layout_ == 0 was false. Batchwise recurrent
  operations (layout == 1) are not supported. If you need support create a github issue with
  justification." (lstm_base.h:53): every case is skipped with those words.
- activations (with activation_alpha / activation_beta), per direction in a bidirectional node: every
  activations golden passes at float32 (act-*, bidir-act-*). ONNX Runtime reads activation_alpha left to
  right, one entry per function that takes an alpha (LeakyRelu, ThresholdedRelu, Elu, Affine, ScaledTanh,
  HardSigmoid), activation_beta likewise (Affine, ScaledTanh, HardSigmoid), across the 3 or 6 functions: the
  model builder writes that form (onnx_model.activation_lists). A list with one entry per function (0 for
  Sigmoid) shifts every later value. Omitted values: LeakyRelu 0.01, Elu 1.0, HardSigmoid (0.2, 0.5), as the
  operator text; ThresholdedRelu 0, where the ONNX operator ThresholdedRelu defaults to 1.0; Affine and
  ScaledTanh 0 (the LSTM text gives none). Names are case-insensitive. Pinned in tests/test_adapter_onnx.py.
- sequence_lens past T is refused: "Invalid value/s in sequence_lens. All values must be >= 0 and
  <= seq_length. seq_length=6".
"""
from __future__ import annotations

import re

from .onnx_model import OPSET, OnnxLSTM, OnnxOperatorAdapter


# ONNX's clip, run by ONNX Runtime: measured, see the module docstring.
CLIP_DEVIATION = ("deviation: ONNX Runtime clips only the gate pre-activations (clip=gate_preactivations), not the "
                  "input of h's activation as the ONNX operator text says (activation_inputs; "
                  "microsoft/onnxruntime#27224); not judged under activation_inputs")


class OnnxRuntimeLSTMAdapter(OnnxOperatorAdapter):
    """ONNX's LSTM operator on ONNX Runtime's CPU provider: every direction, stacked layers (a chain of LSTM
    nodes), per-row lengths (a row of length 0 returns zeros), peepholes, input_forget, clip and activations."""

    name = "onnxruntime LSTM"
    framework = "onnxruntime"
    install = "pip install onnx onnxruntime"
    conventions = {"empty_rows": "zeros"}  # measured: see the module docstring

    def refused(self, variant: dict) -> str | None:
        clip = variant.get("clip")
        if clip and clip["convention"] != "gate_preactivations":
            return CLIP_DEVIATION
        return None

    def _import(self) -> None:
        import onnx
        import onnxruntime

        self.onnx, self.ort = onnx, onnxruntime
        self.name = f"onnxruntime {onnxruntime.__version__} LSTM (ONNX opset {OPSET})"

    def _probe_error(self, dtype: str) -> str | None:
        error = super()._probe_error(dtype)
        # ONNX Runtime's message is a long status line; its own words sit after "Status Message:", or after
        # the C++ signature of the kernel that raised them (".../lstm_base.h:53 onnxruntime::LSTMBase::...) ")
        if error is None:
            return error
        if "Status Message:" in error:
            return error.split("Status Message:", 1)[1].strip()
        where = re.search(r"([\w.]+\.(?:h|cc):\d+) [\w:~]+\([^)]*\) (.+)", error)
        return f"{where.group(2)} ({where.group(1)})" if where else error

    def evaluate(self, built: OnnxLSTM):
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 4  # a failure is raised to the harness; do not also log it
        session = self.ort.InferenceSession(built.model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])
        return session.run(["y", "h_n", "c_n"], built.feeds)


class OnnxRuntimeBatchFirstLSTMAdapter(OnnxRuntimeLSTMAdapter):
    """The same models with layout=1 (x [B, T, I], Y [B, T, D, H]); ONNX Runtime refuses them."""

    layout = 1

    def _import(self) -> None:
        super()._import()
        self.name = f"{self.name}, layout=1"
    conventions = {"empty_rows": "zeros", "layout": "batch_first"}
