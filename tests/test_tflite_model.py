"""lstm_adapters.tflite_model: TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM against a NumPy float64 LSTM with
the semantics the module docstring records (cell clip after the update, proj_clip after b_proj, layer
norm with the population variance, epsilon 1e-8 inside the square root and the bias after the
coefficients)."""
from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np
import pytest

if importlib.util.find_spec("ai_edge_litert") is None:
    if os.environ.get("LSTM_REQUIRE_THIRDPARTY") == "1":  # tox -e thirdparty: a missing framework fails
        raise ImportError("ai_edge_litert is not installed, but LSTM_REQUIRE_THIRDPARTY=1 requires every adapter")
    pytest.skip("ai_edge_litert is not installed (pip install ai-edge-litert)", allow_module_level=True)

from lstm_adapters.tflite_model import run_tflite_lstm  # noqa: E402

T, B, I, H, P = 5, 3, 4, 3, 2
TOL = 1e-5
CELL_CLIP = {"convention": "cell_state", "threshold": 0.5}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _layer_norm(z: np.ndarray) -> np.ndarray:
    """Over the units of each row: population variance, epsilon inside the square root."""
    return (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-8)


def reference(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, params: dict[str, np.ndarray],
              variant: dict[str, Any]) -> dict[str, np.ndarray]:
    """A float64 LSTM: y (T, B, P), h_n (B, P), c_n (B, H)."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    h, c = np.asarray(h0, np.float64), np.asarray(c0, np.float64)
    clip = variant.get("clip")

    def act(gate: str, x_t: np.ndarray, cell: np.ndarray | None) -> np.ndarray:
        z = x_t @ p[f"W_{gate}"].T + h @ p[f"U_{gate}"].T  # (B, H)
        if variant.get("peephole") and cell is not None:
            z = z + p[f"p_{gate}"] * cell
        if variant.get("layer_norm"):
            z = _layer_norm(z) * p[f"ln_{gate}"]
        return z + p[f"b_{gate}"]

    ys = []
    for x_t in np.asarray(x, np.float64):
        f = _sigmoid(act("f", x_t, c))
        i = 1.0 - f if variant.get("coupling") == "cifg" else _sigmoid(act("i", x_t, c))
        g = np.tanh(act("g", x_t, None))
        c = f * c + i * g
        if clip:
            c = np.clip(c, -clip["threshold"], clip["threshold"])
        h = _sigmoid(act("o", x_t, c)) * np.tanh(c)
        if variant.get("proj_size"):
            h = h @ p["W_proj"].T + (p["b_proj"] if variant.get("proj_bias") else 0.0)
            if variant.get("proj_clip"):
                h = np.clip(h, -variant["proj_clip"], variant["proj_clip"])
        ys.append(h)
    return {"y": np.stack(ys), "h_n": h, "c_n": c}


def make_case(variant: dict[str, Any], seed: int = 0) -> tuple[np.ndarray, ...]:
    """x (T, B, I) ~ 3 U(-1, 1), h0, c0 and the variant's parameters ~ U(-1, 1), as float32."""
    rng = np.random.default_rng(seed)
    p_size = variant.get("proj_size") or H
    gates = "fgo" if variant.get("coupling") == "cifg" else "ifgo"
    params: dict[str, np.ndarray] = {}
    for gate in gates:
        params[f"W_{gate}"] = rng.uniform(-1, 1, (H, I))
        params[f"U_{gate}"] = rng.uniform(-1, 1, (H, p_size))
        params[f"b_{gate}"] = rng.uniform(-1, 1, H)
        if variant.get("peephole") and gate != "g":
            params[f"p_{gate}"] = rng.uniform(-1, 1, H)
        if variant.get("layer_norm"):
            params[f"ln_{gate}"] = rng.uniform(0.5, 1.5, H)
    if p_size != H:
        params["W_proj"] = rng.uniform(-1, 1, (p_size, H))
        if variant.get("proj_bias"):
            params["b_proj"] = rng.uniform(-1, 1, p_size)
    x = 3.0 * rng.uniform(-1, 1, (T, B, I))
    h0, c0 = rng.uniform(-1, 1, (B, p_size)), rng.uniform(-1, 1, (B, H))
    f32 = {k: v.astype(np.float32) for k, v in params.items()}
    return x.astype(np.float32), h0.astype(np.float32), c0.astype(np.float32), f32


def max_error(out: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(out[k].astype(np.float64) - ref[k]))) for k in ("y", "h_n", "c_n"))


VARIANTS = {
    "plain": {},
    "peephole": {"peephole": True},
    "cifg": {"coupling": "cifg"},
    "cell_clip": {"clip": CELL_CLIP, "peephole": True},
    "projection": {"proj_size": P, "proj_bias": True, "proj_clip": 0.3},
    "layer_norm": {"layer_norm": True},
    "combined": {"peephole": True, "coupling": "cifg", "layer_norm": True, "proj_size": P,
                 "proj_bias": True, "proj_clip": 0.3, "clip": CELL_CLIP},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_matches_reference(name: str) -> None:
    variant = VARIANTS[name]
    x, h0, c0, params = make_case(variant)
    out = run_tflite_lstm(x, h0, c0, params, variant)
    p_size = variant.get("proj_size") or H
    assert out["y"].shape == (T, B, p_size) and out["y"].dtype == np.float32
    assert out["h_n"].shape == (B, p_size) and out["c_n"].shape == (B, H)
    assert max_error(out, reference(x, h0, c0, params, variant)) < TOL


@pytest.mark.parametrize("name", ["cell_clip", "projection"])
def test_clips_bind(name: str) -> None:
    """The clipping cases would fail without the clip: the thresholds bind on these inputs."""
    variant = VARIANTS[name]
    x, h0, c0, params = make_case(variant)
    out = run_tflite_lstm(x, h0, c0, params, variant)
    unclipped = {k: v for k, v in variant.items() if k not in ("clip", "proj_clip")}
    assert max_error(out, reference(x, h0, c0, params, unclipped)) > 1e-2


def test_layer_norm_epsilon_inside_sqrt() -> None:
    """Gate g's pre-activation tiny (var ~ 1e-10): epsilon 1e-8 inside the square root dominates it."""
    variant = VARIANTS["layer_norm"]
    x, h0, c0, params = make_case(variant)
    rng = np.random.default_rng(2)
    params["W_g"] = (1e-5 * rng.standard_normal((H, I))).astype(np.float32)
    params["U_g"] = np.zeros((H, H), np.float32)
    out = run_tflite_lstm(x, h0, c0, params, variant)
    assert max_error(out, reference(x, h0, c0, params, variant)) < TOL


@pytest.mark.parametrize("variant, key", [
    ({"direction": "forward"}, "direction"),
    ({"num_layers": 2}, "num_layers"),
    ({"lengths": "zero_fill"}, "lengths"),
    ({"activations": "hard_sigmoid"}, "activations"),
    ({"coupling": "input_forget"}, "coupling"),
    ({"clip": {"convention": "gate_preactivations", "threshold": 1.0}}, "clip"),
])
def test_unsupported_key_raises(variant: dict[str, Any], key: str) -> None:
    x, h0, c0, params = make_case({})
    with pytest.raises(ValueError, match=key):
        run_tflite_lstm(x, h0, c0, params, variant)
