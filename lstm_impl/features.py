"""Cell features, and the kernel that runs them.

``activations``
    ``{"gate": A, "cell_input": A, "cell_output": A}``, each ``A = {"name":
    an ONNX activation, "alpha": x, "beta": y}`` (activations.py): ``gate``
    for i, f and o, ``cell_input`` for g, ``cell_output`` for h = o *
    cell_output(c).  A bidirectional model may give a list of two, forward
    direction first.
``peephole``
    i and f add ``p_i * c_prev`` and ``p_f * c_prev`` to their pre-activations,
    o adds ``p_o * c_t`` (the new cell); p_k are (H,) per cell.
``coupling``
    ``"input_forget"``: f = 1 - i (the forget gate's parameters are kept and
    unused, as ONNX Runtime keeps them); ``"cifg"``: i = 1 - f, and the input
    gate has no parameters (TFLite).
``layer_norm``
    Each gate's z = W x + U h (with its peephole term) is normalised over the
    H units of each batch row (population variance, epsilon 1e-8 inside the
    square root), scaled per unit by ``ln_k`` (H,), and only then is ``b_k``
    added (TFLite).  c is not normalised.
``clip``
    ``{"convention": C, "threshold": t}`` clips to [-t, t]: the four gate
    pre-activations (``"gate_preactivations"``, ONNX Runtime), those and the
    argument of h's activation (``"activation_inputs"``, the ONNX operator
    text), or the stored cell state (``"cell_state"``, TF/TFLite cell_clip).
``proj_size``, ``proj_bias``, ``proj_clip``
    h = clip(W_proj (o * cell_output(c)) + b_proj, -proj_clip, proj_clip):
    W_proj (P, H), b_proj (P,); h (and h0, y, h_n) is P wide, U_k (H, P), c
    stays H wide (torch's proj_size; TFLite's projection with bias and clip).

Order inside one step: z (with peephole terms) -> layer norm (in place of
z + b) -> gate clip -> activations -> coupling -> c -> cell clip -> o (its
peephole reads the new, clipped c) -> h = o * cell_output(a_h), a_h clipped
under "activation_inputs" -> projection, its bias and its clip.

The base LSTM keeps the fused kernel (kernel.py) untouched.  A model with any
of these features runs this plainer per-step kernel instead, on the same fused
step GEMM and step operands (kernel.StepInputs), with the features applied
where they act; o is computed after the new cell, which its peephole reads.
The sigmoid takes the fused kernel's form for the dtype (activations.gate_form):
the i, f, o pre-activations carry its factor s (-1 for the exp form, 1/2 for
the tanh form, 1 under a variant's own ``activations``, which need z itself).
s multiplies the weights and peepholes of those gates or, under layer norm
(whose normalisation is not homogeneous: its epsilon), the layer norm's scales
and biases instead; clip thresholds scale by |s|.  Each of these steps commutes
exactly with a power of two or a sign, so every step computes s times the
unscaled pre-activation.  Layer norm without peepholes takes its centring, and
its scales, from the weights (layer_norm_weights).  Per step the kernel
allocates nothing unless the variant names ``activations`` (those functions
return new arrays): one GEMM into a reused (4H, B) buffer, then in-place
passes over whole gate blocks.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import activation
from .kernel import StepInputs

#: The cell features of a variant, with the values lstm_impl accepts.
CELL_KEYS = ("activations", "peephole", "coupling", "layer_norm", "clip", "proj_size", "proj_bias", "proj_clip")
COUPLINGS = ("input_forget", "cifg")
CLIP_CONVENTIONS = ("gate_preactivations", "activation_inputs", "cell_state")
#: The fields of ``activations`` and the base LSTM's value of it (which a variant may not write out).
ACTIVATION_SLOTS = ("gate", "cell_input", "cell_output")
BASE_ACTIVATIONS = {
    "gate": {"name": "Sigmoid", "alpha": 0.0, "beta": 0.0},
    "cell_input": {"name": "Tanh", "alpha": 0.0, "beta": 0.0},
    "cell_output": {"name": "Tanh", "alpha": 0.0, "beta": 0.0},
}
#: Layer norm's epsilon, added to the variance inside the square root (TFLite's).
LN_EPSILON = 1.0e-8

Activation = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CellFeatures:
    """What one cell runs besides the base LSTM; every array feature-major ((H, 1), (P, H), (P, 1)) in the
    compute dtype."""

    peephole: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (p_i, p_f, p_o), p_i zeros under cifg
    coupling: str | None
    clip: str | None
    threshold: float
    acts: tuple[Activation, Activation, Activation] | None = None  # (gate, cell_input, cell_output)
    layer_norm: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # (ln_i, ln_f, ln_o, ln_g)
    bias: np.ndarray | None = None  # (4H, 1), gates i, f, o, g: added after the layer norm
    w_proj: np.ndarray | None = None  # (P, H)
    b_proj: np.ndarray | None = None  # (P, 1)
    proj_clip: float | None = None
    centered: bool = False  # layer norm without peepholes: the weights are centred (layer_norm_weights)
    ln_var_rows: np.ndarray | None = None  # (4, 1, H): 1 / (H ln^2) when the weights also carry ln's scales
    uw_plain: np.ndarray | None = None  # the cell's weights before layer_norm_weights (centered cells)
    sigmoid_scale: float = 1.0  # the factor of i, f, o's pre-activations (cell_features)


def has_cell_features(variant: dict) -> bool:
    return any(k in variant for k in CELL_KEYS)


def weights_scale(variant: dict, sigmoid_scale: float) -> float:
    """The factor of the i, f, o rows of a feature cell's fused weights (layout.pack_params): the sigmoid
    scale, except under layer norm, whose normalisation is not homogeneous (its epsilon): then 1, and
    the factor goes into the layer norm's own scales and biases (cell_features)."""
    return 1.0 if variant.get("layer_norm") else sigmoid_scale


