"""Running an implementation: the adapter protocol, worker processes and their hygiene, the runner."""
