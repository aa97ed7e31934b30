"""A one-node ONNX LSTM model (onnx.helper), run by ONNX Runtime, loaded through the spec's `onnx` packing."""
from __future__ import annotations

import numpy as np

from .base import FrameworkAdapter

OPSET = 14  # LSTM-14 (adds `layout`); the default attributes are the standard LSTM
IR_VERSION = 8


class OnnxRuntimeLSTMAdapter(FrameworkAdapter):
    """ONNX's LSTM operator (forward direction, default activations) on ONNX Runtime's CPU provider."""

    name = "onnxruntime LSTM"
    framework = "onnxruntime"
    install = "pip install onnx onnxruntime"

    def _import(self) -> None:
        import onnx
        import onnxruntime

        self.onnx, self.ort = onnx, onnxruntime
        self.name = f"onnxruntime {onnxruntime.__version__} LSTM (ONNX opset {OPSET})"

    def _probe_error(self, dtype: str) -> str | None:
        error = super()._probe_error(dtype)
        # ONNX Runtime's message is a long status line; its own words sit after "Status Message:"
        return error if error is None or "Status Message:" not in error else error.split("Status Message:", 1)[1].strip()

    def model(self, dims: tuple[int, int, int, int], dtype: np.dtype, tensors: dict[str, np.ndarray]):
        """The ONNX model: inputs X, initial_h, initial_c; W, R, B as initializers."""
        from onnx import helper, numpy_helper

        t_len, b, i_sz, h_sz = dims
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        node = helper.make_node("LSTM", ["X", "W", "R", "B", "", "initial_h", "initial_c"], ["Y", "Y_h", "Y_c"],
                                hidden_size=h_sz, direction="forward")
        graph = helper.make_graph(
            [node], "lstm",
            inputs=[helper.make_tensor_value_info("X", elem, [t_len, b, i_sz]),
                    helper.make_tensor_value_info("initial_h", elem, [1, b, h_sz]),
                    helper.make_tensor_value_info("initial_c", elem, [1, b, h_sz])],
            outputs=[helper.make_tensor_value_info("Y", elem, [t_len, 1, b, h_sz]),
                     helper.make_tensor_value_info("Y_h", elem, [1, b, h_sz]),
                     helper.make_tensor_value_info("Y_c", elem, [1, b, h_sz])],
            initializer=[numpy_helper.from_array(np.ascontiguousarray(a), name) for name, a in tensors.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        self.onnx.checker.check_model(model)
        return model

    def run(self, x, h0, c0, params):
        t_len, b, i_sz = x.shape
        h_sz = h0.shape[1]
        model = self.model((t_len, b, i_sz, h_sz), x.dtype, self.tensors("onnx", params))
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 4  # a failure is raised to the harness; do not also log it
        session = self.ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        y, h_n, c_n = session.run(["Y", "Y_h", "Y_c"], {"X": x, "initial_h": h0[None], "initial_c": c0[None]})
        return y[:, 0], h_n[0], c_n[0]  # (T, 1, B, H) -> (T, B, H); (1, B, H) -> (B, H)
