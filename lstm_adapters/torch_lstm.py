"""torch.nn.LSTM, and torch.nn.LSTMCell stepped over time, loaded through the spec's `torch` packing.

What torch does with the spec's sequence structure (spec/lstm.yaml `features`), pinned by running
torch 2.13.0 against the goldens (tests/test_adapter_torch.py):

- bidirectional: nn.LSTM(bidirectional=True). y (T, B, 2H) is [forward | reverse] on its last axis, both
  halves in input time order; h_n and c_n are (L * D, B, H), indexed layer * D + direction, which is the
  spec's `structure.state_index`, so the states pass through unchanged.
- num_layers: nn.LSTM(num_layers=L), dropout 0; layer k >= 1 reads layer k-1's y, (4H, D * H) weights.
- lengths (zero_fill): pack_padded_sequence(x, lengths, enforce_sorted=False) and
  pad_packed_sequence(..., total_length=T). torch sorts the rows by length and permutes h0/c0 with them,
  and un-permutes h_n/c_n (nn.LSTM.permute_hidden), so the states stay in the caller's row order. A packed
  batch shrinks as rows end, so each row's h_n/c_n is the state after its own last step, its reverse run
  starts at len_b - 1, and pad_packed_sequence fills y with exactly 0 past each row's length. torch
  refuses a row of length 0 (pack_padded_sequence raises), so it has no empty-row convention at all.
- batch_first=True (the `torch-batch-first` adapter): x is (B, T, I) and y (B, T, D * H), while h0, c0,
  h_n and c_n keep their (L * D, B, H) shape (measured: nn.LSTM transposes only input and output); with
  lengths, pack_padded_sequence and pad_packed_sequence take batch_first=True too. Declared as
  conventions = {"layout": "batch_first"}: the harness gives it batch-first x and reads y back.
- proj_size: nn.LSTM(proj_size=P) computes h = W_hr (o * tanh(c)) with no bias and no clip: weight_hh is
  (4H, P), weight_hr_l{k}[_reverse] (P, H) is W_proj (the spec's torch packing, `when: proj_size`), y and
  h_n are P wide, c_n H wide; with num_layers and bidirectional every cell has its own W_hr, and layer
  k >= 1 reads D * P inputs. Measured against proj-*, stack2-proj-* and stack2-bidir-proj-*. torch refuses
  proj_size >= hidden_size ("proj_size has to be smaller than hidden_size"): such a case is skipped with
  those words. proj_bias and proj_clip (TFLite's) it has no argument for.
- direction "reverse" (one run, reverse only): torch has no such LSTM (nn.LSTM's only direction switch
  is bidirectional=True), so it is not supported. Running a bidirectional LSTM and keeping its reverse
  half, or flipping x ourselves, would be this adapter's composition, not torch's.

- on a CUDA device (the `torch-cuda` and `torch-cuda-tf32` adapters): the same nn.LSTM, built and loaded on
  the CPU, then moved with .to("cuda") (which flattens its weights for cuDNN); x, h0 and c0 go to the device,
  lengths stay on the CPU (pack_padded_sequence wants them there), and the outputs come back with .cpu().
  TF32 is disallowed (torch-cuda) or allowed (torch-cuda-tf32) for each call: torch.backends.cuda.matmul.allow_tf32
  and torch.backends.cudnn.allow_tf32, restored after it. Without a CUDA device every case is skipped.

No gate permutation lives here: each layer's and run's parameters are packed with the spec's `torch`
packing, whose tensors are named for layer 0's forward run (weight_ih_l0 ...), and renamed to torch's
name for that layer and run (weight_ih_l1_reverse ...).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .base import FrameworkAdapter
from .gpu import DeviceRequired

INSTALL = "pip install torch==2.13.0 (a CPU build; an unpinned torch pulls a multi-GB CUDA build)"

# The features torch.nn.LSTM has an argument for. "empty_rows" is absent: it is about rows of length 0,
# which torch refuses. Direction "reverse" is refused in supports() (torch has no reverse-only LSTM).
NN_LSTM_FEATURES = frozenset({"direction", "num_layers", "lengths", "proj_size"})
TORCH_PACKING_SUFFIX = "_l0"  # the spec's `torch` packing names layer 0's forward run, as torch does


def torch_name(packed_name: str, layer: int, reverse: bool) -> str:
    """torch's name of a `torch`-packing tensor in layer `layer`, forward or reverse run:
    weight_ih_l0 -> weight_ih_l1_reverse (torch/nn/modules/rnn.py: f"_l{layer}" + "_reverse")."""
    if not packed_name.endswith(TORCH_PACKING_SUFFIX):
        raise ValueError(f"the spec's torch packing names {packed_name!r}, which does not end in "
                         f"{TORCH_PACKING_SUFFIX!r} as nn.LSTM's layer-0 tensors do")
    return packed_name.removesuffix(TORCH_PACKING_SUFFIX) + f"_l{layer}" + ("_reverse" if reverse else "")


class TorchLSTMAdapter(FrameworkAdapter):
    """torch.nn.LSTM, time-major: the base LSTM, bidirectional, stacked, rows with lengths, proj_size."""

    name = "torch.nn.LSTM"
    framework = "torch"
    install = INSTALL
    batch_first = False  # nn.LSTM's batch_first; True needs conventions = {"layout": "batch_first"}
    device: str | None = None  # None: torch's default (the CPU), as before; the `torch-cuda` adapters: "cuda"

    def _import(self) -> None:
        import torch

        self.torch = torch
        self.name = f"torch.nn.LSTM (torch {torch.__version__}{', batch_first=True' if self.batch_first else ''})"

    def supports(self, variant: dict) -> bool:
        if not set(variant) <= NN_LSTM_FEATURES:
            return False
        # torch has no reverse-only LSTM (see the module docstring); bidirectional it has.
        return variant.get("direction") != "reverse"

    def _tensor(self, array: np.ndarray):
        """torch.from_numpy(array), on self.device when one is set."""
        tensor = self.torch.from_numpy(array)
        return tensor if self.device is None else tensor.to(self.device)

    def _place(self, module):
        """The module, loaded on the CPU, moved to self.device when one is set (nn.Module.to flattens an
        nn.LSTM's weights for cuDNN)."""
        return module if self.device is None else module.to(self.device)

    def _load(self, module, params) -> None:
        torch = self.torch
        tensors = self.tensors("torch", params)
        names = set(module.state_dict())
        # nn.LSTMCell names its tensors without nn.LSTM's layer suffix "_l0"
        state = {n if n in names else n.removesuffix("_l0"): torch.from_numpy(np.array(a)) for n, a in tensors.items()}
        module.load_state_dict(state, strict=True)

    def _load_structure(self, module, params: Mapping[str, np.ndarray], variant: dict) -> None:
        """Every layer's and run's parameters, packed with the spec's `torch` packing and renamed."""
        from lstm_conformance.spec.variants import cell_params, structure

        st = structure(self.spec, variant)
        state = {}
        for layer in range(st.L):
            for run, run_name in enumerate(st.runs):
                packed = self.tensors("torch", cell_params(self.spec, variant, params, layer, run))
                for name, array in packed.items():
                    state[torch_name(name, layer, run_name == "reverse")] = self.torch.from_numpy(np.array(array))
        module.load_state_dict(state, strict=True)  # strict: every tensor of torch's named exactly once

    def run(self, x, h0, c0, params):
        torch = self.torch
        i_sz = x.shape[2]
        h_sz = h0.shape[1]
        dt = getattr(torch, x.dtype.name)
        lstm = torch.nn.LSTM(i_sz, h_sz, num_layers=1, bias=True, batch_first=self.batch_first, dtype=dt)
        self._load(lstm, params)
        lstm = self._place(lstm)
        with torch.no_grad():
            y, (h_n, c_n) = lstm(self._tensor(x), (self._tensor(h0)[None], self._tensor(c0)[None]))
        # (T, B, H) or batch-first (B, T, H), (B, H), (B, H); .cpu() is the tensor itself on the CPU
        return y.cpu().numpy(), h_n[0].cpu().numpy(), c_n[0].cpu().numpy()

    def skip_case(self, inputs: Mapping[str, np.ndarray], variant: dict, dtype: str) -> str | None:
        """torch refuses rows of length 0: skip such a case with torch's own words (from the real call)."""
        if self.missing:
            return None
        if "proj_size" in variant:  # torch's own check of the sizes, with its words
            try:
                self.torch.nn.LSTM(1, inputs["c0"].shape[-1], proj_size=variant["proj_size"])
            except ValueError as exc:
                return f"torch refuses this projection: nn.LSTM raised ValueError: {exc}"
        lengths = inputs.get("seq_lengths")
        if lengths is None or not (np.asarray(lengths) == 0).any():
            return None
        x = self.torch.zeros((len(lengths), int(np.max(lengths)) or 1, 1))  # (B, T, 1)
        try:
            self.torch.nn.utils.rnn.pack_padded_sequence(x, self.torch.from_numpy(np.asarray(lengths, np.int64)),
                                                         batch_first=True, enforce_sorted=False)
        except RuntimeError as exc:
            empty = [b for b, n in enumerate(lengths) if n == 0]
            return f"torch refuses rows of length 0 (rows {empty}): pack_padded_sequence raised {type(exc).__name__}: {exc}"
        return None

    def run_variant(self, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                    variant: dict) -> dict[str, np.ndarray]:
        from lstm_conformance.spec.variants import structure

        torch = self.torch
        rnn = torch.nn.utils.rnn
        st = structure(self.spec, variant)
        if not self.supports(variant):  # pragma: no cover - the runner asks supports() first
            raise ValueError(f"{self.name} does not run variant {variant}")
        x, h0, c0 = inputs["x"], inputs["h0"], inputs["c0"]  # x (T, B, I), or (B, T, I) when batch_first
        t_len, i_sz = x.shape[1 if self.batch_first else 0], x.shape[2]
        h_sz = c0.shape[-1]  # H; h0 is P wide under a projection
        lstm = torch.nn.LSTM(i_sz, h_sz, num_layers=st.L, bias=True, batch_first=self.batch_first,
                             bidirectional=st.runs == ("forward", "reverse"), proj_size=variant.get("proj_size", 0),
                             dtype=getattr(torch, x.dtype.name))
        self._load_structure(lstm, params, variant)
        lstm = self._place(lstm)
        if not st.stacked:  # (B, H) -> torch's (1, B, H)
            h0, c0 = h0[None], c0[None]
        state = (self._tensor(np.ascontiguousarray(h0)), self._tensor(np.ascontiguousarray(c0)))
        with torch.no_grad():
            if st.lengths is None:
                y, (h_n, c_n) = lstm(self._tensor(x), state)
            else:
                # lengths stay on the CPU: pack_padded_sequence wants a CPU int64 tensor on every device
                lengths = torch.from_numpy(np.asarray(inputs["seq_lengths"], dtype=np.int64))
                try:
                    packed = rnn.pack_padded_sequence(self._tensor(x), lengths, batch_first=self.batch_first,
                                                      enforce_sorted=False)
                except RuntimeError as exc:
                    empty = [b for b, n in enumerate(inputs["seq_lengths"]) if n == 0]
                    if not empty:
                        raise
                    raise ValueError(f"torch refuses rows of length 0 (rows {empty}): "
                                     f"pack_padded_sequence raised {type(exc).__name__}: {exc}") from exc
                out, (h_n, c_n) = lstm(packed, state)
                y, _ = rnn.pad_packed_sequence(out, batch_first=self.batch_first,
                                               total_length=t_len)  # zeros past each row's length
        if not st.stacked:
            h_n, c_n = h_n[0], c_n[0]
        return {"y": y.cpu().numpy().copy(), "h_n": h_n.cpu().numpy().copy(), "c_n": c_n.cpu().numpy().copy()}


class TorchBatchFirstLSTMAdapter(TorchLSTMAdapter):
    """torch.nn.LSTM(batch_first=True): x (B, T, I) in and y (B, T, D * H) out, h0/h_n still (L * D, B, H)
    (measured with torch 2.13.0); the harness converts the arrays (spec: derived_conventions.layout)."""

    batch_first = True
    conventions = {"layout": "batch_first"}


class TorchLSTMCellAdapter(TorchLSTMAdapter):
    """torch.nn.LSTMCell, called once per time step: the base LSTM only.

    nn.LSTMCell is one step. Running it backwards, per row up to a length, or feeding one layer's
    outputs into another would be this adapter's own loop, so the test would judge our composition
    rather than torch; those structures are nn.LSTM's (the `torch` adapter)."""

    name = "torch.nn.LSTMCell"

    def _import(self) -> None:
        super()._import()
        self.name = f"torch.nn.LSTMCell (torch {self.torch.__version__})"

    def supports(self, variant: dict) -> bool:
        return not variant

    def run(self, x, h0, c0, params):
        torch = self.torch
        t_len, b, i_sz = x.shape
        h_sz = h0.shape[1]
        cell = torch.nn.LSTMCell(i_sz, h_sz, bias=True, dtype=getattr(torch, x.dtype.name))
        self._load(cell, params)
        y = np.empty((t_len, b, h_sz), dtype=x.dtype)
        h, c = torch.from_numpy(h0), torch.from_numpy(c0)
        with torch.no_grad():
            for t in range(t_len):
                h, c = cell(torch.from_numpy(x[t]), (h, c))
                y[t] = h.numpy()
        return y, h.numpy().copy(), c.numpy().copy()


class TorchCudaLSTMAdapter(DeviceRequired, TorchLSTMAdapter):
    """torch.nn.LSTM on a CUDA device (cuDNN's LSTM where torch has cuDNN), TF32 disallowed: the `torch`
    adapter's features (bidirectional, num_layers, lengths, proj_size), with the module and the inputs on the
    device and the outputs copied back. torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    are set for each call and restored after it (lstm_adapters.gpu.tf32). Without a CUDA device every case is
    skipped with the reason (lstm_adapters.gpu.cuda_unavailable), so the run is NOT RUN."""

    device = "cuda"
    allow_tf32 = False

    def _import(self) -> None:
        from .gpu import cuda_description, cuda_unavailable

        super()._import()
        torch = self.torch
        self.no_device = cuda_unavailable(torch)
        tf32 = f"TF32 {'allowed' if self.allow_tf32 else 'disallowed'}"
        where = f"no CUDA device, {tf32}" if self.no_device else f"{cuda_description(torch)}, {tf32}"
        self.name = f"torch.nn.LSTM on CUDA (torch {torch.__version__}; {where})"

    def _on_device(self):
        from .gpu import tf32

        return tf32(self.torch, self.allow_tf32)


class TorchCudaTF32LSTMAdapter(TorchCudaLSTMAdapter):
    """torch.nn.LSTM on a CUDA device with TF32 allowed (both switches True for each call): float32 matmuls
    may round their inputs to TF32's 10-bit mantissa, on GPUs that have TF32 (Ampere and later)."""

    allow_tf32 = True
