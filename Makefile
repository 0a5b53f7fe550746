# The README's two commands are `make demo` (the main job) and `make test` (the test suite).
# Both run the idempotent set-up first, so a fresh clone needs nothing else.
PY := .venv/bin/python
DEMO_OUT ?= demo_out

.PHONY: setup demo test test-fast

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh $(DEMO_OUT)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"
