"""Speed benchmark: lstm_impl against a per-step column-vector LSTM, torch.nn.LSTM and its own GEMMs.

The CLI is ``tools/bench.py``; this module holds the code so it can be imported
and tested.  Method:

* Same parameters for every implementation (drawn once in float64 by
  ``lstm_impl.LSTM(seed=...)``, then rounded to the benchmark dtype), same
  inputs (seeded normal X, h0, c0).
* Before timing, every implementation's ``y`` is compared with lstm_impl's and
  the max abs difference is reported (a mismatch beyond the dtype's tolerance
  marks the row ``MISMATCH``).
* Before each timed run the benchmark sleeps ``pause`` seconds (default
  0.15): after a call, OpenBLAS's worker threads spin for about 0.1 s and
  OpenMP's for a while too, and on a small machine a spinning pool of the
  library that ran last steals cores from the one being timed (measured here:
  up to 2x on either side without the pause).
* Timed runs are interleaved: each repetition runs every implementation once,
  round-robin, so drifts in machine load hit all of them alike.  Each timed
  run follows an untimed 2-step warm-up of the same implementation (its BLAS
  or OpenMP worker threads may have gone to sleep while the others ran).
  Medians are reported, and ratio = implementation time / lstm_impl time.
* The per-step implementation costs O(T*B) Python-level matrix-vector calls,
  so above ``per_step_max_steps`` (T*B) it gets ``per_step_repeats`` runs only
  (0 = skipped), and is verified on the first few steps only; the table says so.
* torch runs with ``torch.no_grad()`` and ``torch.set_num_threads`` equal to
  the BLAS thread count NumPy uses (the header prints both).
* The ``gemms`` row is not an LSTM: it times the matrix products of the
  unfused design alone (one input-projection GEMM, then T step GEMMs), issue
  11's yardstick: the physical floor for a NumPy LSTM on the machine,
  whatever design lstm_impl uses.  (lstm_impl fuses the projection into T
  step GEMMs of (4H, H + I + 1): the same multiply-adds.)  The target lines
  use it to say how much of a missed target the GEMMs already take.
* ``OMP_WAIT_POLICY=PASSIVE`` is set (unless already set) when this module is
  imported, before torch is: torch's OpenMP workers then sleep instead of
  spinning after a call, and do not steal cores from the next implementation.

Issue-11 sections (``tools/bench.py --features`` / ``--memory``):

* ``--features``: at (100, 32, 64, 128), float32 and float64, each feature
  (``FEATURE_CASES``) is timed interleaved with its references and the table
  gives ratio = feature median / sum of the references' medians, with PASS or
  MISS against the target: bidirectional <= 2.1x one direction, a stack of two
  layers <= 1.05x the two layers run alone (layer 1 on layer 0's real output),
  random lengths (max T) <= 1.1x full length, each cell feature <= 1.3x the
  base path.
* ``--memory``: tracemalloc peak of one ``forward_sequence`` minus its outputs
  (y, h_n, c_n), at T = 200 and 2000: PASS if it does not grow with T.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

# torch fairness: OpenMP workers that spin after a call steal this small machine's cores from the
# implementation timed next; torch reads this when it is first imported (always after this module).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from tabulate import tabulate  # noqa: E402

from lstm_impl import LSTM  # noqa: E402

from .packing.convert import to_packing
from .spec.loader import Spec, load_spec  # noqa: E402

#: (T, B, I, H) sizes of the standard run.
DEFAULT_SIZES: tuple[tuple[int, int, int, int], ...] = (
    (64, 1, 32, 64),
    (100, 32, 64, 128),
    (200, 64, 256, 256),
)
DEFAULT_DTYPES: tuple[str, ...] = ("float32", "float64")
#: Max abs difference from lstm_impl that still counts as agreeing.
AGREE_ATOL: dict[str, float] = {"float16": 5e-2, "float32": 1e-4, "float64": 1e-10}
#: Issue 11's targets: (peer, sizes, dtypes, the least acceptable ratio peer / lstm_impl): lstm_impl within
#: 1.4x the GEMMs of the unfused design, at most 0.9x torch's time in float64, no slower than torch at B = 1.
#: (Issue 2's 10x-the-per-step-style target is retired: that peer is Python-bound and varies 1.5x from run
#: to run; it stays in the table for reference.)
TARGETS: tuple[tuple[str, tuple[tuple[int, int, int, int], ...], tuple[str, ...], float], ...] = (
    ("gemms", ((100, 32, 64, 128), (200, 64, 256, 256)), ("float32", "float64"), 1.0 / 1.4),
    ("torch", ((100, 32, 64, 128), (200, 64, 256, 256)), ("float64",), 1.0 / 0.9),
    ("torch", ((64, 1, 32, 64),), ("float32", "float64"), 1.0),
)
ENV_VARS: tuple[str, ...] = (
    "OMP_WAIT_POLICY",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)

Runner = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@functools.lru_cache(maxsize=1)
def _spec() -> Spec:
    """The packaged spec: its packings pack the peers' weights."""
    return load_spec()


