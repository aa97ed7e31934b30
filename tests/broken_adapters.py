"""A catalog of deliberately broken LSTM adapters, for testing the conformance harness.

Every adapter here is built on `run_lstm`, a small NumPy LSTM written for this file
(independent of lstm_impl and lstm_conformance.reference) whose keyword "knobs"
reproduce real-world bugs. Each adapter is a zero-argument class that the harness
can load as `tests.broken_adapters:NAME` (from the repository root).

Three groups:

* `CorrectAdapter`: the control; passes every golden case at float64 and float32.
* `BROKEN`: wrong LSTMs. Each has a docstring naming the bug and a class attribute
  `convention`: a short machine-readable tag when the bug is a mix-up of two valid
  conventions (gate order, weight packing, bias convention, time direction, ...),
  None when it is plain wrong arithmetic or plumbing.
* `MISBEHAVING`: adapters that break the protocol (raise, hang, crash, return
  the wrong kind of thing), for the harness's robustness tests. The crashing ones
  kill the process they run in: use them only under process isolation.

Tags of `convention`: "gate_order:<order>" is the order in which the buggy kernel
reads the four gate blocks that were stacked in the canonical i, f, g, o order;
the others are named after the convention that was mixed up.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Mapping

import numpy as np

GATES = "ifgo"


# ---------------------------------------------------------------- the NumPy LSTM with knobs

def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow: exp only ever sees -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def hard_sigmoid(z: np.ndarray) -> np.ndarray:
    """Keras 2's hard_sigmoid: clip(0.2 z + 0.5, 0, 1)."""
    return np.clip(z * 0.2 + 0.5, 0, 1).astype(z.dtype)


def identity(z: np.ndarray) -> np.ndarray:
    return z


DEFAULT_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "i": sigmoid, "f": sigmoid, "g": np.tanh, "o": sigmoid}


