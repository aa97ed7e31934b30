"""A one-operator TFLite model (UNIDIRECTIONAL_SEQUENCE_LSTM, float32) built in memory and run with
the LiteRT interpreter (`ai_edge_litert`), for the spec's cell features that TFLite encodes.

The flatbuffer is written with the TFLite schema that ai_edge_litert ships
(`ai_edge_litert.schema_py_generated`, object API) and loaded with
`Interpreter(model_content=...)`: no file is written. One subgraph, one operator, 24 inputs in the
order of tensorflow/lite/kernels/lstm_shared.h (absent optional tensors are -1); weights, biases,
peepholes and layer-norm coefficients are constant tensors backed by model buffers (16-byte aligned,
as the schema's `force_align: 16` asks); x (T, B, I) is the subgraph's only input (time_major=true);
y (T, B, P) its only output. The states are the operator's VARIABLE inputs 18 (output_state, (B, P))
and 19 (cell_state, (B, H)): they are set with `set_tensor` before `invoke` and read back with
`get_tensor` after it. The fused activation is TANH (g and h's activation), as the default LSTM.

Measured with ai_edge_litert 2.3.0 (flatbuffers 25.12.19, numpy 2.4.6, x86-64, num_threads=1) against
a NumPy float64 LSTM: T=5, B=3, I=4, H=3, P=2, weights ~ U(-1, 1), x ~ 3 * U(-1, 1); max abs error over
y, h_n and c_n, with the error of the rejected alternative in parentheses:

- plain 2.1e-7; peephole 2.4e-7: i and f read c_{t-1}, o reads the new c_t (o reading c_{t-1}: 1.3e-1);
  cifg 1.3e-7: i = 1 - f; cifg + peephole 1.5e-7.
- cell_clip = 0.5 (binds: max |c_n| = 0.5; the unclipped LSTM is 3.4e-1 away): 9.1e-8 with
  c = clip(f * c_prev + i * g, -0.5, 0.5) after the update; the clipped c is what is stored, what
  h = o * tanh(c) reads and, with peepholes, what o's peephole reads: 1.1e-7 (o reading the unclipped
  c: 2.5e-2).
- projection: h = W_proj (o * tanh(c)) 1.5e-7; + b_proj 1.7e-7; proj_clip = 0.3 clips h after the
  bias: 1.7e-7 (clip before the bias: 5.2e-1; no clip: 1.1e0).
- layer norm, per gate and per row over the H units: z = W x + U h (+ the peephole term p * c, which
  is normalised with it) -> ln * (z - mean) / sqrt(var + 1e-8), the POPULATION variance and epsilon
  1e-8 inside the square root; the bias is added AFTER the coefficient multiply: a = ln * norm(z) + b.
  The cell state is not normalised before h. 7.6e-7, with peepholes 2.1e-7 (sample variance:
  1.5e-1; epsilon 1e-5: 2.6e-4; bias inside the normalisation: 4.3e-1; tanh(norm(c)) for h: 1.1e0;
  peephole term added after the normalisation: 3.2e-1). Epsilon, with gate g's z tiny (W_g = d * N(0, 1),
  U_g = 0, var(z) ~ d^2) for d = 1e-6, 1e-5, 1e-4, 1e-3: epsilon inside 5e-8 .. 1.4e-7, "epsilon only
  when the variance is 0" 7.1e-1, 6.1e-1, 2.0e-1, 2.4e-2.
- peephole + cifg + layer norm + projection with bias + proj_clip 0.3 + cell_clip 0.5: 6.1e-7 (o
  reading the unclipped c: 1.6e-2); the same with the BUILTIN, BUILTIN_REF and AUTO (XNNPACK, which
  takes no LSTM node) op resolvers.
- States: the variable tensors are zero after allocate_tensors, set_tensor sets them and get_tensor
  reads them after invoke (h_n, c_n above). A second invoke without setting them continues from the
  first one's final state (1.7e-7 from that; 5.5e-1 from a restart at h0, c0); reset_all_variables
  zeroes them. run_tflite_lstm builds a fresh interpreter and sets both before its one invoke.
- time_major=true reads x as (T, B, I) (T != B above). time_major=false over the same tensors fails
  to prepare: "NumElements(output_state) != static_cast<int64_t>(n_batch) * n_output (9 != 15)".

Refused here (ValueError naming the key): every variant key but peephole, coupling ("cifg" only),
clip ({"convention": "cell_state"} only), proj_size, proj_bias, proj_clip and layer_norm.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

SUPPORTED_KEYS = frozenset({"peephole", "coupling", "clip", "proj_size", "proj_bias", "proj_clip",
                            "layer_norm"})
N_INPUTS = 24
OUTPUT_STATE = 18  # variable input: h, (B, P)
CELL_STATE = 19    # variable input: c, (B, H)
GATES = ("i", "f", "g", "o")  # TFLite's gate order: input, forget, cell, output
BUFFER_ALIGN = 16  # schema.fbs: Buffer.data (force_align: 16)


@dataclass(frozen=True)
class Features:
    """The variant's cell features, checked."""

    peephole: bool
    cifg: bool
    cell_clip: float   # 0: none (TFLite's encoding)
    proj_size: int     # 0: no projection
    proj_bias: bool
    proj_clip: float   # 0: none
    layer_norm: bool