# --------------------------------------------------------------------------- implementations
class PerStepLSTM:
    """The classic tutorial LSTM: per time step, per batch row, per gate.

    Each gate k has ``W_seed_k = [U_k | W_k]`` of shape (H, H + I) acting on the
    column ``[h; x]`` (H + I, 1), and a bias column ``b_k`` (H, 1); the state is
    a pair of (H, 1) columns.  This is the style lstm_impl replaces.
    """

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        tensors = to_packing(_spec(), "concatenated_per_gate", params)
        self.w_seed = {k: tensors[f"W_seed_{k}"] for k in "ifgo"}  # (H, H + I)
        self.b = {k: tensors[f"b_{k}"].reshape(-1, 1) for k in "ifgo"}  # (H, 1)

    @staticmethod
    def _sigmoid(z: np.ndarray) -> np.ndarray:
        # The tutorial formula; exp overflow at z < -709 correctly gives 0.
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step for one example: x (I, 1), h, c (H, 1) -> (h, c)."""
        hx = np.concatenate([h, x], axis=0)  # (H + I, 1)
        i = self._sigmoid(self.w_seed["i"] @ hx + self.b["i"])
        f = self._sigmoid(self.w_seed["f"] @ hx + self.b["f"])
        g = np.tanh(self.w_seed["g"] @ hx + self.b["g"])
        o = self._sigmoid(self.w_seed["o"] @ hx + self.b["o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        return h, c

    def forward_sequence(self, X: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> np.ndarray:
        """X (T, B, I), h0, c0 (B, H) -> y (T, B, H)."""
        t_len, b, _ = X.shape
        y = np.empty((t_len, b, h0.shape[1]), dtype=X.dtype)
        for r in range(b):
            h = h0[r].reshape(-1, 1)  # (H, 1)
            c = c0[r].reshape(-1, 1)  # (H, 1)
            for t in range(t_len):
                h, c = self.step(X[t, r].reshape(-1, 1), h, c)
                y[t, r] = h[:, 0]
        return y


def gemm_floor_runner(params: dict[str, np.ndarray], compute_dtype: np.dtype) -> Runner:
    """The GEMMs of the unfused LSTM design alone, no gate math, in lstm_impl's compute dtype.

    One input projection W_aug (4H, I + 1) @ [X | 1]^T (I + 1, T*B), then T step
    GEMMs U_all (4H, H) @ h^T (H, B), lstm_impl's feature-major orientation; every step
    reads h0, so no elementwise work is timed.  ``compute_dtype`` is
    ``LSTM.compute_dtype`` (float16 is computed in float32: NumPy has no float16
    BLAS).  Returns the last step's products.
    """
    cd = np.dtype(compute_dtype)
    stacked = to_packing(_spec(), "torch", params)  # the four gates stacked: (4H, I), (4H, H), (4H,)
    w_aug = np.ascontiguousarray(
        np.column_stack([stacked["weight_ih_l0"], stacked["bias_ih_l0"]]), dtype=cd
    )  # (4H, I + 1)
    u_all = np.ascontiguousarray(stacked["weight_hh_l0"], dtype=cd)  # (4H, H)

    def run(X: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> np.ndarray:
        t_len, b, i = X.shape
        x_aug = np.empty((t_len * b, i + 1), dtype=cd)  # (T*B, I + 1)
        x_aug[:, :i] = X.reshape(t_len * b, i)
        x_aug[:, i] = 1.0
        np.matmul(w_aug, x_aug.T)  # (4H, T*B)
        gates = np.empty((u_all.shape[0], b), dtype=cd)  # (4H, B)
        h_t = h0.astype(cd, copy=False).T  # (H, B)
        for _ in range(t_len):
            np.matmul(u_all, h_t, out=gates)
        return gates

    return run


def torch_runner(params: dict[str, np.ndarray], dtype: str, threads: int) -> Runner:
    """A torch.nn.LSTM holding ``params`` (loaded through the spec's torch packing), run without grad."""
    import torch

    torch.set_num_threads(threads)
    h, i = params["W_i"].shape
    tdtype = getattr(torch, dtype)
    model = torch.nn.LSTM(i, h).to(tdtype)
    tensors = to_packing(_spec(), "torch", params)  # weight_ih_l0 (4H, I), ..., bias_hh_l0 zeros
    model.load_state_dict({n: torch.from_numpy(np.array(a)) for n, a in tensors.items()}, strict=True)
    model.eval()

    def run(X: np.ndarray, h0: np.ndarray, c0: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out, _ = model(
                torch.from_numpy(X),
                (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]),  # (1, B, H)
            )
        return out.numpy()

    return run


def torch_available() -> tuple[bool, str]:
    """(importable, version or the import error)."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install
        return False, f"{type(exc).__name__}: {exc}"
    return True, torch.__version__


# --------------------------------------------------------------------------- environment
def blas_runtime() -> dict[str, Any]:
    """Best effort: the OpenBLAS core type and thread count NumPy is using."""
    info: dict[str, Any] = {"threads": None, "corename": None}
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        return info
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            get_threads = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            get_core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
            if get_threads is None:
                continue
            get_threads.restype = ctypes.c_int
            info["threads"] = int(get_threads())
            if get_core is not None:
                get_core.restype = ctypes.c_char_p
                info["corename"] = get_core().decode()
            return info
    return info


def numpy_blas_threads() -> int:
    """Threads NumPy's BLAS uses: asked from OpenBLAS, else the env, else the CPU count."""
    threads = blas_runtime()["threads"]
    if threads:
        return threads
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return max(1, int(os.environ[var]))
    return os.cpu_count() or 1


def header_lines(torch_threads: int | None) -> list[str]:
    """Versions, BLAS, threads and relevant environment variables."""
    cfg = np.show_config(mode="dicts")
    blas = cfg.get("Build Dependencies", {}).get("blas", {})
    rt = blas_runtime()
    lines = [
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs",
        f"numpy {np.__version__}; BLAS {blas.get('name', '?')} {blas.get('version', '')}"
        f" (core {rt['corename'] or '?'}, {rt['threads'] or '?'} threads)",
    ]
    ok, version = torch_available()
    if ok:
        import torch

        lines.append(
            f"torch {version}, CPU, {torch_threads} threads (set to match NumPy's BLAS), "
            f"mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}"
        )
    else:
        lines.append(f"torch: not importable ({version}); torch rows skipped")
    env = [f"{v}={os.environ[v]}" for v in ENV_VARS if v in os.environ]
    lines.append("env: " + (", ".join(env) if env else f"none of {', '.join(ENV_VARS)} set"))
    return lines


# --------------------------------------------------------------------------- running
@dataclasses.dataclass
class Row:
    """One (size, dtype, implementation) result."""

    size: tuple[int, int, int, int]
    dtype: str
    impl: str
    times: list[float]
    max_abs_diff: float | None
    note: str = ""
    ratio: float | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.times) * 1e3 if self.times else None


