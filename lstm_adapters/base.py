"""What the framework adapters share: the spec, a missing-framework skip and a dtype probe."""
from __future__ import annotations

import importlib
from functools import cached_property
from typing import Any, Mapping

import numpy as np


class FrameworkAdapter:
    """Base class: subclasses set `name`, `framework` (module to import), `install`
    (how to get it) and implement `_import()` and `run(x, h0, c0, params)` (the base LSTM).
    An adapter that runs more of the spec's variants overrides `supports(variant)` and
    `run_variant(inputs, params, variant) -> {name: array}`; `compute` routes to it."""

    name = "framework"
    framework = ""
    install = ""

    def __init__(self) -> None:
        self.missing: str | None = None
        self._dtype_reasons: dict[str, str | None] = {}
        try:
            self._import()
        except ImportError as exc:
            self.missing = (f"{self.framework} is not installed ({type(exc).__name__}: {exc}); "
                            f"install it with: {self.install}")

    def _import(self) -> None:
        importlib.import_module(self.framework)

    @cached_property
    def spec(self) -> Any:
        from lstm_conformance.spec.loader import load_spec
        return load_spec()

    def supports(self, variant: dict) -> bool:
        return not variant  # the base LSTM only, for now

    def skip_reason(self, variant: dict, dtype: str) -> str | None:
        """Why this framework cannot run `dtype` (its own error, from a 1-step probe), or None."""
        if self.missing:
            return self.missing
        if dtype not in self._dtype_reasons:
            self._dtype_reasons[dtype] = self._probe(dtype)
        return self._dtype_reasons[dtype]

    def _probe(self, dtype: str) -> str | None:
        """A skip reason only if the framework refuses `dtype` but runs the same probe at
        another dtype: an adapter that fails everywhere has a bug, and its cases must error."""
        error = self._probe_error(dtype)
        if error is None:
            return None
        other = "float32" if dtype != "float32" else "float64"
        if self._probe_error(other) is not None:
            return None  # not a dtype problem: let the cases run and report the error
        return f"{self.framework} cannot run {dtype}: {error}"

    def _probe_error(self, dtype: str) -> str | None:
        dt = np.dtype(dtype)
        params = {n: np.full(self.spec.shape_of("parameters", n, {"H": 1, "I": 1}), 0.5, dtype=dt)
                  for n in self.spec.parameter_names}
        one = np.full((1, 1), 0.5, dtype=dt)
        try:
            self.run(np.full((1, 1, 1), 0.5, dtype=dt), one, one, params)
        except Exception as exc:  # noqa: BLE001 - the framework's own words are the reason
            return f"{type(exc).__name__}: {_first_line(exc)}"
        return None

    def compute(self, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                variant: dict) -> dict[str, np.ndarray]:
        """The protocol's named call: the base LSTM through `run`, any other variant through `run_variant`."""
        if self.missing:
            raise RuntimeError(self.missing)
        if variant:
            return self.run_variant(inputs, params, variant)
        y, h_n, c_n = self.run(inputs["x"], inputs["h0"], inputs["c0"], params)
        return {"y": y, "h_n": h_n, "c_n": c_n}

    def run_variant(self, inputs: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                    variant: dict) -> dict[str, np.ndarray]:  # pragma: no cover - supports() keeps it away
        raise NotImplementedError(f"{self.name} does not run variant {variant}")

    def forward(self, x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                params: Mapping[str, np.ndarray], variant: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.missing:
            raise RuntimeError(self.missing)
        return self.run(x, h0, c0, params)

    def run(self, x, h0, c0, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def tensors(self, packing: str, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from lstm_conformance.packing.convert import to_packing
        return to_packing(self.spec, packing, params)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:600] if text else ""
