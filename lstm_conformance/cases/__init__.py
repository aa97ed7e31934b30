"""The golden cases: the case list and its seeded generator, the golden files, manifest and --check."""
