# Two commands from a fresh clone: `make quickstart` and `make test`.
# Needs only Python >= 3.11 and make; everything else goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install quickstart test lint typecheck format clean

# The environment is exactly uv.lock (extras postgres and exchanges, dev group, this
# package editable); `--locked` fails if the lock no longer matches pyproject.toml (run
# `uv lock` and commit it). uv itself is bootstrapped with pip once, then kept by the
# lock's dev group.
$(STAMP): pyproject.toml uv.lock Makefile
	test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"; }
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked --all-extras --group dev \
		--compile-bytecode --quiet
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/downside quickstart

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two test processes (pytest-xdist), a test file per process at a time: 7 min instead of
# 14 on two cores. `$(BIN)/pytest` alone runs serially.
test: lint typecheck
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n 2 --dist loadfile

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .downside .mypy_cache .ruff_cache .pytest_cache
