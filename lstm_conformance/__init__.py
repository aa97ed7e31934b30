"""The LSTM conformance harness: the judge.

Submodules (imported on demand, so that the scalar reference stays free of NumPy):
  paths         where spec/ and golden/ live
  packings      the spec's packings: parsed blocks and shapes (no NumPy)
  packing_convert  canonical parameters to and from any packing
  expressions   the spec's expression language (ast-based, whitelisted)
  spec_loader   load and validate spec/lstm.yaml
  reference     the scalar, loop-based reference that executes the spec
  cases         the golden case list and its seeded input generator
  golden        golden case files, manifest, regeneration and --check
  adapters      the adapter protocol and the built-in names (lstm_adapters/ holds them)
  executor      calls an adapter in a worker process (or thread) with a timeout
  processes     process hygiene via /proc and prctl: find, kill and reap leftover processes
  exit_guards   in-process guards that keep adapter threads from ending the process
  runner        run an implementation over the golden cases
  compare       errors, ULP distances and range checks
  report        the conformance tables, the comparison table and the JSON report
  pytest_plugin the suite inside any pytest run (--lstm-impl)
  benchmark     lstm_impl against a per-step LSTM and torch.nn.LSTM
  *_cli         the command lines behind tools/conformance.py, regen_golden.py, bench.py
"""
__version__ = "0.1.0"
