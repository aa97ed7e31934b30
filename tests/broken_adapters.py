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
