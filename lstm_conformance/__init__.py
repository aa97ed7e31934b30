"""The LSTM conformance harness: the judge.

Grouped by stage (each folder's __init__ says what it holds; the modules are imported on demand, so
that the scalar reference stays free of NumPy):
  spec/        load and check spec/lstm.yaml (loader), its expression language, variants: names and shapes
  reference/   the scalar, loop-based reference that executes the spec in 60-digit Decimal
  packing/     the spec's packings (parsed blocks and shapes) and conversion to and from them
  cases/       the case list and its seeded generator; the golden files, manifest, regeneration, --check
  run/         the adapter protocol and built-in names, worker processes and their hygiene, the runner
  judge/       errors, ULP distances and range checks; the conventions an adapter declares
  report/      the conformance, comparison and coverage tables and the JSON report
  diagnosis/   the known conventions, the search that tries them, localization of a failure
  cli/         the command lines behind tools/conformance.py, diagnose.py, regen_golden.py, bench.py
  paths.py     where spec/ and golden/ live
  benchmark.py lstm_impl against a per-step LSTM and torch.nn.LSTM
  pytest_plugin.py  the suite inside any pytest run (--lstm-impl)
"""
__version__ = "0.1.0"
