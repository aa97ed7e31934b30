"""The spec: load and check spec/lstm.yaml, its expression language, variants and the names and shapes they give."""
