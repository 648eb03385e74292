"""Drift between a current window and a reference window, per agent (issue 6)."""
