# The two commands of the README. Both set everything up first (idempotent;
# the first run builds mmcv with ops, later runs take seconds).
PYTHON ?= $(shell [ -n "$$VIRTUAL_ENV" ] && echo "$$VIRTUAL_ENV/bin/python" || ([ -n "$$CONDA_PREFIX" ] && echo "$$CONDA_PREFIX/bin/python") || echo "$(CURDIR)/.venv/bin/python")

.PHONY: setup demo test benchmark lint

setup:
	HVPT_PYTHON=$(PYTHON) bash scripts/setup.sh

demo: setup
	$(PYTHON) tools/demo/run_demo.py $(DEMO_ARGS)

test: setup
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

# Two one-thread runs at a time use 2 cores better than one two-thread run.
BENCH_ARGS ?= --jobs 2

benchmark: setup
	$(PYTHON) tools/demo/run_benchmark.py $(BENCH_ARGS)

# ruff with the rules of ruff.toml (flake8's E / F / W, 79 columns); ruff
# comes with the test requirements (`make setup`).
lint:
	$(PYTHON) -m ruff check .
