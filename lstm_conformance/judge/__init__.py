"""Judging outputs: errors, ULP distances and range checks; the conventions an adapter declares."""
