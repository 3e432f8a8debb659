"""Benchmarks of the course's helpers: `python -m devtools.bench load|train|grade` (not timed tests)."""