@dataclasses.dataclass
class Config:
    """Benchmark settings (the CLI's options)."""

    sizes: Sequence[tuple[int, int, int, int]] = DEFAULT_SIZES
    dtypes: Sequence[str] = DEFAULT_DTYPES
    repeats: int = 7
    impls: Sequence[str] = ("lstm_impl", "per-step", "torch", "gemms")
    per_step_max_steps: int = 4096
    per_step_repeats: int = 1
    torch_threads: int | None = None
    seed: int = 0
    pause: float = 0.15
    warmup: bool = True


def make_case(size: tuple[int, int, int, int], dtype: str, seed: int):
    """Params (rounded to dtype) and inputs X (T, B, I), h0, c0 (B, H)."""
    t_len, b, i, h = size
    rng = np.random.default_rng(seed)
    params = LSTM(i, h, seed=seed, forget_bias=1.0).params
    for k in ("b_i", "b_g", "b_o"):  # non-zero biases, so bias handling is checked too
        params[k] = 0.1 * rng.standard_normal(h)
    params = {k: v.astype(dtype) for k, v in params.items()}
    X = rng.standard_normal((t_len, b, i)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((b, h))).astype(dtype)
    c0 = rng.standard_normal((b, h)).astype(dtype)
    return params, X, h0, c0


