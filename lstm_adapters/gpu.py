"""What the GPU adapters share: why there is no GPU (the skip reason), and TF32 switched around a call.

The GPU adapters themselves are thin subclasses of the CPU ones (lstm_adapters/torch_lstm.py:
TorchCudaLSTMAdapter, TorchCudaTF32LSTMAdapter; lstm_adapters/flax_lstm.py: FlaxGpuLSTMCellAdapter,
FlaxGpuOptimizedLSTMCellAdapter). On a machine without a GPU every case is skipped with the reason
given here: the run is NOT RUN, never an error and never a pass.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import Any, Iterator, Mapping

from .base import _first_line


def cuda_unavailable(torch: Any) -> str | None:
    """Why torch cannot run on a CUDA device, or None when it can."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        build = "a build without CUDA"
    else:
        build = f"built with CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s) visible"
    return f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, {build})"


def cuda_description(torch: Any) -> str:
    """The device, CUDA and cuDNN versions torch runs on, for the adapter's name (CUDA available)."""
    device = torch.cuda.current_device()
    parts = [f"CUDA {torch.version.cuda}"]
    if torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled:
        parts.append(f"cuDNN {torch.backends.cudnn.version()}")
    else:
        parts.append("no cuDNN: torch's own CUDA LSTM")
    return f"cuda:{device} {torch.cuda.get_device_name(device)}, {', '.join(parts)}"


@contextmanager
def tf32(torch: Any, allowed: bool) -> Iterator[None]:
    """torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 both set to `allowed`
    for the duration, then restored to what they were (also when the call raises)."""
    owners = [torch.backends.cuda.matmul, torch.backends.cudnn]
    saved = [owner.allow_tf32 for owner in owners]
    try:
        for owner in owners:
            owner.allow_tf32 = allowed
        yield
    finally:
        for owner, value in zip(owners, saved):
            owner.allow_tf32 = value


def jax_gpu(jax: Any) -> tuple[Any | None, str | None]:
    """(jax's first GPU device, None), or (None, why jax sees no GPU)."""
    try:
        devices = jax.devices("gpu")
    except RuntimeError as exc:  # jax: "Unknown backend: 'gpu' requested, but no platforms ... are present"
        return None, (f"no GPU for jax: jax.devices('gpu') raised {type(exc).__name__}: {_first_line(exc)} "
                      f"(jax {jax.__version__}, devices: {', '.join(str(d) for d in jax.devices())})")
    if not devices:
        return None, f"no GPU for jax: jax.devices('gpu') is empty (jax {jax.__version__})"
    return devices[0], None


class DeviceRequired:
    """Mixin for an adapter that runs on a device: `no_device` (set by its `_import`) is the reason every case
    is skipped without one (a missing framework is said first, by the base class), and every call, the dtype
    probe's included, runs inside the adapter's `_on_device()` context."""

    no_device: str | None = None

    def _on_device(self) -> AbstractContextManager:
        raise NotImplementedError

    def skip_reason(self, variant: dict, dtype: str) -> str | None:
        return self.no_device or super().skip_reason(variant, dtype)  # type: ignore[misc]

    def run(self, x, h0, c0, params):
        with self._on_device():
            return super().run(x, h0, c0, params)  # type: ignore[misc]

    def run_variant(self, inputs: Mapping[str, Any], params: Mapping[str, Any], variant: dict) -> dict[str, Any]:
        with self._on_device():
            return super().run_variant(inputs, params, variant)  # type: ignore[misc]
