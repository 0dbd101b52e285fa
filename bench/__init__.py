"""Benchmark harness: a closed-loop load generator and the runner behind `make bench`.

Nothing here is imported by the gateway; see docs/benchmarks.md.
"""