def features_of(variant: Mapping[str, Any]) -> Features:
    """The variant's features; ValueError naming the key for anything this model does not encode."""
    for key in variant:
        if key not in SUPPORTED_KEYS:
            raise ValueError(f"unsupported variant key {key!r} for the TFLite LSTM")
    coupling = variant.get("coupling")
    if coupling not in (None, "cifg"):
        raise ValueError(f"unsupported variant key 'coupling' = {coupling!r} (TFLite has only 'cifg')")
    clip = variant.get("clip")
    cell_clip = 0.0
    if clip is not None:
        if not isinstance(clip, Mapping) or clip.get("convention") != "cell_state":
            raise ValueError(f"unsupported variant key 'clip' = {clip!r} (TFLite clips the cell state only)")
        cell_clip = _positive("clip", clip["threshold"])
    proj_size = int(variant.get("proj_size") or 0)
    if (variant.get("proj_bias") or variant.get("proj_clip") is not None) and not proj_size:
        raise ValueError("variant keys 'proj_bias' / 'proj_clip' need 'proj_size'")
    proj_clip = variant.get("proj_clip")
    return Features(peephole=bool(variant.get("peephole")), cifg=coupling == "cifg", cell_clip=cell_clip,
                    proj_size=proj_size, proj_bias=bool(variant.get("proj_bias")),
                    proj_clip=0.0 if proj_clip is None else _positive("proj_clip", proj_clip),
                    layer_norm=bool(variant.get("layer_norm")))


def _positive(key: str, value: Any) -> float:
    out = float(value)
    if not out > 0:
        raise ValueError(f"variant key {key!r} needs a positive threshold, got {value!r}")
    return out


def operator_inputs(params: Mapping[str, np.ndarray], feats: Features,
                    dtype: np.dtype = np.dtype(np.float32)) -> list[np.ndarray | None]:
    """The constant inputs 1..17 and 20..23 of the operator by input index (None: absent, -1);
    index 0 (x) and the states 18, 19 are None here."""
    def get(name: str, wanted: bool = True) -> np.ndarray | None:
        return np.asarray(params[name], dtype=dtype) if wanted else None

    has_i = not feats.cifg
    slots: list[np.ndarray | None] = [None] * N_INPUTS
    for k, gate in enumerate(GATES):
        present = has_i or gate != "i"
        slots[1 + k] = get(f"W_{gate}", present)                         # (H, I)
        slots[5 + k] = get(f"U_{gate}", present)                         # (H, P)
        slots[12 + k] = get(f"b_{gate}", present)                        # (H,)
        slots[20 + k] = get(f"ln_{gate}", present and feats.layer_norm)  # (H,)
    for k, gate in enumerate(("i", "f", "o")):
        slots[9 + k] = get(f"p_{gate}", feats.peephole and (has_i or gate != "i"))  # (H,)
    slots[16] = get("W_proj", bool(feats.proj_size))                    # (P, H)
    slots[17] = get("b_proj", feats.proj_bias)                          # (P,)
    return slots


def _buffer_type(sch: Any) -> type:
    """The schema's BufferT, packing `payload` (float32, or None for an empty buffer) 16-byte aligned:
    the generated Pack aligns a uint8 vector to 1 byte only."""
    class AlignedBufferT(sch.BufferT):
        def __init__(self, payload: np.ndarray | None = None) -> None:
            super().__init__()
            self.payload = payload

        def Pack(self, builder: Any) -> int:  # noqa: N802 (the schema's method name)
            data = None
            if self.payload is not None:
                raw = np.ascontiguousarray(self.payload, dtype=self.payload.dtype.newbyteorder("<")).tobytes()
                builder.StartVector(1, len(raw), BUFFER_ALIGN)
                builder.head -= len(raw)
                builder.Bytes[builder.head:builder.head + len(raw)] = raw
                data = builder.EndVector()
            sch.BufferStart(builder)
            if data is not None:
                sch.BufferAddData(builder, data)
            return sch.BufferEnd(builder)

    return AlignedBufferT


