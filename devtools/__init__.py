"""Maintenance tools of a source checkout (benchmarks, generated files); not installed."""
