# The two commands the README gives: `make demo` and `make test`.
PY := .venv/bin/python

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m app samples/sample.mp4 -o out/sample_clean.mp4 --report out/sample_report.json

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m bench.run