def cell_features(variant: dict, params: dict[str, np.ndarray], suffix: str, dtype: np.dtype,
                  sigmoid_scale: float = 1.0) -> CellFeatures:
    """One cell's features from the canonical variant and parameter dict (names with `suffix`).

    Under ``layer_norm`` the biases are returned here (``bias``), to be added after the normalisation:
    the caller packs the cell's weights with zero biases.  ``sigmoid_scale`` s (a power of two, or -1):
    the factor the i, f, o pre-activations carry into the sigmoid (activations.SIGMOID_SCALE; 1 for a
    variant's own activations).  It multiplies the weights (:func:`weights_scale`) and peepholes of those
    gates, or, under layer norm, their layer-norm scales and biases; clip thresholds scale by |s| in the
    kernel.  Every one of these steps commutes exactly with s, so the kernel computes s times the
    unscaled pre-activation.
    """
    def vec(name: str, like: str, scale: float = 1.0) -> np.ndarray:  # (H,) -> (H, 1); zeros for cifg's input gate
        v = params[name + suffix] if name + suffix in params else np.zeros_like(params[like + suffix])
        return np.ascontiguousarray(scale * np.asarray(v, dtype=dtype)[:, None])  # exact: cast, then scale

    sc = sigmoid_scale
    ln_on = bool(variant.get("layer_norm"))
    sp = 1.0 if ln_on else sc  # the peepholes' factor: they add to z before the normalisation
    peep = (vec("p_i", "p_f", sp), vec("p_f", "p_f", sp), vec("p_o", "p_f", sp)) if variant.get("peephole") else None
    clip = variant.get("clip") or {}
    acts = None
    if "activations" in variant:
        spec = variant["activations"]
        if isinstance(spec, list):  # one per direction of a bidirectional model, forward first
            spec = spec[1 if suffix.endswith("_reverse") else 0]
        acts = tuple(activation(spec[s]["name"], spec[s]["alpha"], spec[s]["beta"]) for s in ACTIVATION_SLOTS)
    ln = bias = None
    if ln_on:
        ln = (vec("ln_i", "ln_f", sc), vec("ln_f", "ln_f", sc), vec("ln_o", "ln_f", sc), vec("ln_g", "ln_f"))
        bias = np.ascontiguousarray(np.concatenate(
            [vec(f"b_{k}", "b_f", 1.0 if k == "g" else sc) for k in "ifog"], axis=0))  # (4H, 1)
    centered = ln_on and not variant.get("peephole")
    w_proj = b_proj = None
    if "proj_size" in variant:
        w_proj = np.ascontiguousarray(np.asarray(params["W_proj" + suffix], dtype=dtype))  # (P, H)
        if variant.get("proj_bias"):
            b_proj = np.ascontiguousarray(np.asarray(params["b_proj" + suffix], dtype=dtype)[:, None])  # (P, 1)
    return CellFeatures(
        peephole=peep, coupling=variant.get("coupling"), clip=clip.get("convention"),
        threshold=float(clip.get("threshold", 0.0)), acts=acts, layer_norm=ln, bias=bias, w_proj=w_proj,
        b_proj=b_proj, proj_clip=variant.get("proj_clip"), centered=centered,
        ln_var_rows=ln_var_rows(ln, dtype, variant.get("coupling") == "cifg") if centered else None,
        sigmoid_scale=sc)