def run_lstm(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, params: Mapping[str, np.ndarray], *,
             gate_order: str = GATES,
             activations: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
             cell_output: Callable[[np.ndarray], np.ndarray] = np.tanh,
             forget_bias: float = 0.0,
             double_bias: bool = False,
             reshape_weights: bool = False,
             concat_weights_xh: bool = False,
             compute_dtype: np.dtype | type | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The LSTM of spec/lstm.yaml, time-major; every knob at its default is correct.

    gate_order         the kernel reads the canonical i, f, g, o stacked blocks as these gates
    activations        per-gate activations replacing the defaults
    cell_output        the function of c in h = o * cell_output(c) (tanh)
    forget_bias        added to the forget gate's pre-activation
    double_bias        torch-style bias_ih + bias_hh, both set to the canonical bias
    reshape_weights    each weight reshaped (H, A) -> (A, H) and transposed instead of used as is
    concat_weights_xh  one stacked weight [W | U] applied to the concatenation [h; x]
    compute_dtype      the dtype of the arithmetic (default x.dtype); results cast back to x.dtype
    """
    out_dtype = x.dtype
    dtype = np.dtype(compute_dtype or x.dtype)
    x = np.asarray(x, dtype)
    h = np.asarray(h0, dtype)
    c = np.asarray(c0, dtype)
    p = {k: np.asarray(v, dtype) for k, v in params.items()}
    H = h.shape[1]

    W = {g: p[f"W_{g}"] for g in GATES}
    U = {g: p[f"U_{g}"] for g in GATES}
    b = {g: p[f"b_{g}"] for g in GATES}
    if gate_order != GATES:
        # stacked in canonical order, block k read as gate gate_order[k]
        W = {gate_order[k]: W[canon] for k, canon in enumerate(GATES)}
        U = {gate_order[k]: U[canon] for k, canon in enumerate(GATES)}
        b = {gate_order[k]: b[canon] for k, canon in enumerate(GATES)}
    if reshape_weights:
        W = {g: w.reshape(w.shape[1], w.shape[0]).T for g, w in W.items()}
        U = {g: u.reshape(u.shape[1], u.shape[0]).T for g, u in U.items()}
    if double_bias:
        b = {g: v + v for g, v in b.items()}
    if forget_bias:
        b = dict(b, f=b["f"] + dtype.type(forget_bias))
    act = dict(DEFAULT_ACTIVATIONS, **(activations or {}))
    stacked = {g: np.concatenate([W[g], U[g]], axis=1) for g in GATES} if concat_weights_xh else None

    ys = []
    for t in range(x.shape[0]):
        z = {}
        for g in GATES:
            if stacked is not None:
                z[g] = np.concatenate([h, x[t]], axis=1) @ stacked[g].T + b[g]
            else:
                z[g] = x[t] @ W[g].T + h @ U[g].T + b[g]
        gi, gf, gg, go = (act[g](z[g]) for g in GATES)
        c = gf * c + gi * gg
        h = go * cell_output(c)
        assert h.shape[1] == H
        ys.append(h)
    y = np.stack(ys)
    return y.astype(out_dtype), h.astype(out_dtype), c.astype(out_dtype)


class _Base:
    """An adapter over run_lstm with the knobs in `knobs`."""

    name = "broken"
    convention: str | None = None
    knobs: dict = {}

    def supports(self, variant: dict) -> bool:
        return not variant

    def lstm(self, x, h0, c0, params):
        return run_lstm(x, h0, c0, params, **self.knobs)

    def forward(self, x, h0, c0, params, variant):
        return self.lstm(x, h0, c0, params)


# ---------------------------------------------------------------- the control

class CorrectAdapter(_Base):
    """No bug: the control, which passes every case at float64 and float32."""

    name = "correct (tests.broken_adapters)"


# ---------------------------------------------------------------- broken LSTMs: gate order

class SwappedInputForgetGates(_Base):
    """Gate order f, i, g, o: the input and forget gate blocks swapped."""

    name = "swapped i/f gates"
    convention = "gate_order:figo"
    knobs = {"gate_order": "figo"}


class SwappedCandidateOutputGates(_Base):
    """Gate order i, f, o, g: the candidate and output blocks swapped (g used as o, o as g)."""

    name = "swapped g/o gates"
    convention = "gate_order:ifog"
    knobs = {"gate_order": "ifog"}


class OnnxGateOrderRead(_Base):
    """Weights stacked torch/Keras style (i, f, g, o) but split ONNX style (i, o, f, c)."""

    name = "ONNX gate order read"
    convention = "gate_order:iofg"
    knobs = {"gate_order": "iofg"}


class Tf1GateOrderRead(_Base):
    """Weights stacked i, f, g, o but split as TF1 LSTMCell does (i, j=g, f, o)."""

    name = "TF1 gate order read"
    convention = "gate_order:igfo"
    knobs = {"gate_order": "igfo"}


# ---------------------------------------------------------------- broken LSTMs: activations

class SigmoidCandidate(_Base):
    """The candidate g goes through sigmoid instead of tanh (so g is never negative)."""

    name = "sigmoid candidate"
    convention = None
    knobs = {"activations": {"g": sigmoid}}


class TanhOutputGate(_Base):
    """The output gate o goes through tanh instead of sigmoid (so o can be negative)."""

    name = "tanh output gate"
    convention = None
    knobs = {"activations": {"o": np.tanh}}


class HardSigmoidGates(_Base):
    """Keras 2 recurrent_activation='hard_sigmoid' (clip(0.2 z + 0.5, 0, 1)) for i, f and o."""

    name = "hard sigmoid gates"
    convention = "activation:hard_sigmoid"
    knobs = {"activations": {"i": hard_sigmoid, "f": hard_sigmoid, "o": hard_sigmoid}}


class MissingOutputTanh(_Base):
    """h = o * c instead of o * tanh(c)."""

    name = "missing output tanh"
    convention = None
    knobs = {"cell_output": identity}


# ---------------------------------------------------------------- broken LSTMs: weights and biases

class ReshapedWeights(_Base):
    """Each weight W (H, I) / U (H, H) reshaped to (I, H) and transposed instead of used as is.

    The torch (H, I) -> Keras kernel (I, H) copy done with reshape instead of .T: for a
    square matrix this is exactly W.T; for H != I the shapes still fit but the entries are
    scrambled. With H = 1 it is a no-op (the reshape of a single row is the same row).
    """

    name = "reshaped (transposed) weights"
    convention = "weights_transposed"
    knobs = {"reshape_weights": True}


class ConcatenationOrder(_Base):
    """One stacked weight per gate built as [W | U] but applied to [h; x] (spec packing: [U | W])."""

    name = "concatenation order"
    convention = "concat_order:xh"
    knobs = {"concat_weights_xh": True}


class ForgetBiasPlusOne(_Base):
    """TF1 LSTMCell's forget_bias=1.0 default added on top of the canonical b_f."""

    name = "forget bias +1"
    convention = "forget_bias:+1"
    knobs = {"forget_bias": 1.0}


class DoubledBias(_Base):
    """torch's bias_ih and bias_hh both set to the canonical bias, so the bias counts twice."""

    name = "doubled bias"
    convention = "bias:doubled"
    knobs = {"double_bias": True}


# ---------------------------------------------------------------- broken LSTMs: time

class ShiftedOutput(_Base):
    """Off by one in time: y[t] holds h_{t-1} (y starts with h0 and drops the last h)."""

    name = "y shifted by one step"
    convention = "time:shifted_output"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return np.concatenate([h0[None], y[:-1]]), h_n, c_n


class ReversedInput(_Base):
    """Processes x backwards (t = T-1 .. 0) and returns y in processing order (a reverse-direction LSTM)."""

    name = "time-reversed input"
    convention = "time:reversed_input"

    def forward(self, x, h0, c0, params, variant):
        return self.lstm(x[::-1], h0, c0, params)


class ReversedOutput(_Base):
    """Computes correctly but returns y flipped in time (h_n and c_n are right)."""

    name = "time-reversed output"
    convention = "time:reversed_output"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return np.ascontiguousarray(y[::-1]), h_n, c_n


# ---------------------------------------------------------------- broken LSTMs: state and plumbing

class IgnoresH0(_Base):
    """Starts from h = 0 whatever h0 is."""

    name = "ignores h0"
    convention = None

    def forward(self, x, h0, c0, params, variant):
        return self.lstm(x, np.zeros_like(h0), c0, params)


class IgnoresC0(_Base):
    """Starts from c = 0 whatever c0 is."""

    name = "ignores c0"
    convention = None

    def forward(self, x, h0, c0, params, variant):
        return self.lstm(x, h0, np.zeros_like(c0), params)


class SwappedFinalStates(_Base):
    """Returns (y, c_n, h_n): the final cell state in place of the final hidden state."""

    name = "swapped final states"
    convention = None

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return y, c_n, h_n


class FirstRowInitialState(_Base):
    """Batch mix-up: the initial state of batch row 0 is broadcast to every row."""

    name = "row 0 initial state for all rows"
    convention = None

    def forward(self, x, h0, c0, params, variant):
        h0 = np.ascontiguousarray(np.broadcast_to(h0[:1], h0.shape))
        c0 = np.ascontiguousarray(np.broadcast_to(c0[:1], c0.shape))
        return self.lstm(x, h0, c0, params)


class RolledBatch(_Base):
    """Batch mix-up: outputs come back with the batch rows rotated by one (a sort not undone)."""

    name = "batch rows rolled"
    convention = None

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return np.roll(y, 1, axis=1), np.roll(h_n, 1, axis=0), np.roll(c_n, 1, axis=0)


# ---------------------------------------------------------------- broken LSTMs: precision

class Float32Internally(_Base):
    """Casts to float32, computes, casts back: right at float32, about 1e-7 off at float64."""

    name = "float32 internally"
    convention = None
    knobs = {"compute_dtype": np.float32}


class OffByOneNano(_Base):
    """Adds 1e-9 to y, h_n and c_n: invisible at float32, must be flagged at float64."""

    name = "outputs off by 1e-9"
    convention = None

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        eps = x.dtype.type(1e-9)
        return y + eps, h_n + eps, c_n + eps


BROKEN = [
    SwappedInputForgetGates, SwappedCandidateOutputGates, OnnxGateOrderRead, Tf1GateOrderRead,
    SigmoidCandidate, TanhOutputGate, HardSigmoidGates, MissingOutputTanh,
    ReshapedWeights, ConcatenationOrder, ForgetBiasPlusOne, DoubledBias,
    ShiftedOutput, ReversedInput, ReversedOutput,
    IgnoresH0, IgnoresC0, SwappedFinalStates, FirstRowInitialState, RolledBatch,
    Float32Internally, OffByOneNano,
]


# ---------------------------------------------------------------- misbehaving adapters

class Raises(_Base):
    """forward raises an exception."""

    name = "raises"

    def forward(self, x, h0, c0, params, variant):
        raise RuntimeError("simulated kernel failure: CUDNN_STATUS_BAD_PARAM")


class Hangs(_Base):
    """forward never returns (sleeps an hour)."""

    name = "hangs"

    def forward(self, x, h0, c0, params, variant):
        time.sleep(3600)


class TorchStateShape(_Base):
    """Returns h_n and c_n as (num_layers=1, B, H), torch style: the wrong shape."""

    name = "torch-shaped states"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return y, h_n[None], c_n[None]


class ReturnsList(_Base):
    """Returns y as a nested Python list instead of an array."""

    name = "y as a list"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return y.tolist(), h_n, c_n


class ReturnsNaN(_Base):
    """One NaN in y (at t = 0, row 0, unit 0)."""

    name = "NaN in y"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        y = y.copy()
        y[0, 0, 0] = np.nan
        return y, h_n, c_n


class ReturnsInf(_Base):
    """c_n is +inf everywhere."""

    name = "inf in c_n"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return y, h_n, np.full_like(c_n, np.inf)


class ReturnsFloat64(_Base):
    """Always computes and returns float64, whatever dtype it was given."""

    name = "always float64"

    def forward(self, x, h0, c0, params, variant):
        return run_lstm(x.astype(np.float64), h0.astype(np.float64), c0.astype(np.float64),
                        {k: v.astype(np.float64) for k, v in params.items()})


class ReturnsPair(_Base):
    """Returns (y, (h_n, c_n)), torch's nn.LSTM convention: a 2-tuple."""

    name = "torch-style pair"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return y, (h_n, c_n)


class Exits(_Base):
    """Ends its process with os._exit(3) (process isolation only)."""

    name = "exits"

    def forward(self, x, h0, c0, params, variant):
        os._exit(3)


class Aborts(_Base):
    """Ends its process with os.abort(), i.e. SIGABRT (process isolation only)."""

    name = "aborts"

    def forward(self, x, h0, c0, params, variant):
        os.abort()


def factory_raises():
    """A factory that fails, as one whose framework is not installed would."""
    raise RuntimeError("simulated: the framework is not installed")


class NotAnAdapter:
    """Has a name but no supports/forward: not an adapter at all."""

    name = "not an adapter"


class Unsupported(_Base):
    """Supports no variant at all: every case is skipped."""

    name = "unsupported"

    def supports(self, variant: dict) -> bool:
        return False


class NoFloat64(_Base):
    """Correct, but skips float64 with a reason (like ONNX Runtime's LSTM)."""

    name = "no float64"
    SKIP_REASON = "this implementation has no float64 kernel"

    def skip_reason(self, variant: dict, dtype: str) -> str | None:
        return self.SKIP_REASON if dtype == "float64" else None


class MisbehavesByCase(_Base):
    """Correct, except that it hangs when T == 1 and exits the process when T == 2.

    For checking that the run goes on after a hang or a crash: base-T1-B1-I1-H1 hangs,
    base-T2-B1-I1-H1 kills the worker, every other case passes.
    """

    name = "misbehaves on T=1 and T=2"

    def forward(self, x, h0, c0, params, variant):
        if x.shape[0] == 1:
            time.sleep(3600)
        if x.shape[0] == 2:
            os._exit(3)
        return self.lstm(x, h0, c0, params)


class HangsOnT1(_Base):
    """Correct, except that it hangs when T == 1 (base-T1-B1-I1-H1); safe in-process."""

    name = "hangs on T=1"

    def forward(self, x, h0, c0, params, variant):
        if x.shape[0] == 1:
            time.sleep(3600)
        return self.lstm(x, h0, c0, params)


class RaisesOnT1(_Base):
    """Correct, except that it raises when T == 1."""

    name = "raises on T=1"

    def forward(self, x, h0, c0, params, variant):
        if x.shape[0] == 1:
            raise ValueError("no kernel for a sequence of length 1")
        return self.lstm(x, h0, c0, params)


MISBEHAVING = [Raises, Hangs, TorchStateShape, ReturnsList, ReturnsNaN, ReturnsInf, ReturnsFloat64,
               ReturnsPair, Exits, Aborts, MisbehavesByCase, HangsOnT1, RaisesOnT1]


# ---------------------------------------------------------------- broken LSTMs for localization
# Not in BROKEN (its expectations live in tests/test_broken_adapters.py): diagnosis must
# localize these bugs (tests/test_diagnosis.py), and name BatchFirstOutput's convention.

def run_lstm_steps(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, params: Mapping[str, np.ndarray], *,
                   h_from_c_prev: bool = False, cell_drift: float = 0.0,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spec's LSTM step by step, with two more knobs (defaults: correct).

    h_from_c_prev  h = o * tanh(c_prev): the output reads the previous step's cell
    cell_drift     c picks up cell_drift * (t + 1) at step t, outside the forget gate
    """
    h, c, ys = h0, c0, []
    for t, x_t in enumerate(x):  # x_t (B, I)
        z = {g: x_t @ params[f"W_{g}"].T + h @ params[f"U_{g}"].T + params[f"b_{g}"] for g in GATES}
        c_prev = c
        c = sigmoid(z["f"]) * c_prev + sigmoid(z["i"]) * np.tanh(z["g"]) + x.dtype.type(cell_drift * (t + 1))
        h = sigmoid(z["o"]) * np.tanh(c_prev if h_from_c_prev else c)
        ys.append(h)
    return np.stack(ys), h, c  # (T, B, H), (B, H), (B, H)


class HFromPreviousCell(_Base):
    """h = o * tanh(c_prev): the output equation reads the previous step's cell, not the new one.

    With T = 1, c_n is right while y and h_n are wrong; from step 1 on the wrong h also
    feeds the gates, so every output goes wrong.
    """

    name = "h from the previous cell"

    def forward(self, x, h0, c0, params, variant):
        return run_lstm_steps(x, h0, c0, params, h_from_c_prev=True)


class StateResetEachStep(_Base):
    """Restarts every step from h0 and c0 (the state is never carried): step 0 is right, later steps drift."""

    name = "state reset at each step"

    def forward(self, x, h0, c0, params, variant):
        steps = [run_lstm(x[t:t + 1], h0, c0, params) for t in range(x.shape[0])]  # each (1, B, H), (B, H), (B, H)
        return np.concatenate([s[0] for s in steps]), steps[-1][1], steps[-1][2]


class LastRowZeroState(_Base):
    """The last batch row starts from h = c = 0 (initial states copied with h0[:-1], an off-by-one)."""

    name = "last batch row starts from zero"

    def forward(self, x, h0, c0, params, variant):
        h0, c0 = h0.copy(), c0.copy()
        h0[-1], c0[-1] = 0, 0
        return self.lstm(x, h0, c0, params)


class DriftingCell(_Base):
    """c picks up 1e-9 * (t + 1) at step t outside the forget gate: an error that grows with t."""

    name = "drifting cell"

    def forward(self, x, h0, c0, params, variant):
        return run_lstm_steps(x, h0, c0, params, cell_drift=1e-9)


class BatchFirstOutput(_Base):
    """Returns y batch-first, (B, T, H) (torch batch_first=True, Keras): the time and batch axes swapped."""

    name = "batch-first y"
    convention = "layout:batch_first_output"

    def forward(self, x, h0, c0, params, variant):
        y, h_n, c_n = self.lstm(x, h0, c0, params)
        return np.ascontiguousarray(y.transpose(1, 0, 2)), h_n, c_n  # (T, B, H) -> (B, T, H)


LOCALIZE = [HFromPreviousCell, StateResetEachStep, LastRowZeroState, DriftingCell, BatchFirstOutput]


# ---------------------------------------------------------------- broken sequence structure (compute adapters)
#
# Wrong LSTMs over the spec's variants (direction, layers, per-row lengths), each a
# compute(inputs, params, variant) adapter over `_impl_run` below (run_lstm, this file's own NumPy
# LSTM, composed into runs, layers and row lengths as spec/lstm.yaml describes; like the rest of the
# catalog it does not import lstm_impl or the harness, which are under test) with one bug in how runs,
# layers or lengths are put together. supports() accepts only the variants where the bug means
# something; `convention` is the hypothesis id in spec/conventions.yaml that explains it, None where no
# known convention does. Not in BROKEN: tests/test_broken_adapters.py pins BROKEN's verdicts on the
# base cases.

import re as _re

_CELL_NAME = _re.compile(r"^(?P<base>[A-Za-z]_[a-z])(?:_l(?P<layer>\d+))?(?P<run>_reverse)?$")


def _one_run(params: Mapping[str, np.ndarray], x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
             lengths: np.ndarray | None, reverse: bool, empty_zeros: bool) -> tuple:
    """One run over every row: row b reads x[:len_b, b] (backwards when `reverse`), y is 0 past len_b,
    the final state is the one after the row's last step (a row of length 0: h0, c0, or zeros)."""
    T, B = x.shape[:2]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    y = np.zeros((T, B, h0.shape[-1]), dtype=x.dtype)
    h, c = h0.copy(), c0.copy()
    for b, n in enumerate(lengths):
        if n == 0:
            if empty_zeros:
                h[b], c[b] = 0, 0
            continue
        xs = x[:n, b:b + 1][::-1] if reverse else x[:n, b:b + 1]
        yb, hb, cb = run_lstm(np.ascontiguousarray(xs), h0[b:b + 1], c0[b:b + 1], params)
        y[:n, b] = (yb[::-1] if reverse else yb)[:, 0]
        h[b], c[b] = hb[0], cb[0]
    return y, h, c


def _impl_run(params: Mapping[str, np.ndarray], variant: Mapping, x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
              lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, h_n, c_n) of `variant` (correct): layers of runs, [forward | reverse] on y's last axis, states
    (L * D, B, H) at layer * D + run when L * D > 1."""
    L, D = variant.get("num_layers", 1), _runs(variant)
    runs = ["forward", "reverse"] if D == 2 else ["reverse" if variant.get("direction") == "reverse" else "forward"]
    empty_zeros = variant.get("empty_rows") == "zeros"
    h0s = h0.reshape(L * D, *h0.shape[-2:])
    c0s = c0.reshape(L * D, *c0.shape[-2:])
    hs, cs = [], []
    for layer in range(L):
        cell = _layer_params(params, layer)
        ys = []
        for r, run in enumerate(runs):
            suffix = "_reverse" if D == 2 and run == "reverse" else ""
            p = {f"{g}_{k}": cell[f"{g}_{k}{suffix}"] for g in "WUb" for k in GATES}
            y, h, c = _one_run(p, x, h0s[layer * D + r], c0s[layer * D + r], lengths, run == "reverse", empty_zeros)
            ys.append(y)
            hs.append(h)
            cs.append(c)
        x = np.concatenate(ys, axis=-1)
    if L * D == 1:
        return x, hs[0], cs[0]
    return x, np.stack(hs), np.stack(cs)


def _layer_params(params: Mapping[str, np.ndarray], layer: int) -> dict[str, np.ndarray]:
    """Layer `layer`'s parameters under layer 0's names (W_i_l1_reverse -> W_i_reverse)."""
    out = {}
    for name, value in params.items():
        m = _CELL_NAME.match(name)
        if m and int(m["layer"] or 0) == layer:
            out[m["base"] + (m["run"] or "")] = value
    return out


def _one_layer(variant: Mapping) -> dict:
    return {k: v for k, v in variant.items() if k != "num_layers"}


def _without_lengths(variant: Mapping) -> dict:
    return {k: v for k, v in variant.items() if k not in ("lengths", "empty_rows")}


def _runs(variant: Mapping) -> int:
    return 2 if variant.get("direction") == "bidirectional" else 1


def _by_layer(inputs: Mapping, params: Mapping, variant: Mapping, layer_run: Callable) -> tuple:
    """Layers composed one by one: layer_run(layer, x, h0, c0, lengths, layer_params, layer_variant) ->
    (y, h_n, c_n) of one layer (states (D, B, H), or (B, H) with one run). States stacked (L * D, B, H)."""
    L, D = variant.get("num_layers", 1), _runs(variant)
    x, h0, c0, lengths = inputs["x"], inputs["h0"], inputs["c0"], inputs.get("seq_lengths")
    hs, cs = [], []
    for layer in range(L):
        sl = slice(layer * D, (layer + 1) * D)
        lh0, lc0 = (h0[sl], c0[sl]) if L * D > 1 else (h0, c0)
        if D == 1 and L > 1:
            lh0, lc0 = lh0[0], lc0[0]
        x, h, c = layer_run(layer, x, lh0, lc0, lengths, _layer_params(params, layer), _one_layer(variant))
        hs.append(h.reshape(D, *h.shape[-2:]))
        cs.append(c.reshape(D, *c.shape[-2:]))
    if L * D == 1:
        return x, hs[0][0], cs[0][0]
    return x, np.concatenate(hs), np.concatenate(cs)


def _correct_layer(layer, x, h0, c0, lengths, params, variant):
    return _impl_run(params, variant, x, h0, c0, lengths)


SEQUENCE_FEATURES = frozenset({"direction", "num_layers", "lengths", "empty_rows"})


class _Structured:
    """A compute adapter over run_structure (_impl_run); subclasses break one thing in `run`."""

    name = "broken structure"
    convention: str | None = None
    needs: tuple[str, ...] = ()     # features the variant must set for the bug to mean something
    bidirectional_only = False

    def supports(self, variant: dict) -> bool:
        if not set(variant) <= SEQUENCE_FEATURES:  # run_structure composes the base cell only
            return False
        if self.bidirectional_only and variant.get("direction") != "bidirectional":
            return False
        return all(f in variant for f in self.needs)

    def run(self, inputs, params, variant):
        return _impl_run(params, variant, inputs["x"], inputs["h0"], inputs["c0"], inputs.get("seq_lengths"))

    def compute(self, inputs, params, variant):
        y, h_n, c_n = self.run(inputs, params, variant)
        return {"y": np.ascontiguousarray(y), "h_n": np.ascontiguousarray(h_n), "c_n": np.ascontiguousarray(c_n)}


def _valid(inputs: Mapping, T: int, B: int) -> np.ndarray:
    lengths = inputs.get("seq_lengths")
    return np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths)


class ReverseOutputInProcessingOrder(_Structured):
    """keras-onnx#523: a Keras go_backwards layer converted to ONNX without flipping its output back, so
    the reverse run's part of y comes in processing order (y[t] is the step that read x[len_b - 1 - t])."""

    name = "reverse run's y in processing order"
    convention = "layout:reverse_output_in_processing_order"
    needs = ("direction",)

    def run(self, inputs, params, variant):
        y, h_n, c_n = super().run(inputs, params, variant)
        y = y.copy()
        D = _runs(variant)
        H = y.shape[2] // D
        part = slice((D - 1) * H, D * H)  # the reverse run is the last of [forward | reverse]
        for b, n in enumerate(_valid(inputs, *y.shape[:2])):
            y[:n, b, part] = y[:n, b, part][::-1].copy()
        return y, h_n, c_n


class ReverseStartsAtT(_Structured):
    """tensorflow-onnx#1871 (and onnxruntime#12492): post-padding assumed away, the reverse run is a plain
    ReverseV2 over all T steps, so it starts at t = T-1 and reads the padding before each row's last valid
    step; the output mask still zeroes y past each row's length."""

    name = "reverse run starts at T-1"
    convention = "lengths:reverse_starts_at_T-1"
    needs = ("direction", "lengths")

    def run(self, inputs, params, variant):
        def layer_run(layer, x, h0, c0, lengths, p, v):
            y, h, c = _impl_run(p, v, x, h0, c0, lengths)  # the forward run is right
            fy, fh, fc = _impl_run(p, _without_lengths(v), x, h0, c0)  # every step, padding included
            D, H = _runs(v), y.shape[2] // _runs(v)
            y, fy = y.copy(), fy.copy()
            for b, n in enumerate(lengths):
                fy[n:, b] = 0
            y[..., (D - 1) * H:] = fy[..., (D - 1) * H:]
            if D == 1:
                return y, fh, fc
            h, c = h.copy(), c.copy()
            h[1], c[1] = fh[1], fc[1]
            return y, h, c
        return _by_layer(inputs, params, variant, layer_run)


class SwappedDirectionHalves(_Structured):
    """The two runs concatenated the wrong way round, [reverse | forward] on y's last axis and in the
    stacked states: a hand-built Bidirectional (or an exporter's Concat) that lists the backward layer
    first, which torch, ONNX and Keras all put second."""

    name = "forward/reverse halves swapped"
    convention = "layout:directions_swapped"
    bidirectional_only = True

    def run(self, inputs, params, variant):
        y, h_n, c_n = super().run(inputs, params, variant)
        H = y.shape[2] // 2
        y = np.concatenate([y[..., H:], y[..., :H]], axis=-1)
        L = variant.get("num_layers", 1)
        swap = lambda s: s.reshape(L, 2, *s.shape[1:])[:, ::-1].reshape(s.shape)  # noqa: E731
        return y, swap(h_n), swap(c_n)


class DirectionAxisPermuted(_Structured):
    """pytorch#10838: a [T, B, D, H] output reshaped as if it were [T, B, H, D] (or ONNX's [T, D, B, H] Y
    transposed with the wrong perm), which interleaves the two runs' units on y's last axis."""

    name = "y's direction axis permuted"
    convention = "layout:direction_axis_permuted"
    bidirectional_only = True

    def run(self, inputs, params, variant):
        y, h_n, c_n = super().run(inputs, params, variant)
        T, B, DH = y.shape
        return y.reshape(T, B, 2, DH // 2).transpose(0, 1, 3, 2).reshape(T, B, DH), h_n, c_n


class HnDirectionMajor(_Structured):
    """A stacked bidirectional LSTM exported as one ONNX node per layer whose Y_h ([D, B, H] each) are
    gathered per direction first: h_n and c_n indexed direction * L + layer instead of torch's
    layer * D + direction (pytorch's h_n layout, docs of nn.LSTM)."""

    name = "h_n direction-major"
    convention = "layout:states_direction_major"
    needs = ("num_layers",)
    bidirectional_only = True

    def run(self, inputs, params, variant):
        y, h_n, c_n = super().run(inputs, params, variant)
        L = variant["num_layers"]
        order = lambda s: s.reshape(L, 2, *s.shape[1:]).transpose(1, 0, 2, 3).reshape(s.shape)  # noqa: E731
        return y, order(h_n), order(c_n)


class PaddingRepeated(_Structured):
    """onnxruntime#12492 / Keras masking: at a masked step the output repeats the previous one unless
    zero_output_for_mask=True, so y past each row's length holds y[len_b - 1] instead of 0."""

    name = "padding repeats the last output"
    convention = "lengths:padding_repeated"
    needs = ("lengths",)

    def run(self, inputs, params, variant):
        y, h_n, c_n = super().run(inputs, params, variant)
        y = y.copy()
        for b, n in enumerate(inputs["seq_lengths"]):
            if n > 0:
                y[n:, b] = y[n - 1, b]
        return y, h_n, c_n


class EmptyRowsZeros(_Structured):
    """ONNX Runtime's rule for rows of length 0 (deep_cpu_lstm.cc zeroes Y_h and Y_c) without declaring
    conventions = {"empty_rows": "zeros"}: judged under the canonical initial_state, where such a row
    keeps h0 and c0."""

    name = "empty rows return zeros (undeclared)"
    convention = "lengths:empty_rows_zeros"
    needs = ("lengths",)

    def run(self, inputs, params, variant):
        return _impl_run(params, {**variant, "empty_rows": "zeros"}, inputs["x"], inputs["h0"], inputs["c0"],
                         inputs["seq_lengths"])


class BatchFirstOutputAnyVariant(_Structured):
    """torch's batch_first=True (or ONNX layout=1, openvino#37820) leaking into the output: y returned as
    (B, T, D * H) for every variant, h_n and c_n right."""

    name = "batch-first y (any variant)"
    convention = "layout:batch_first_output"

    def supports(self, variant: dict) -> bool:
        return set(variant) <= SEQUENCE_FEATURES

    def run(self, inputs, params, variant):
        y, h_n, c_n = super().run(inputs, params, variant)
        return y.transpose(1, 0, 2), h_n, c_n


class IgnoresLengths(_Structured):
    """The ONNX reference evaluator of older onnx versions (and ONNX Runtime's own LSTM.py test model):
    sequence_lens ignored, every row runs all T steps over the padding; y is not zeroed and h_n, c_n are
    taken at T-1."""

    name = "ignores seq_lengths"
    needs = ("lengths",)

    def run(self, inputs, params, variant):
        return _impl_run(params, _without_lengths(variant), inputs["x"], inputs["h0"], inputs["c0"])


class IgnoresSecondLayerState(_Structured):
    """A stacked LSTM exported as one node per layer where only the first node gets initial_h / initial_c
    (the others start from zeros), as converters that map h0 onto the first layer do."""

    name = "upper layers start from zeros"
    needs = ("num_layers",)

    def run(self, inputs, params, variant):
        def layer_run(layer, x, h0, c0, lengths, p, v):
            if layer:
                h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
            return _impl_run(p, v, x, h0, c0, lengths)
        return _by_layer(inputs, params, variant, layer_run)


class ReadsPaddingInLayer2(_Structured):
    """A stacked LSTM where sequence_lens reaches only the first layer's node (pytorch#48460 / #41774-style
    lengths lost at export): layer 1 and up run over every step, reading the zeroed padding of the layer
    below, and return it unmasked."""

    name = "upper layers ignore lengths"
    needs = ("num_layers", "lengths")

    def run(self, inputs, params, variant):
        def layer_run(layer, x, h0, c0, lengths, p, v):
            return _impl_run(p, v if layer == 0 else _without_lengths(v), x, h0, c0, lengths if layer == 0 else None)
        return _by_layer(inputs, params, variant, layer_run)


class BidirSharedWeights(_Structured):
    """The reverse run given the forward run's parameters: an importer that reads only direction 0 of
    ONNX's [D, 4H, I] W / R / B tensors (or a Keras Bidirectional whose backward layer shares the
    forward layer's weights)."""

    name = "reverse run shares the forward weights"
    bidirectional_only = True

    def run(self, inputs, params, variant):
        shared = {k: params[k.replace("_reverse", "")] if k.endswith("_reverse") else v for k, v in params.items()}
        return super().run(inputs, shared, variant)


class LengthsOffByOne(_Structured):
    """Lengths taken as the last valid index (len_b - 1, as flax's seq_lengths - 1 gather or an exporter
    that passes end indices): every row stops one step early."""

    name = "lengths off by one"
    needs = ("lengths",)

    def run(self, inputs, params, variant):
        lengths = np.maximum(np.asarray(inputs["seq_lengths"]) - 1, 0)
        return _impl_run(params, variant, inputs["x"], inputs["h0"], inputs["c0"], lengths)


STRUCTURE = [ReverseOutputInProcessingOrder, ReverseStartsAtT, SwappedDirectionHalves, DirectionAxisPermuted,
             HnDirectionMajor, PaddingRepeated, EmptyRowsZeros, BatchFirstOutputAnyVariant, IgnoresLengths,
             IgnoresSecondLayerState, ReadsPaddingInLayer2, BidirSharedWeights, LengthsOffByOne]


# ---------------------------------------------------------------- cell-feature bugs (compute adapters)
#
# Each computes a cell feature the way some runtime or converter does instead of the way the case says.
# They run this catalog's own plain NumPy cell (run_cell_lstm, independent of lstm_impl) on a changed
# variant or changed parameters, or with one line changed.

CELL_FEATURES = frozenset({"peephole", "coupling", "clip", "proj_size", "proj_bias", "proj_clip", "layer_norm",
                           "activations"})

# ONNX's activation functions in plain NumPy, this catalog's own: name -> f(z, alpha, beta)
ACTIVATIONS = {
    "Sigmoid": lambda z, a, b: _sig(z),
    "Tanh": lambda z, a, b: np.tanh(z),
    "Relu": lambda z, a, b: np.maximum(z, 0.0),
    "Affine": lambda z, a, b: a * z + b,
    "LeakyRelu": lambda z, a, b: np.where(z >= 0, z, a * z),
    "ThresholdedRelu": lambda z, a, b: np.where(z > a, z, 0.0),
    "ScaledTanh": lambda z, a, b: a * np.tanh(b * z),
    "HardSigmoid": lambda z, a, b: np.clip(a * z + b, 0.0, 1.0),
    "Elu": lambda z, a, b: np.where(z >= 0, z, a * np.expm1(np.minimum(z, 0.0))),
    "Softsign": lambda z, a, b: z / (1.0 + np.abs(z)),
    "Softplus": lambda z, a, b: np.logaddexp(0.0, z),
}
BASE_FUNCTIONS = {"gate": {"name": "Sigmoid", "alpha": 0, "beta": 0}, "cell_input": {"name": "Tanh", "alpha": 0, "beta": 0},
                  "cell_output": {"name": "Tanh", "alpha": 0, "beta": 0}}


def _fn(spec_fn: Mapping) -> Callable[[np.ndarray], np.ndarray]:
    return lambda z: ACTIVATIONS[spec_fn["name"]](z, spec_fn["alpha"], spec_fn["beta"])


def _sig(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def run_cell_lstm(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, params: Mapping[str, np.ndarray], variant: Mapping,
                  o_reads_c_prev: bool = False, bias_inside_norm: bool = False, epsilon_for_zero_variance: bool = False,
                  run: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One forward run with the cell features in plain NumPy, this catalog's own: x (T, B, I), h0 (B, P), c0 (B, H)
    -> y (T, B, P), h_n, c_n. The keywords are bugs: OReadsPreviousCell, LayerNormBiasInside,
    LayerNormEpsilonForZeroVariance; `run` picks a per-run activations entry."""
    P = params
    coupling = variant.get("coupling")
    clip = variant.get("clip") or {}
    conv, t = clip.get("convention"), clip.get("threshold", 0.0)
    peep, norm = bool(variant.get("peephole")), bool(variant.get("layer_norm"))
    functions = variant.get("activations", BASE_FUNCTIONS)
    functions = functions[run] if isinstance(functions, list) else functions
    gate_fn, in_fn, out_fn = (_fn(functions[k]) for k in ("gate", "cell_input", "cell_output"))

    def layer_norm(z: np.ndarray, k: str) -> np.ndarray:  # over the units of each row
        d = z - z.mean(axis=-1, keepdims=True)
        var = (d * d).mean(axis=-1, keepdims=True)
        eps = np.where(var > 0, 0.0, 1e-8) if epsilon_for_zero_variance else 1e-8
        return P[f"ln_{k}"] * d / np.sqrt(var + eps)

    def pre(k: str, h: np.ndarray, x_t: np.ndarray, cell: np.ndarray | None) -> np.ndarray:
        a = x_t @ P[f"W_{k}"].T + h @ P[f"U_{k}"].T
        if peep and cell is not None:
            a = a + P[f"p_{k}"] * cell
        if norm:
            a = layer_norm(a + P[f"b_{k}"], k) if bias_inside_norm else layer_norm(a, k) + P[f"b_{k}"]
        else:
            a = a + P[f"b_{k}"]
        return np.clip(a, -t, t) if conv in ("gate_preactivations", "activation_inputs") else a

    h, c, ys = h0, c0, []
    for x_t in x:
        f = gate_fn(pre("f", h, x_t, c)) if coupling != "input_forget" else None
        i = 1.0 - f if coupling == "cifg" else gate_fn(pre("i", h, x_t, c))
        if coupling == "input_forget":
            f = 1.0 - i
        g = in_fn(pre("g", h, x_t, None))
        c_prev = c
        c = f * c + i * g
        if conv == "cell_state":
            c = np.clip(c, -t, t)
        o = gate_fn(pre("o", h, x_t, c_prev if o_reads_c_prev else c))
        h = o * out_fn(np.clip(c, -t, t) if conv == "activation_inputs" else c)  # (B, H)
        if "proj_size" in variant:
            h = h @ P["W_proj"].T + (P["b_proj"] if variant.get("proj_bias") else 0.0)  # (B, P)
            if "proj_clip" in variant:
                h = np.clip(h, -variant["proj_clip"], variant["proj_clip"])
        ys.append(h)
    return np.stack(ys).astype(x.dtype), np.asarray(h, x.dtype), np.asarray(c, x.dtype)


def _cell_impl(inputs: Mapping, params: Mapping, variant: Mapping, **bug) -> dict:
    """One layer of cell-feature runs: forward, reverse or both, rows with lengths (zero_fill)."""
    x, h0, c0, lengths = inputs["x"], inputs["h0"], inputs["c0"], inputs.get("seq_lengths")
    T, B = x.shape[:2]
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    D = _runs(variant)
    runs = ["forward", "reverse"] if D == 2 else ["reverse" if variant.get("direction") == "reverse" else "forward"]
    h0s, c0s = h0.reshape(D, B, -1), c0.reshape(D, B, -1)
    ys, hs, cs = [], [], []
    for r, run in enumerate(runs):
        suffix = "_reverse" if D == 2 and run == "reverse" else ""
        p = {n[:-len(suffix)] if suffix else n: a for n, a in params.items() if n.endswith(suffix) or not suffix}
        p = {n: a for n, a in p.items() if not n.endswith("_reverse")}
        y = np.zeros((T, B, h0s.shape[-1]), dtype=x.dtype)
        h, c = h0s[r].copy(), c0s[r].copy()
        for b, n in enumerate(lengths):
            if n == 0:
                continue
            xs = x[:n, b:b + 1][::-1] if run == "reverse" else x[:n, b:b + 1]
            yb, hb, cb = run_cell_lstm(np.ascontiguousarray(xs), h0s[r][b:b + 1], c0s[r][b:b + 1], p, variant,
                                       run=r, **bug)
            y[:n, b] = (yb[::-1] if run == "reverse" else yb)[:, 0]
            h[b], c[b] = hb[0], cb[0]
        ys.append(y)
        hs.append(h)
        cs.append(c)
    if D == 1:
        return {"y": ys[0], "h_n": hs[0], "c_n": cs[0]}
    return {"y": np.concatenate(ys, axis=-1), "h_n": np.stack(hs), "c_n": np.stack(cs)}


class _Cell:
    """A compute adapter for cases that set `needs` (a cell feature, or feature=value)."""

    name = "broken cell"
    convention: str | None = None
    needs = ""

    def supports(self, variant: dict) -> bool:  # one layer: _cell_impl composes no stacks
        feature, _, value = self.needs.partition("=")
        if "num_layers" in variant or feature not in variant:
            return False
        have = variant[feature]
        return not value or (have.get("convention") if isinstance(have, dict) else have) == value

    bug: dict = {}  # run_cell_lstm's keyword for the one line the adapter changes, if that is its bug

    def compute(self, inputs, params, variant):
        return _cell_impl(inputs, params, variant, **self.bug)


class _ClipAs(_Cell):
    as_convention = ""
    needs = "clip"

    def compute(self, inputs, params, variant):
        clip = {**variant["clip"], "convention": self.as_convention}
        return _cell_impl(inputs, params, {**variant, "clip": clip})


class ClipOnGatesOnly(_ClipAs):
    """ONNX Runtime's clip (microsoft/onnxruntime#27224): the gate pre-activations only, whatever the case's
    convention; right on gate_preactivations cases, wrong on the cell-state and activation-input ones."""

    name = "clip on the gate pre-activations"
    convention = "clip:gate_preactivations"
    as_convention = "gate_preactivations"


class ClipOnActivationInputs(_ClipAs):
    """The ONNX operator text's clip: the input of every activation, the argument of h's tanh included, for
    every case that clips."""

    name = "clip on every activation input"
    convention = "clip:activation_inputs"
    as_convention = "activation_inputs"


class ClipOnCellState(_ClipAs):
    """onnx-tensorflow's mapping of ONNX's clip onto TF's cell_clip: the stored cell state is clipped, the gate
    pre-activations are not."""

    name = "clip on the cell state"
    convention = "clip:cell_state"
    as_convention = "cell_state"


class PeepholeForgetOutputSwapped(_Cell):
    """ONNX's P [i, o, f] unpacked as [i, f, o]: the forget gate gets the output gate's peephole weights and
    the other way round."""

    name = "p_f and p_o swapped"
    convention = "peephole:p_f_p_o_swapped"
    needs = "peephole"

    def compute(self, inputs, params, variant):
        swapped = dict(params)
        for name in params:
            if name.startswith("p_f"):
                other = "p_o" + name[3:]
                swapped[name], swapped[other] = params[other], params[name]
        return _cell_impl(inputs, swapped, variant)


class InputForgetAsCifg(_Cell):
    """input_forget read as TFLite's CIFG: i = 1 - f (the input gate's parameters unused) where the case has
    f = 1 - i."""

    name = "coupling the wrong way"
    convention = "coupling:i_from_f"
    needs = "coupling=input_forget"

    def compute(self, inputs, params, variant):
        cifg = {**variant, "coupling": "cifg"}
        kept = {n: a for n, a in params.items() if not n.split("_l")[0].split("_reverse")[0] in ("W_i", "U_i", "b_i", "p_i")}
        return _cell_impl(inputs, kept, cifg)


class OReadsPreviousCell(_Cell):
    """The output gate's peephole on c_{t-1} instead of c_t (ONNX, TF1 and TFLite all read the new cell):
    the catalog's own cell with that one line changed."""

    name = "o's peephole on c_prev"
    convention = "peephole:o_reads_c_prev"
    needs = "peephole"
    bug = {"o_reads_c_prev": True}


class _Ignores(_Cell):
    """Drops the cell feature `needs` names, and the parameters it adds."""

    def compute(self, inputs, params, variant):
        feature = self.needs.partition("=")[0]
        kept = {n: a for n, a in params.items() if not (feature == "peephole" and n.startswith("p_"))}
        return _cell_impl(inputs, kept, {k: v for k, v in variant.items() if k != feature})


class IgnoresPeephole(_Ignores):
    """An exporter or runtime that drops ONNX's optional P input: the gates read no cell state at all, as if
    the model had no peepholes."""

    name = "peepholes ignored"
    convention = "peephole:ignored"
    needs = "peephole"


class IgnoresInputForget(_Ignores):
    """The onnx 1.23.2 reference evaluator's input_forget: accepted and dropped, so the forget gate runs on its
    own (ignored-by-design) parameters instead of being 1 - i."""

    name = "input_forget ignored"
    convention = "coupling:ignored"
    needs = "coupling=input_forget"


class IgnoresClip(_Ignores):
    """The onnx 1.23.2 reference evaluator's clip: accepted and dropped, nothing is clipped whatever the case's
    convention."""

    name = "clip ignored"
    convention = "clip:ignored"
    needs = "clip"


class IgnoresProjClip(_Ignores):
    """TFLite's proj_clip dropped (a converter that keeps the projection weights and bias but not the option):
    the projected h is never clipped."""

    name = "proj_clip ignored"
    convention = "proj_clip:ignored"
    needs = "proj_clip"


class IgnoresActivations(_Ignores):
    """The onnx 1.23.2 reference evaluator's activations: the attribute (and its alpha and beta) accepted and
    dropped, so every case runs sigmoid, tanh, tanh."""

    name = "activations ignored"
    convention = "activations:ignored"
    needs = "activations"


class ActivationAlphaBetaSwapped(_Cell):
    """ONNX's activation_alpha and activation_beta read the wrong way round: every function takes its beta as
    alpha and its alpha as beta (a number it does not take reads as 0), e.g. HardSigmoid(0.2, 0.5) runs as
    HardSigmoid(0.5, 0.2) and LeakyRelu(0.1) as LeakyRelu(0)."""

    name = "alpha and beta swapped"
    convention = "activations:alpha_beta_swapped"
    needs = "activations"
    TAKES = {"Affine": "ab", "LeakyRelu": "a", "ThresholdedRelu": "a", "ScaledTanh": "ab", "HardSigmoid": "ab",
             "Elu": "a"}

    def compute(self, inputs, params, variant):
        def swap(functions):
            return {role: {"name": fn["name"], "alpha": fn["beta"] if "a" in self.TAKES.get(fn["name"], "") else 0,
                           "beta": fn["alpha"] if "b" in self.TAKES.get(fn["name"], "") else 0}
                    for role, fn in functions.items()}
        acts = variant["activations"]
        swapped = [swap(a) for a in acts] if isinstance(acts, list) else swap(acts)
        return _cell_impl(inputs, params, {**variant, "activations": swapped})


class LayerNormBiasInside(_Cell):
    """Layer norm with each gate's bias added before the normalisation (which cancels it), where TFLite adds it
    after the coefficient: the catalog's own cell with that one line changed."""

    name = "layer-norm bias inside"
    convention = "layer_norm:bias_inside"
    needs = "layer_norm"
    bug = {"bias_inside_norm": True}


class LayerNormEpsilonForZeroVariance(_Cell):
    """Older TFLite kernels' layer norm: (z - mean) / sqrt(variance), the epsilon used only for a zero variance,
    where current TFLite divides by sqrt(variance + 1e-8); a near-constant row shows it by whole units."""

    name = "layer-norm epsilon for zero variance only"
    convention = "layer_norm:epsilon_for_zero_variance"
    needs = "layer_norm"
    bug = {"epsilon_for_zero_variance": True}


CELL = [ClipOnGatesOnly, ClipOnActivationInputs, ClipOnCellState, PeepholeForgetOutputSwapped, InputForgetAsCifg,
        OReadsPreviousCell, IgnoresPeephole, IgnoresInputForget, IgnoresClip, IgnoresProjClip, IgnoresActivations,
        ActivationAlphaBetaSwapped, LayerNormBiasInside, LayerNormEpsilonForZeroVariance]
