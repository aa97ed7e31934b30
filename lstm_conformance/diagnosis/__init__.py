"""Diagnosis: the known conventions (spec/conventions.yaml), the search over them, localization."""
