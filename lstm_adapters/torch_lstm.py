"""torch.nn.LSTM, and torch.nn.LSTMCell stepped over time, loaded through the spec's `torch` packing."""
from __future__ import annotations

import numpy as np

from .base import FrameworkAdapter

INSTALL = "pip install torch==2.13.0 (a CPU build; an unpinned torch pulls a multi-GB CUDA build)"


class TorchLSTMAdapter(FrameworkAdapter):
    """torch.nn.LSTM, one layer, time-major."""

    name = "torch.nn.LSTM"
    framework = "torch"
    install = INSTALL

    def _import(self) -> None:
        import torch

        self.torch = torch
        self.name = f"torch.nn.LSTM (torch {torch.__version__})"

    def _load(self, module, params) -> None:
        torch = self.torch
        tensors = self.tensors("torch", params)
        names = set(module.state_dict())
        # nn.LSTMCell names its tensors without nn.LSTM's layer suffix "_l0"
        state = {n if n in names else n.removesuffix("_l0"): torch.from_numpy(np.array(a)) for n, a in tensors.items()}
        module.load_state_dict(state, strict=True)

    def run(self, x, h0, c0, params):
        torch = self.torch
        t_len, _, i_sz = x.shape
        h_sz = h0.shape[1]
        dt = getattr(torch, x.dtype.name)
        lstm = torch.nn.LSTM(i_sz, h_sz, num_layers=1, bias=True, batch_first=False, dtype=dt)
        self._load(lstm, params)
        with torch.no_grad():
            y, (h_n, c_n) = lstm(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
        return y.numpy(), h_n[0].numpy(), c_n[0].numpy()  # (T, B, H), (B, H), (B, H)


class TorchLSTMCellAdapter(TorchLSTMAdapter):
    """torch.nn.LSTMCell, called once per time step."""

    name = "torch.nn.LSTMCell"

    def _import(self) -> None:
        super()._import()
        self.name = f"torch.nn.LSTMCell (torch {self.torch.__version__})"

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
