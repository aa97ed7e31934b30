"""Adapters that run third-party LSTMs under the conformance harness.

Each module wraps one framework; the framework is imported when the adapter is
built, and when it is missing every case is skipped with a message saying how
to install it. Parameters reach each framework through the spec's packings
(lstm_conformance.packing.convert), never through a hand-written permutation.

  numpy_lstm        this project's lstm_impl
  torch_lstm        torch.nn.LSTM, and torch.nn.LSTMCell stepped over time
  onnxruntime_lstm  a one-node ONNX LSTM model run by ONNX Runtime
  keras_lstm        keras.layers.LSTM (Keras 3, jax or torch backend)
  flax_lstm         flax.linen LSTMCell / OptimizedLSTMCell scanned over time
  tflite_lstm       a one-operator TFLite UNIDIRECTIONAL_SEQUENCE_LSTM on the LiteRT interpreter
                    (tflite_model builds it)
  base              what they share: the spec, the missing-framework skip, the dtype probe
"""