def _time(fn: Runner, args: tuple[np.ndarray, ...]) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench_case(
    size: tuple[int, int, int, int], dtype: str, cfg: Config, log: Callable[[str], None] = print
) -> list[Row]:
    """Verify and time every selected implementation on one size and dtype."""
    params, X, h0, c0 = make_case(size, dtype, cfg.seed)
    t_len, b = size[0], size[1]
    model = LSTM.from_params(params)
    runners: dict[str, Runner] = {"lstm_impl": lambda x, h, c: model.forward_sequence(x, h, c)}
    reps: dict[str, int] = {"lstm_impl": cfg.repeats}
    notes: dict[str, str] = {"lstm_impl": ""}
    skipped: list[Row] = []
    if "per-step" in cfg.impls:
        slow = t_len * b > cfg.per_step_max_steps
        n = min(cfg.repeats, cfg.per_step_repeats) if slow else cfg.repeats
        if n > 0:
            runners["per-step"] = PerStepLSTM(params).forward_sequence
            reps["per-step"] = n
            notes["per-step"] = (
                f"{n} rep(s) only (T*B={t_len * b} > {cfg.per_step_max_steps}); "
                "verified on 4 steps" if slow else ""
            )
        else:
            skipped.append(Row(size, dtype, "per-step", [], None,
                               f"skipped: T*B={t_len * b} > {cfg.per_step_max_steps}"))
    if "torch" in cfg.impls:
        ok, version = torch_available()
        if ok:
            threads = cfg.torch_threads or numpy_blas_threads()
            runners["torch"] = torch_runner(params, dtype, threads)
            reps["torch"] = cfg.repeats
            notes["torch"] = ""
        else:
            skipped.append(Row(size, dtype, "torch", [], None, "skipped: torch not importable"))

    if "gemms" in cfg.impls:
        runners["gemms"] = gemm_floor_runner(params, model.compute_dtype)
        reps["gemms"] = cfg.repeats
        notes["gemms"] = "not an LSTM: the unfused design's GEMMs alone"

    # Verify (this also warms every implementation up).
    y_ref = model.forward_sequence(X, h0, c0)
    diffs: dict[str, float] = {}
    for name, run in list(runners.items()):
        short = name == "per-step" and "verified on" in notes[name]
        xs = X[:4] if short else X
        try:
            y = np.asarray(run(xs, h0, c0))
        except Exception as exc:  # e.g. a dtype torch has no CPU kernel for
            del runners[name]
            skipped.append(Row(size, dtype, name, [], None,
                               f"skipped: {type(exc).__name__}: {str(exc)[:60]}"))
            continue
        if name == "gemms":  # warmed up; its output is not an LSTM's
            continue
        diffs[name] = float(np.max(np.abs(y.astype(np.float64) - y_ref[: len(xs)])))
        if not diffs[name] <= AGREE_ATOL[dtype]:
            notes[name] = ("MISMATCH " + notes[name]).strip()
    log(f"  verified {size} {dtype}: " + ", ".join(f"{n} {d:.1e}" for n, d in diffs.items()))

    times: dict[str, list[float]] = {name: [] for name in runners}
    args = (X, h0, c0)
    warm = (X[:2], h0, c0)
    for rep in range(cfg.repeats):
        for name, run in runners.items():
            if rep < reps[name]:
                if cfg.pause:
                    time.sleep(cfg.pause)
                if cfg.warmup:  # wake this library's thread pool after the others ran
                    run(*warm)
                times[name].append(_time(run, args))
    rows = [Row(size, dtype, n, times[n], diffs.get(n), notes[n]) for n in runners] + skipped
    base = statistics.median(times["lstm_impl"])
    for row in rows:
        if row.times:
            row.ratio = statistics.median(row.times) / base
    return rows


def run(cfg: Config, log: Callable[[str], None] = print) -> list[Row]:
    """Run every size and dtype of ``cfg``; returns all rows."""
    rows: list[Row] = []
    for dtype in cfg.dtypes:
        for size in cfg.sizes:
            rows.extend(bench_case(tuple(size), dtype, cfg, log))
    return rows


