"""Offline evals: eval runs from the warehouse, the paired diff, eval candidates."""
