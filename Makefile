# pigeon developer entry points. Everything installs into a local virtualenv (.venv).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test check tools bench clean

run: $(VENV)/.installed  ## install pigeon and share the current folder (port 7890)
	$(BIN)/pigeon serve

test: $(VENV)/.installed-test tools  ## install test deps and run the whole suite
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz
	$(BIN)/mypy --strict
	$(BIN)/pytest

check: $(VENV)/.installed-test  ## the fast inner loop: lint, types, the sans-I/O, fs, aio and ui tests
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz
	$(BIN)/mypy --strict
	$(BIN)/pytest -q -x -m "not slow" tests/proto tests/fs tests/aio tests/ui

bench: $(VENV)/.installed-bench  ## run every benchmark; writes docs/benchmarks.{md,json,png}
	$(BIN)/python -m bench

tools:  ## system peers the interop tests talk to (apt-get when root, else a hint)
	@scripts/install-tools

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q src  # as installing a package does: start-up without compiling
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
