"""Benchmarks on real footage; `python -m bench.run` writes bench/RESULTS.md."""