def layer_norm(z: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``scale * (z - mean(z)) / sqrt(var(z) + 1e-8) + bias`` over the units (axis 0) of each column.

    z (H, B); scale, bias (H, 1); population variance.  No overflow at any finite z: a column whose
    largest |z| could overflow the squares is first divided by it (exact rescaling of the ratio; the
    epsilon is divided by its square), other columns are computed as written.  Returns a new (H, B) array.
    """
    h_sz = z.shape[0]
    cd = z.dtype
    limit = 0.25 * np.sqrt(np.finfo(cd).max / h_sz)  # |z| <= limit: sums and squares stay finite
    s = np.max(np.abs(z), axis=0, keepdims=True)  # (1, B)
    big = s > limit
    if np.any(big):
        s = np.where(big, s, cd.type(1.0))  # (1, B)
        zs = z / s  # (H, B), |zs| <= 1 in the rescaled columns
        eps = (cd.type(LN_EPSILON) / s) / s  # (1, B); underflows to 0 where s is huge
    else:
        zs, eps = z, cd.type(LN_EPSILON)
    d = zs - np.mean(zs, axis=0, keepdims=True)  # (H, B)
    var = np.mean(d * d, axis=0, keepdims=True)  # (1, B)
    d /= np.sqrt(var + eps)
    d *= scale
    d += bias
    return d


#: Layer-norm scales the weights may carry (layer_norm_weights): within [2^-16, 2^16] in magnitude, so that
#: the scaled pre-activations' squares lose nothing to underflow that matters next to epsilon.
LN_FOLD_RANGE = (2.0 ** -16, 2.0 ** 16)


def ln_var_rows(feats_ln: tuple[np.ndarray, ...], dtype: np.dtype, cifg: bool = False) -> np.ndarray | None:
    """(4, 1, H) rows ``1 / (H ln^2)`` for the gates' layer-norm scales ln (i, f, o, g; the sigmoid's factor
    included), or None when a scale lies outside LN_FOLD_RANGE (zero included): then the weights do not
    carry the scales.  Under cifg the input gate's rows (zero weights, never read) count as 1."""
    s = np.concatenate([np.asarray(v, dtype=np.float64).reshape(1, 1, -1) for v in feats_ln])  # (4, 1, H)
    if cifg:
        s[0] = 1.0
    mag = np.abs(s)
    if not ((mag >= LN_FOLD_RANGE[0]) & (mag <= LN_FOLD_RANGE[1])).all():
        return None
    return (1.0 / (s.shape[2] * s * s)).astype(dtype)


