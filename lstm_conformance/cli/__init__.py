"""The command lines behind tools/conformance.py, diagnose.py, regen_golden.py and bench.py."""
