# The README's two commands: `make run` and `make test`. Each sets up its own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench bench-scale clean screenshot

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/audit-trail run

test: $(BIN)/.installed lint
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/worker_throughput.py

# A million events into a private redis-server: memory, Redis CPU and read latency at scale.
bench-scale: $(BIN)/.installed
	$(BIN)/python benchmarks/scale.py

# Remakes the README's screenshot of the viewer from the real page (a browser test).
screenshot: $(BIN)/.installed
	AUDIT_WRITE_SCREENSHOT=1 $(BIN)/python -m pytest -q tests/test_viewer.py

# Everything the commands above create: the venv, tool caches, build output, bytecode.
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