def layer_norm_weights(uw: np.ndarray, feats: CellFeatures) -> tuple[np.ndarray, CellFeatures]:
    """``uw`` (4H, K) with each gate's H rows minus their mean, then (with ``feats.ln_var_rows``) times
    their layer-norm scales; computed in float64, rounded once.  Returns the weights and the features
    that go with them.

    The step GEMM with these weights yields ``z - mean(z)`` of each gate over its H units (layer norm's
    centring, exact in real arithmetic), or ``ln * (z - mean(z))``, at no cost per step; the variance is
    then ``(1 / (H ln^2)) @ (ln * d)^2``, still one GEMM.  A cell with peepholes adds ``p * c`` after the
    GEMM and is centred per step instead.  The rounding of these weights is of the order of the rounding
    of z itself.  Weights whose centred (scaled) values come within a factor 4 of the dtype's largest
    number are left as they are (the features then say ``centered=False``); the plain weights are kept
    (``uw_plain``) for a step whose variance is not finite, which is redone from them.
    """
    h_sz = uw.shape[0] // 4
    with np.errstate(over="ignore", invalid="ignore"):  # weights near float64's range: not finite, below
        w = uw.astype(np.float64).reshape(4, h_sz, -1)  # (4, H, K)
        w = w - w.mean(axis=1, keepdims=True)
        if feats.ln_var_rows is not None:
            w = w * np.concatenate([np.asarray(v, dtype=np.float64)[None] for v in feats.layer_norm])  # (4, H, 1)
    if not np.isfinite(w).all() or np.abs(w).max() > 0.25 * float(np.finfo(uw.dtype).max):
        return uw, dataclasses.replace(feats, centered=False, ln_var_rows=None)
    return (np.ascontiguousarray(w.reshape(uw.shape).astype(uw.dtype)),
            dataclasses.replace(feats, uw_plain=uw))


def _layer_norm_(z: np.ndarray, scale: np.ndarray, bias: np.ndarray, d: np.ndarray, sq: np.ndarray,
                 mean: np.ndarray, var: np.ndarray, ones_h: np.ndarray, var_tiled: np.ndarray,
                 centered: bool = False, overflowed: list[bool] | None = None, scaled: bool = False) -> bool:
    """In place, G gates at once: z (G, H, B) <- scale * (z - mean) / sqrt(var + 1e-8) + bias per gate.

    scale, bias (G, H, 1) or (G, H, B); d, sq (G, H, B), mean, var (G, 1, B) and var_tiled (G, m, B) (m
    divides H) are scratch buffers; ones_h (1, H) holds 1/H.  The formula of :func:`layer_norm`, with the
    means over the H units as GEMMs with a row of 1/H (several times faster than a reduction over the
    middle axis) and the division as a product with the reciprocal of the standard deviation.  If a mean
    or a variance is not finite (z so large that a sum or a square overflows), every gate is redone from
    the untouched z by :func:`layer_norm`, which rescales.

    ``centered``: z is already centred (the weights were, :func:`layer_norm_weights`) and the mean is not
    taken; then a variance that is not finite returns False with z untouched, for the caller to redo the
    step from the plain weights.  ``scaled``: z is ``scale * (z - mean)`` and ``ones_h`` the rows
    ``1 / (H scale^2)`` (G, 1, H), so no product with the scale is left.  ``overflowed``: a flag the
    caller's error callback sets on any overflow (np.errstate(over="call")); the finiteness check (a
    reduction) then runs only when it is set, and resets it.  Returns True when z is normalised.
    """
    if centered:
        d = z
        if overflowed is None:  # no error callback: the squares may overflow quietly, the check follows
            with np.errstate(over="ignore"):
                np.multiply(d, d, out=sq)
                np.matmul(ones_h, sq, out=var)  # (G, 1, B) population variances
        else:
            np.multiply(d, d, out=sq)
            np.matmul(ones_h, sq, out=var)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            np.matmul(ones_h, z, out=mean)  # (G, 1, B) means
            np.subtract(z, mean, out=d)
            np.multiply(d, d, out=sq)
            np.matmul(ones_h, sq, out=var)
    if overflowed is not None:
        check, overflowed[0] = overflowed[0], False
    else:
        check = True
    if check and not np.isfinite(var).all():
        if centered:
            return False
        for k in range(z.shape[0]):
            z[k] = layer_norm(z[k], scale[k][:, :1], bias[k][:, :1])
        return True
    np.add(var, z.dtype.type(LN_EPSILON), out=var)
    np.sqrt(var, out=var)
    np.divide(1.0, var, out=var)  # 1 / sqrt(var + eps): var + eps >= 1e-8, no overflow
    # d (G, H, B) *= var (G, 1, B): seen as (G, H/m, m*B) against var repeated m times, NumPy runs m*B-long
    # inner loops instead of B-long ones (measured 25 % faster at H, B = 128, 32, m = 8)
    g, m, b = var_tiled.shape
    np.copyto(var_tiled, var)
    d_m = d.reshape(g, -1, m * b)  # (G, H/m, m*B) view
    np.multiply(d_m, var_tiled.reshape(g, 1, m * b), out=d_m)
    if not scaled:
        np.multiply(d, scale, out=d)
    np.add(d, bias, out=z)
    return True


