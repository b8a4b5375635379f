"""Benchmarks printed as ratios against peers run in the same process (see docs/benchmarks.md)."""
