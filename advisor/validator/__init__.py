"""Proving what a run made: metrics, hardware checks and goal verdicts."""
