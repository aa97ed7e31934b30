"""The GPU adapters (torch-cuda, torch-cuda-tf32, flax-gpu, flax-optimized-gpu) on a machine without a GPU.

Every case is skipped with the no-GPU reason (a NOT RUN run, never an error, never a pass). The device
path itself (module and tensors moved to self.device, outputs brought back, TF32 switched around each
call) is exercised on the CPU by pointing the torch-cuda adapter at device "cpu". On a machine with a GPU
the skip tests skip themselves; tools/gpu_check.sh (README text) runs the real tables there.
"""
from __future__ import annotations

import pytest

from lstm_conformance.run.adapters import load_adapter
from lstm_conformance.run.runner import NOT_RUN, run_conformance

GPU_IMPLS = {"torch-cuda": "torch", "torch-cuda-tf32": "torch", "flax-gpu": "flax", "flax-optimized-gpu": "flax"}
PATTERNS = ["base-T3-*", "bidir-T5-*"]
DEVICE_PATTERNS = ["base-T3-*", "bidir-T5-*", "len-T6-*", "stack2-bidir-len-*", "proj-T5-*", "stack2-bidir-proj-*"]


def _framework(name: str):
    return pytest.importorskip(name)


def _no_gpu_reason(framework: str) -> str:
    """The reason the adapters must give, computed here from the framework itself (skips on a GPU machine)."""
    from lstm_adapters.gpu import cuda_unavailable, jax_gpu

    if framework == "torch":
        reason = cuda_unavailable(_framework("torch"))
    else:
        _framework("flax")
        reason = jax_gpu(pytest.importorskip("jax"))[1]
    if reason is None:
        pytest.skip(f"{framework} sees a GPU here: run tools/gpu_check.sh for the real tables")
    return reason


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("impl", sorted(GPU_IMPLS))
def test_without_a_gpu_every_case_is_skipped_with_the_reason(spec, impl, dtype):
    reason = _no_gpu_reason(GPU_IMPLS[impl])
    result = run_conformance(impl, dtype=dtype, spec=spec, patterns=PATTERNS)
    assert len(result.cases) == 2, [c.id for c in result.cases]
    assert {c.status for c in result.cases} == {"skipped"}, [(c.id, c.status, c.reasons) for c in result.cases]
    assert all(c.reasons == [reason] for c in result.cases), [c.reasons for c in result.cases]
    assert result.verdict == NOT_RUN
    assert "no GPU" in result.impl or "no CUDA device" in result.impl, result.impl


def test_the_torch_reason_names_the_check_and_the_build():
    torch = _framework("torch")
    reason = _no_gpu_reason("torch")
    assert reason.startswith("no CUDA device: torch.cuda.is_available() is False (torch ")
    assert torch.__version__ in reason


def test_the_flax_reason_names_the_check():
    reason = _no_gpu_reason("flax")
    assert reason.startswith("no GPU for jax: jax.devices('gpu') raised "), reason


def test_the_cli_says_not_run_with_the_reason(capsys):
    from lstm_conformance.cli.conformance import main

    reason = _no_gpu_reason("torch")
    code = main(["--impl", "torch-cuda", "--cases", "base-T3-*"])
    out = capsys.readouterr().out
    assert code != 0  # a NOT RUN run does not pass
    assert "NOT RUN" in out and reason in out, out


# ---------------------------------------------------------------- TF32 around each call, restored after


class _Flags:
    def __init__(self, value):
        self.allow_tf32 = value


class _FakeTorch:
    """Just the two switches: torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32."""

    def __init__(self, matmul, cudnn):
        self.backends = type("backends", (), {})()
        self.backends.cuda = type("cuda", (), {})()
        self.backends.cuda.matmul = _Flags(matmul)
        self.backends.cudnn = _Flags(cudnn)

    def flags(self):
        return self.backends.cuda.matmul.allow_tf32, self.backends.cudnn.allow_tf32


@pytest.mark.parametrize("allowed", [False, True])
@pytest.mark.parametrize("before", [(False, True), (True, False), (False, False), (True, True)])
def test_tf32_sets_both_switches_and_restores_them(allowed, before):
    from lstm_adapters.gpu import tf32

    torch = _FakeTorch(*before)
    with tf32(torch, allowed):
        assert torch.flags() == (allowed, allowed)
    assert torch.flags() == before
    with pytest.raises(KeyError):
        with tf32(torch, allowed):
            raise KeyError("the call failed")
    assert torch.flags() == before


def _on_the_cpu(impl: str):
    """The torch-cuda adapter pointed at device "cpu": the device path (module.to, tensors .to, .cpu())
    and the TF32 switches, runnable here."""
    _framework("torch")
    adapter = load_adapter(impl)
    adapter.device, adapter.no_device = "cpu", None
    return adapter


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # torch on the CPU
@pytest.mark.parametrize("impl, allowed", [("torch-cuda", False), ("torch-cuda-tf32", True)])
def test_the_device_path_passes_and_switches_tf32_for_each_call_only(spec, monkeypatch, impl, allowed):
    torch = _framework("torch")
    adapter = _on_the_cpu(impl)
    seen = []
    forward = torch.nn.LSTM.forward

    def recording(self, *args, **kwargs):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        assert next(self.parameters()).device.type == "cpu"
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.LSTM, "forward", recording)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", not allowed)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", not allowed)
    for dtype in ("float32", "float64"):
        result = run_conformance(adapter, dtype=dtype, spec=spec, patterns=DEVICE_PATTERNS, isolate=False)
        statuses = {c.id: (c.status, c.reasons[:1]) for c in result.cases}
        assert len(statuses) == len(DEVICE_PATTERNS), statuses
        assert all(s == "passed" for s, _ in statuses.values()), statuses
    assert seen and set(seen) == {(allowed, allowed)}, seen  # during every call (the dtype probe's too)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (not allowed, not allowed)


def test_the_device_path_moves_the_module_and_the_inputs(spec, monkeypatch):
    """x, h0 and c0 each go through Tensor.to(self.device), and the outputs come back as NumPy arrays."""
    torch = _framework("torch")
    adapter = _on_the_cpu("torch-cuda")
    moved = []
    to = torch.Tensor.to

    def recording(self, *args, **kwargs):
        moved.append(args[0] if args else kwargs.get("device"))
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", recording)
    import numpy as np

    x = np.zeros((3, 2, 4), np.float32)
    h = np.zeros((2, 5), np.float32)
    params = {n: np.full(spec.shape_of("parameters", n, {"H": 5, "I": 4}), 0.1, np.float32)
              for n in spec.parameter_names}
    y, h_n, c_n = adapter.run(x, h, h, params)
    assert moved.count("cpu") == 3, moved  # x, h0, c0
    assert (y.shape, h_n.shape, c_n.shape) == ((3, 2, 5), (2, 5), (2, 5))


def test_the_cpu_torch_adapter_has_no_device():
    _framework("torch")
    from lstm_adapters.torch_lstm import TorchLSTMAdapter

    adapter = TorchLSTMAdapter()
    assert adapter.device is None
    module = object()
    assert adapter._place(module) is module