def build_model(shapes: Mapping[str, tuple[int, ...]], consts: list[np.ndarray | None],
                feats: Features, dtype: np.dtype = np.dtype(np.float32)) -> tuple[bytes, dict[str, int]]:
    """The serialized model and the tensor indices of x, y, h (output_state) and c (cell_state).
    `shapes` gives x (T, B, I), h (B, P) and c (B, H); `consts` the operator's constant inputs by
    input index (operator_inputs)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as sch

    buffer_t = _buffer_type(sch)
    tensor_type = {np.dtype(np.float32): sch.TensorType.FLOAT32,
                   np.dtype(np.float64): sch.TensorType.FLOAT64}[np.dtype(dtype)]
    buffers = [buffer_t()]  # buffer 0: the schema's empty sentinel
    tensors: list[Any] = []
    op_inputs: list[int] = []
    index: dict[str, int] = {}

    def add_tensor(name: str, shape: tuple[int, ...], data: np.ndarray | None = None,
                   variable: bool = False) -> int:
        tensor = sch.TensorT()
        tensor.name, tensor.shape, tensor.type = name, list(shape), tensor_type
        tensor.isVariable = variable
        if data is not None:
            buffers.append(buffer_t(data))
            tensor.buffer = len(buffers) - 1
        tensors.append(tensor)
        return len(tensors) - 1

    for k, value in enumerate(consts):
        if k == 0:
            index["x"] = add_tensor("x", shapes["x"])
            op_inputs.append(index["x"])
        elif k in (OUTPUT_STATE, CELL_STATE):
            name, key = ("output_state", "h") if k == OUTPUT_STATE else ("cell_state", "c")
            index[key] = add_tensor(name, shapes[key], variable=True)
            op_inputs.append(index[key])
        elif value is None:
            op_inputs.append(-1)
        else:
            op_inputs.append(add_tensor(f"input_{k}", value.shape, value))
    t_len, batch, _ = shapes["x"]
    index["y"] = y_index = add_tensor("y", (t_len, batch, shapes["h"][1]))

    options = sch.UnidirectionalSequenceLSTMOptionsT()
    options.fusedActivationFunction = sch.ActivationFunctionType.TANH
    options.cellClip, options.projClip, options.timeMajor = feats.cell_clip, feats.proj_clip, True
    op = sch.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, op_inputs, [y_index]
    op.builtinOptionsType = sch.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = options

    code = sch.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = sch.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.version = 1
    graph = sch.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs = tensors, [index["x"]], [y_index]
    graph.operators = [op]
    graph.name = "main"
    model = sch.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], buffers
    model.description = "lstm_adapters.tflite_model"

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), index


def make_interpreter(content: bytes) -> Any:
    """The interpreter over the model, tensors allocated; builtin kernels without the default
    (XNNPACK) delegate, one thread."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=content, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    return interp


def run_tflite_lstm(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, params: dict[str, np.ndarray],
                    variant: dict) -> dict[str, np.ndarray]:
    """y (T, B, P), h_n (B, P) and c_n (B, H) of TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM over x
    (T, B, I) from h0 (B, P) and c0 (B, H), with the canonical parameter names (module docstring)."""
    feats = features_of(variant)
    dtype = np.asarray(x).dtype  # every tensor in x's dtype: float32, or float64 (which TFLite refuses)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"x.dtype={dtype}, but should be float32 (or float64, to hear TFLite refuse it)")
    x = np.ascontiguousarray(x, dtype=dtype)    # (T, B, I)
    h0 = np.ascontiguousarray(h0, dtype=dtype)  # (B, P)
    c0 = np.ascontiguousarray(c0, dtype=dtype)  # (B, H)
    consts = operator_inputs(params, feats, dtype)
    content, index = build_model({"x": x.shape, "h": h0.shape, "c": c0.shape}, consts, feats, dtype)
    interp = make_interpreter(content)
    interp.set_tensor(index["x"], x)
    interp.set_tensor(index["h"], h0)  # the variable tensors: set before every invoke
    interp.set_tensor(index["c"], c0)
    interp.invoke()
    return {"y": interp.get_tensor(index["y"]).copy(),   # (T, B, P)
            "h_n": interp.get_tensor(index["h"]).copy(),  # (B, P)
            "c_n": interp.get_tensor(index["c"]).copy()}  # (B, H)
