"""Developer tools: sample and benchmark footage built from real clips and photos."""
