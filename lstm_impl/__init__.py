"""lstm_impl: a fast, pure-NumPy LSTM (the implementation under test).

Independent of the conformance harness: it never imports ``lstm_conformance``
nor reads ``spec/``.

    >>> import numpy as np
    >>> from lstm_impl import LSTM
    >>> model = LSTM(4, 8, seed=0)
    >>> y, (h_n, c_n) = model.forward_sequence(np.zeros((5, 3, 4)), return_state=True)
    >>> y.shape, h_n.shape
    ((5, 3, 8), (3, 8))

Sequence structure, as torch users expect it: stacked layers, both directions,
batch-first inputs, and per-row lengths (padding is never read; y is 0 past a
row's length; h_n / c_n come from its last valid step).  States are (B, H)
for a one-cell model, else (L*D, B, H) indexed layer*D + direction.

    >>> deep = LSTM(4, 8, num_layers=2, bidirectional=True, seed=0)
    >>> y, (h_n, c_n) = deep.forward_sequence(np.zeros((5, 3, 4)), return_state=True,
    ...                                       lengths=[5, 2, 0])
    >>> y.shape, h_n.shape, deep.variant
    ((5, 3, 16), (4, 3, 8), {'direction': 'bidirectional', 'num_layers': 2})
    >>> sorted(k for k in deep.params if k.startswith("W_i"))
    ['W_i', 'W_i_l1', 'W_i_l1_reverse', 'W_i_reverse']
    >>> LSTM.from_params(deep.params, variant=deep.variant).params["W_i_l1"].shape
    (8, 16)

A reverse-only LSTM is ``variant={"direction": "reverse"}``; the variant keys
(``direction``, ``num_layers``, ``lengths``, ``empty_rows`` and the cell
features ``activations``, ``peephole``, ``coupling``, ``layer_norm``,
``clip``, ``proj_size``, ``proj_bias``, ``proj_clip``) are in ``variant``.
With ``proj_size`` P, h is P wide and c stays H wide:

    >>> proj = LSTM(4, 8, variant={"proj_size": 3, "layer_norm": True}, seed=0)
    >>> y, (h_n, c_n) = proj.forward_sequence(np.zeros((5, 2, 4)), return_state=True)
    >>> y.shape, h_n.shape, c_n.shape, proj.params["U_f"].shape, proj.params["W_proj"].shape
    ((5, 2, 3), (2, 3), (2, 8), (8, 3), (3, 8))

Modules: ``lstm`` (the model and its argument shapes), ``kernel`` (the fused
recurrence: one GEMM of [U | W | b] and [h; x; 1] per step, then a few elementwise passes),
``features`` (the cell features and their plainer per-step kernel),
``structure`` (lengths, reverse, bidirectional and stacked runs around the
kernel), ``variant`` (the variant keys and their checks), ``activations``
(overflow-free sigmoid/tanh and the ONNX activations), ``init`` (Glorot /
orthogonal initialisation), ``layout`` (canonical names, per-cell suffixes
and the fused gate layout), ``checks`` (argument validation).
"""
from .activations import sigmoid
from .layout import FUSED_ORDER, GATES, PARAM_NAMES, param_names
from .lstm import LSTM
from .variant import VARIANT_KEYS

__all__ = ["LSTM", "sigmoid", "GATES", "PARAM_NAMES", "FUSED_ORDER", "param_names", "VARIANT_KEYS"]
__version__ = "1.2.0"
