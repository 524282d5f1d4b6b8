"""Benchmarks on real footage; `python -m bench.run` runs them all, each writing its own section of bench/RESULTS.md."""