# --------------------------------------------------------------------------- reporting
def table_rows(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells of the results table."""
    headers = ["T, B, I, H", "dtype", "impl", "median ms", "runs", "ratio", "max |diff|", "note"]
    cells = []
    for r in rows:
        cells.append([
            ", ".join(map(str, r.size)),
            r.dtype,
            r.impl,
            f"{r.median_ms:.2f}" if r.median_ms is not None else "-",
            str(len(r.times)),
            f"{r.ratio:.2f}" if r.ratio is not None else "-",
            f"{r.max_abs_diff:.1e}" if r.max_abs_diff is not None else "-",
            r.note,
        ])
    return headers, cells


def format_table(rows: Sequence[Row]) -> str:
    """The results table (GitHub markdown)."""
    headers, cells = table_rows(rows)
    return tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True)


def target_lines(rows: Sequence[Row]) -> tuple[list[str], bool]:
    """One line per target that could be evaluated, and whether all of them are met.

    Under a missed target, a second line says how much of lstm_impl's time
    budget the GEMMs alone (the ``gemms`` row) already take, when it was run.
    At B = 1 a line gives lstm_impl's time per step besides the GEMMs.
    """
    lines, all_met = [], True
    medians = {(r.impl, r.size, r.dtype): r.median_ms for r in rows if r.median_ms is not None}
    for impl, sizes, dtypes, least in TARGETS:
        for r in rows:
            if r.impl != impl or r.size not in sizes or r.dtype not in dtypes or r.ratio is None:
                continue
            met = r.ratio >= least
            all_met &= met
            want = f"lstm_impl >= {least:.0f}x faster" if least > 1 + 1e-9 and least == round(least) else (
                f"lstm_impl <= {1 / least:.2g}x {impl}'s time")
            lines.append(
                f"{'met    ' if met else 'NOT met'}  {impl:<8} {str(r.size):<20} {r.dtype}: "
                f"want {want}; ratio {impl}/lstm_impl = {r.ratio:.2f} (lstm_impl/{impl} = {1 / r.ratio:.2f})"
            )
            gemms = medians.get(("gemms", r.size, r.dtype))
            mine = medians.get(("lstm_impl", r.size, r.dtype))
            if not met and gemms is not None and mine is not None and r.median_ms is not None:
                allowed = r.median_ms / least  # the lstm_impl time that would meet the target
                left = allowed - gemms
                rest = f"everything else (gate math, copies) takes {mine - gemms:.2f} ms now"
                lines.append(
                    f"         the GEMMs alone take {gemms:.2f} ms of the {allowed:.2f} ms the target "
                    f"allows, leaving {left:.2f} ms ({left / r.size[0] * 1e3:.1f} us per step); {rest}"
                    if left > 0 else
                    f"         the GEMMs alone take {gemms:.2f} ms, more than the {allowed:.2f} ms "
                    f"the target allows; {rest}"
                )
    for (impl, size, dtype), mine in medians.items():
        gemms = medians.get(("gemms", size, dtype))
        if impl == "lstm_impl" and size[1] == 1 and gemms is not None:
            lines.append(f"info     B = 1    {str(size):<20} {dtype}: lstm_impl takes "
                         f"{(mine - gemms) / size[0] * 1e3:.1f} us per step besides the GEMMs")
    return lines, all_met


# --------------------------------------------------------------------------- features (issue 11)
#: (T, B, I, H) of the feature section.
FEATURE_SIZE: tuple[int, int, int, int] = (100, 32, 64, 128)
#: Feature runs: (name, variant, extra forward_sequence kwargs, reference runs, least acceptable ratio
#: name / sum(reference)).  "base" is the fused kernel (one layer, one direction); "base l1" is one layer
#: at the second layer's own input size (I = D*H = H).  "lengths" draws random lengths in [1, T] with
#: max T (row 0 has length T).
FEATURE_CASES: tuple[tuple[str, dict | None, str, tuple[str, ...], float], ...] = (
    ("bidirectional", {"direction": "bidirectional"}, "", ("base",), 2.1),
    ("stack L=2", {"num_layers": 2}, "", ("base", "base l1"), 1.05),
    ("lengths", None, "lengths", ("base",), 1.1),
    ("peephole", {"peephole": True}, "", ("base",), 1.3),
    ("proj_size", {"proj_size": "H/2"}, "", ("base",), 1.3),
    ("clip gate_preactivations", {"clip": {"convention": "gate_preactivations", "threshold": 3.0}}, "",
     ("base",), 1.3),
    ("clip activation_inputs", {"clip": {"convention": "activation_inputs", "threshold": 3.0}}, "",
     ("base",), 1.3),
    ("clip cell_state", {"clip": {"convention": "cell_state", "threshold": 3.0}}, "", ("base",), 1.3),
    ("coupling input_forget", {"coupling": "input_forget"}, "", ("base",), 1.3),
    ("coupling cifg", {"coupling": "cifg"}, "", ("base",), 1.3),
    ("layer_norm", {"layer_norm": True}, "", ("base",), 1.3),
)


@dataclasses.dataclass
class FeatureRow:
    """One feature target: the feature's median against the sum of its references' medians."""

    name: str
    dtype: str
    median_ms: float
    reference: tuple[str, ...]
    reference_ms: float
    limit: float

    @property
    def ratio(self) -> float:
        return self.median_ms / self.reference_ms

    @property
    def met(self) -> bool:
        return self.ratio <= self.limit


def feature_runners(
    size: tuple[int, int, int, int], dtype: str, seed: int = 0,
    cases: Sequence[tuple[str, dict | None, str, tuple[str, ...], float]] = FEATURE_CASES,
) -> dict[str, Callable[[], np.ndarray]]:
    """A no-argument runner per feature case and per reference ("base", "base l1"), all on the same X."""
    t_len, b, i, h = size
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((t_len, b, i)).astype(dtype)
    lengths = rng.integers(1, t_len + 1, size=b)
    lengths[0] = t_len  # max length T
    # The references are the two layers of the L=2 stack run alone: layer 1 on layer 0's real output.
    stack = LSTM(i, h, num_layers=2, seed=seed, dtype=dtype, forget_bias=1.0).params
    base = LSTM.from_params({k: v for k, v in stack.items() if "_l1" not in k})
    base_l1 = LSTM.from_params({k[:-3]: v for k, v in stack.items() if k.endswith("_l1")})
    X1 = base.forward_sequence(X)  # (T, B, H): the second layer's input (I = D*H, D = 1)
    runners: dict[str, Callable[[], np.ndarray]] = {
        "base": lambda: base.forward_sequence(X),
        "base l1": lambda: base_l1.forward_sequence(X1),
    }
    for name, variant, extra, _, _ in cases:
        if variant is None:
            model = base
        elif variant == {"num_layers": 2}:
            model = LSTM.from_params(stack, variant=variant)
        else:
            var = {k: (h // 2 if v == "H/2" else v) for k, v in variant.items()}
            model = LSTM(i, h, variant=var, seed=seed, dtype=dtype, forget_bias=1.0)
            if var.get("peephole"):  # non-zero peepholes, as trained models have
                params = model.params
                for k in params:
                    if k.startswith("p_"):
                        params[k] = 0.1 * rng.standard_normal(params[k].shape)
                model = LSTM.from_params(params, dtype=dtype, variant=var)
        kwargs = {"lengths": lengths} if extra == "lengths" else {}
        runners[name] = functools.partial(model.forward_sequence, X, **kwargs)
    return runners


def time_interleaved(
    runners: dict[str, Callable[[], Any]], repeats: int, pause: float = 0.0, warmup: bool = True,
) -> dict[str, list[float]]:
    """Each repetition runs every runner once, round-robin (after ``pause`` and one untimed warm-up run
    when ``warmup``); returns the times in seconds."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for run_ in runners.values():  # first call: imports, caches
        run_()
    for _ in range(repeats):
        for name, run_ in runners.items():
            if pause:
                time.sleep(pause)
            if warmup:
                run_()
            t0 = time.perf_counter()
            run_()
            times[name].append(time.perf_counter() - t0)
    return times


def feature_rows(
    medians_ms: dict[str, float], dtype: str,
    cases: Sequence[tuple[str, dict | None, str, tuple[str, ...], float]] = FEATURE_CASES,
) -> list[FeatureRow]:
    """The feature targets from median times in ms (cases whose runs are missing are left out)."""
    rows = []
    for name, _, _, refs, limit in cases:
        if name in medians_ms and all(r in medians_ms for r in refs):
            rows.append(FeatureRow(name, dtype, medians_ms[name], refs,
                                   sum(medians_ms[r] for r in refs), limit))
    return rows


def format_feature_table(rows: Sequence[FeatureRow]) -> str:
    """The feature targets table (GitHub markdown): ratio = feature / reference, PASS or MISS."""
    headers = ["feature", "dtype", "median ms", "reference", "ref ms", "ratio", "target", "result"]
    cells = [[r.name, r.dtype, f"{r.median_ms:.2f}", " + ".join(r.reference), f"{r.reference_ms:.2f}",
              f"{r.ratio:.2f}", f"<= {r.limit:.2f}", "PASS" if r.met else "MISS"] for r in rows]
    return tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True)