def _affine_half_(t: np.ndarray) -> None:
    """In place: t <- 0.5 * t + 0.5 (tanh(z / 2) -> sigmoid(z), activations' tanh form)."""
    np.multiply(t, 0.5, out=t)
    np.add(t, 0.5, out=t)


def _sigmoid_of_negated_(a: np.ndarray) -> None:
    """In place: a = -z <- sigmoid(z) = 1 / (1 + exp(a)); exp(a) = inf gives 0 (run with overflow ignored)."""
    np.exp(a, out=a)
    np.add(a, 1.0, out=a)
    np.divide(1.0, a, out=a)


def run_sequence_features(
    uw: np.ndarray, form: str, feats: CellFeatures, x3: np.ndarray, h0: np.ndarray, c0: np.ndarray,
    y: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence with cell features, in the dtype of ``uw``.

    uw (4H, P + I + 1), gates i, f, o, g (layout.py; i, f, o scaled by features.weights_scale, a zero bias
    column under layer norm, rows centred and scaled when ``feats.centered``, layer_norm_weights); form "exp", "tanh" or "own" (a
    variant's own activations, ``feats.acts``); x3 (T, B, I); h0 (B, P), c0 (B, H).  Returns y (T, B, P),
    h_n (B, P), c_n (B, H), newly allocated, except ``y`` when given (any strides; written in place and
    returned, as in kernel.run_sequence).

    Per step: one GEMM into a reused gate buffer, then in-place passes on whole blocks (the gates that do
    not wait for the new cell are normalised, clipped and activated together); the gates and the cell
    share one buffer [i; f; o; g; c] as in kernel.py; h goes straight into the next step's GEMM operand
    (kernel.StepInputs), so the working memory is O(B*(P+I)) whatever T.
    """
    t_len, b = x3.shape[:2]
    h_sz, p_sz = uw.shape[0] // 4, h0.shape[1]
    h2, h3, h4 = 2 * h_sz, 3 * h_sz, 4 * h_sz
    cd = uw.dtype
    if y is None:
        y = np.empty((t_len, b, p_sz), dtype=cd)  # (T, B, P)
    if t_len == 0 or b == 0:
        return y, np.array(h0, dtype=cd), np.array(c0, dtype=cd)
    buf = np.empty((5 * h_sz, b), dtype=cd)  # (5H, B): [i; f; o; g] of the current step, then c
    gates, c = buf[:h4], buf[h4:]  # (4H, B), (H, B)
    c[...] = c0.T
    g4 = gates.reshape(4, h_sz, b)
    i_g, f_g, o_g, g_g = (gates[k * h_sz:(k + 1) * h_sz] for k in range(4))  # (H, B) each
    i_f, g_c = buf[:h2], buf[h3:]  # (2H, B) each: [i; f] and [g; c]
    clip_gates = feats.clip in ("gate_preactivations", "activation_inputs")
    t_clip = cd.type(feats.threshold)  # g's threshold; the sigmoid rows carry the factor s (cell_features)
    t_sig = cd.type(abs(feats.sigmoid_scale) * feats.threshold)
    acts = feats.acts
    peep = feats.peephole
    ln = feats.layer_norm
    # o waits for the new cell only when its peephole reads it; otherwise i, f, o, g go together.
    sig = gates[:h2] if peep is not None else gates[:h3]  # the sigmoid gates activated before the cell
    tmp = np.empty((h_sz, b), dtype=cd)  # (H, B) scratch
    if peep is not None:
        # broadcast to full size once: products with (H, 1) operands run B-long inner loops (slow)
        p_if = np.ascontiguousarray(np.broadcast_to(np.stack([peep[0], peep[1]]), (2, h_sz, b)))  # (2, H, B)
        p_o = np.ascontiguousarray(np.broadcast_to(peep[2], (h_sz, b)))  # (H, B)
        tmp2 = np.empty((2, h_sz, b), dtype=cd)
    if ln is not None:
        # scales and biases (4, H, 1) broadcast to full (4, H, B) once: a product with a (4, H, 1) operand
        # runs B-long inner loops, several times slower than a contiguous one
        ln_s = np.ascontiguousarray(np.broadcast_to(np.stack([ln[0], ln[1], ln[2], ln[3]]), (4, h_sz, b)))
        ln_b = np.ascontiguousarray(np.broadcast_to(feats.bias.reshape(4, h_sz, 1), (4, h_sz, b)))
        ln_d, ln_sq = np.empty((4, h_sz, b), dtype=cd), np.empty((4, h_sz, b), dtype=cd)
        ln_m, ln_v = np.empty((4, 1, b), dtype=cd), np.empty((4, 1, b), dtype=cd)
        scaled = feats.ln_var_rows is not None  # the weights carry the scales too (layer_norm_weights)
        # the rows the means are GEMMs with: (4, 1, H) 1 / (H ln^2) when scaled, else (1, H) 1 / H
        ln_1 = feats.ln_var_rows if scaled else np.full((1, h_sz), 1.0 / h_sz, dtype=cd)
        m = next(m for m in (8, 4, 2, 1) if h_sz % m == 0)
        ln_vt = np.empty((4, m, b), dtype=cd)  # the variances' reciprocal roots, repeated m times

        if feats.centered:  # the weights are centred (and scaled): all four gates at once
            # Without a variant's own activations, overflow calls `on_overflow` (the loop's error state
            # below) instead of warning: the check for a non-finite variance then runs only in a step
            # where something overflowed (an exp to inf, a square), saving a reduction per step.
            overflowed = [False] if acts is None else None

            def on_overflow(err: str, flag: int) -> None:
                overflowed[0] = True

            def norm(k0: int, k1: int, operand: np.ndarray | None = None) -> None:
                if not _layer_norm_(g4, ln_s, ln_b, ln_d, ln_sq, ln_m, ln_v, ln_1, ln_vt, centered=True,
                                    overflowed=overflowed, scaled=scaled):
                    # the variance is not finite: redo the step's z from the plain weights, rescaled
                    with np.errstate(over="ignore", invalid="ignore"):
                        matmul(feats.uw_plain, operand, out=gates)
                    for k in range(4):
                        g4[k] = layer_norm(g4[k], ln_s[k][:, :1], ln_b[k][:, :1])
        else:
            def norm(k0: int, k1: int, operand: np.ndarray | None = None) -> None:  # gates k0 .. k1-1 (i, f, o, g)
                g = k1 - k0
                _layer_norm_(g4[k0:k1], ln_s[k0:k1], ln_b[k0:k1], ln_d[:g], ln_sq[:g], ln_m[:g], ln_v[:g], ln_1,
                             ln_vt[:g])
    if feats.w_proj is not None:
        w_proj, b_proj = feats.w_proj, feats.b_proj
        p_clip = None if feats.proj_clip is None else cd.type(feats.proj_clip)
    matmul, add, multiply, clip, tanh = np.matmul, np.add, np.multiply, np.clip, np.tanh
    # The sigmoid's exp may overflow to inf, which is right (kernel.py), and so may centred layer norm's
    # squares (then redone by layer_norm, see on_overflow); otherwise a variant's own activations keep
    # NumPy's overflow warnings (activations.py).
    if feats.centered and acts is None:
        quiet = np.errstate(under="ignore", over="call", call=on_overflow)
    else:
        quiet = np.errstate(under="ignore", over="ignore" if acts is None else "warn")
    with quiet:
        for operand, h_t in StepInputs(x3, h0, cd).steps(y):  # (P + I + 1, B), (P, B): the next operand
            matmul(uw, operand, out=gates)  # z (+ b without layer norm), i, f, o scaled
            if peep is not None:  # i, f read the previous cell
                multiply(p_if, c, out=tmp2)
                add(g4[:2], tmp2, out=g4[:2])
            if ln is not None:  # ln * normalised(z) + b, in place of z + b
                if peep is not None:
                    norm(0, 2)
                    norm(3, 4)
                else:
                    norm(0, 4, operand)
            if clip_gates:
                if t_sig == t_clip and peep is None:
                    clip(gates, -t_clip, t_clip, out=gates)
                else:
                    clip(sig, -t_sig, t_sig, out=sig)
                    clip(g_g, -t_clip, t_clip, out=g_g)
            if form == "exp":  # i, f (, o) hold -z
                _sigmoid_of_negated_(sig)
                tanh(g_g, out=g_g)
            elif form == "tanh":  # i, f (, o) hold z / 2: 0.5 + 0.5 tanh(z / 2), one tanh call with g's
                if peep is not None:
                    tanh(sig, out=sig)
                    tanh(g_g, out=g_g)
                else:
                    tanh(gates, out=gates)
                _affine_half_(sig)
            else:
                sig[...] = acts[0](sig)
                g_g[...] = acts[1](g_g)
            if feats.coupling == "input_forget":
                np.subtract(1.0, i_g, out=f_g)
            elif feats.coupling == "cifg":
                np.subtract(1.0, f_g, out=i_g)
            multiply(g_c, i_f, out=g_c)  # [i * g; f * c_prev]
            add(c, g_g, out=c)  # c_t
            if feats.clip == "cell_state":
                clip(c, -t_clip, t_clip, out=c)
            if peep is not None:  # o reads the new, clipped cell
                multiply(p_o, c, out=tmp)
                add(o_g, tmp, out=o_g)
                if ln is not None:
                    norm(2, 3)
                if clip_gates:
                    clip(o_g, -t_sig, t_sig, out=o_g)
                if form == "exp":
                    _sigmoid_of_negated_(o_g)
                elif form == "tanh":
                    tanh(o_g, out=o_g)
                    _affine_half_(o_g)
                else:
                    o_g[...] = acts[0](o_g)
            if feats.clip == "activation_inputs":  # a_h = clip(c)
                clip(c, -t_clip, t_clip, out=tmp)
                arg = tmp
            else:
                arg = c
            if acts is None:
                tanh(arg, out=tmp)
                act_h = tmp
            else:
                act_h = acts[2](arg)
            if feats.w_proj is None:
                multiply(o_g, act_h, out=h_t)  # h = o * cell_output(a_h)
            else:
                multiply(o_g, act_h, out=i_g)  # (H, B), in i's block
                matmul(w_proj, i_g, out=h_t)  # (P, B)
                if b_proj is not None:
                    add(h_t, b_proj, out=h_t)
                if p_clip is not None:
                    clip(h_t, -p_clip, p_clip, out=h_t)
    return y, y[t_len - 1].copy(), np.ascontiguousarray(c.T)
