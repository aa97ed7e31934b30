"""Packings: how frameworks arrange the LSTM's parameters, and conversion to and from them."""
