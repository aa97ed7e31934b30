"""What the GPU adapters share: why there is no GPU (the skip reason), and TF32 switched around a call.

The GPU adapters themselves are thin subclasses of the CPU ones (lstm_adapters/torch_lstm.py:
TorchCudaLSTMAdapter, TorchCudaTF32LSTMAdapter; lstm_adapters/flax_lstm.py: FlaxGpuLSTMCellAdapter,
FlaxGpuOptimizedLSTMCellAdapter). On a machine without a GPU every case is skipped with the reason
given here: the run is NOT RUN, never an error and never a pass.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

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


TF32_FLAGS = (("cuda", "matmul"), ("cudnn",))  # torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


@contextmanager
def tf32(torch: Any, allowed: bool) -> Iterator[None]:
    """torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 both set to `allowed`
    for the duration, then restored to what they were (also when the call raises)."""
    owners = []
    for path in TF32_FLAGS:
        owner = torch.backends
        for part in path:
            owner = getattr(owner, part)
        owners.append(owner)
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
    is skipped without one; a missing framework is said first, and the dtype probe runs on the device."""

    missing: str | None
    no_device: str | None = None

    def skip_reason(self, variant: dict, dtype: str) -> str | None:
        if self.missing:
            return self.missing
        if self.no_device:
            return self.no_device
        return super().skip_reason(variant, dtype)  # type: ignore[misc]
