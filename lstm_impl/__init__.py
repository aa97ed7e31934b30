"""lstm_impl: a fast, pure-NumPy LSTM (the implementation under test).

Independent of the conformance harness: it never imports ``lstm_conformance``
nor reads ``spec/``.

    >>> import numpy as np
    >>> from lstm_impl import LSTM
    >>> model = LSTM(4, 8, seed=0)
    >>> y, (h_n, c_n) = model.forward_sequence(np.zeros((5, 3, 4)), return_state=True)
    >>> y.shape, h_n.shape
    ((5, 3, 8), (3, 8))

Modules: ``lstm`` (the model), ``activations`` (overflow-free sigmoid/tanh),
``init`` (Glorot / orthogonal initialisation), ``layout`` (canonical names and
the fused gate layout), ``checks`` (argument validation).
"""
from .activations import sigmoid
from .layout import FUSED_ORDER, GATES, PARAM_NAMES
from .lstm import LSTM

__all__ = ["LSTM", "sigmoid", "GATES", "PARAM_NAMES", "FUSED_ORDER"]
__version__ = "1.0.0"
