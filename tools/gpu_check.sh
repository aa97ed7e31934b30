#!/usr/bin/env bash
# The GPU adapters' real tables, on a machine WITH a GPU (torch built with CUDA; for flax-gpu, jax with CUDA,
# e.g. pip install "jax[cuda12]" flax). Run: bash tools/gpu_check.sh [conformance args]
# Without a GPU every run below is NOT RUN (exit code 1) with the no-GPU reason.
set -u
cd "${REPO:-$(dirname "$0")/..}" || exit 2
python - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuda available: {torch.cuda.is_available()}, "
      f"cuDNN {torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}")
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name())
try:
    import jax
    print(f"jax {jax.__version__}, devices: {jax.devices()}")
except ImportError:
    print("jax is not installed (flax-gpu skips)")
PY
status=0
for impl in torch-cuda torch-cuda-tf32; do
  echo "==================== $impl ===================="
  python tools/conformance.py --impl "$impl" --dtype float32 --dtype float64 "$@" || status=1
done
if python -c "import flax" 2>/dev/null; then
  for impl in flax-gpu flax-optimized-gpu; do
    echo "==================== $impl ===================="
    python tools/conformance.py --impl "$impl" --dtype float32 --dtype float64 "$@" || status=1
  done
fi
exit $status