def run_features(size: tuple[int, int, int, int], dtypes: Sequence[str], repeats: int, pause: float = 0.0,
                 seed: int = 0, warmup: bool = True) -> list[FeatureRow]:
    """Time every feature case and its references, interleaved, per dtype; returns the target rows."""
    rows: list[FeatureRow] = []
    for dtype in dtypes:
        times = time_interleaved(feature_runners(size, dtype, seed), repeats, pause, warmup)
        rows.extend(feature_rows({n: statistics.median(t) * 1e3 for n, t in times.items()}, dtype))
    return rows


# --------------------------------------------------------------------------- working memory (issue 11)
#: Working memory may grow this much from the short to the long run and still count as independent of T.
MEMORY_SLACK = 1.10


@dataclasses.dataclass
class MemoryRow:
    """tracemalloc peak of one forward_sequence call, and that peak minus its outputs (y, h_n, c_n)."""

    size: tuple[int, int, int, int]
    dtype: str
    variant: str
    peak: int
    outputs: int

    @property
    def extra(self) -> int:
        return self.peak - self.outputs


def working_memory(size: tuple[int, int, int, int], dtype: str, variant: dict | None = None,
                   seed: int = 0) -> MemoryRow:
    """Peak bytes traced during ``forward_sequence(X, return_state=True)``; X and the model exist before."""
    import tracemalloc

    t_len, b, i, h = size
    model = LSTM(i, h, variant=variant, seed=seed, dtype=dtype)
    X = np.random.default_rng(seed).standard_normal((t_len, b, i)).astype(dtype)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        y, (h_n, c_n) = model.forward_sequence(X, return_state=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    name = ", ".join(f"{k}={v}" for k, v in (variant or {}).items()) or "base"
    return MemoryRow(tuple(size), dtype, name, peak, y.nbytes + h_n.nbytes + c_n.nbytes)


def memory_pairs(short: MemoryRow, long: MemoryRow) -> tuple[float, bool]:
    """(long.extra / short.extra, whether the working memory did not grow with T beyond MEMORY_SLACK)."""
    ratio = long.extra / max(short.extra, 1)
    return ratio, long.extra <= MEMORY_SLACK * short.extra


def run_memory(b: int, i: int, h: int, dtypes: Sequence[str], t_short: int = 200, t_long: int = 2000,
               variants: Sequence[dict | None] = (None, {"layer_norm": True, "peephole": True})
               ) -> list[tuple[MemoryRow, MemoryRow]]:
    """(short, long) working-memory rows per dtype and variant."""
    return [(working_memory((t_short, b, i, h), dt, v), working_memory((t_long, b, i, h), dt, v))
            for dt in dtypes for v in variants]


def format_memory_table(pairs: Sequence[tuple[MemoryRow, MemoryRow]]) -> str:
    """Working memory (peak minus outputs) at the short and long T; PASS if it does not grow with T."""
    headers = ["B, I, H", "dtype", "variant", "T", "peak KiB", "outputs KiB", "extra KiB",
               "B*(H+I) values KiB", "extra ratio long/short", "result"]
    cells = []
    for short, long in pairs:
        ratio, ok = memory_pairs(short, long)
        _, b, i, h = short.size
        scale = b * (h + i) * np.dtype(short.dtype).itemsize / 1024
        for r in (short, long):
            last = r is long
            cells.append([", ".join(map(str, r.size[1:])), r.dtype, r.variant, str(r.size[0]),
                          f"{r.peak / 1024:.0f}", f"{r.outputs / 1024:.0f}", f"{r.extra / 1024:.0f}",
                          f"{scale:.1f}", f"{ratio:.2f}" if last else "", ("PASS" if ok else "MISS") if last else ""])
    return tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True)
