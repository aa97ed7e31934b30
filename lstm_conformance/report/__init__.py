"""Reports: the conformance, comparison and coverage tables, and the JSON report."""
