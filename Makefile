# Every target creates .venv (if missing) and installs pinned dependencies into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint fmt reliability bench install clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.runtime $@

install: $(VENV)/.dev

## The main job: replay real outcomes on the embedded default (SQLite, in-process tasks).
demo: $(VENV)/.runtime
	$(BIN)/pantheon demo

## The whole test suite (unit, integration against real services, end-to-end processes).
test: $(VENV)/.dev
	bash scripts/test

## ruff (lint + format check), then mypy strict on what pyproject.toml lists; the same script CI runs.
lint: $(VENV)/.dev
	bash scripts/lint

fmt: $(VENV)/.dev
	$(BIN)/ruff format src tests benchmarks scripts
	$(BIN)/ruff check --fix src tests benchmarks scripts

## Fault-injection suite against real processes (tens of minutes).
reliability: $(VENV)/.dev
	$(BIN)/python -m benchmarks.reliability

## Pipeline benchmark with same-run baselines (writes bench-results/).
bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks.pipeline

## Regenerate requirements.lock (every runtime dependency, pinned with hashes, for Python
## 3.11) after changing a dependency in pyproject.toml; the Railway builds install from it.
lock: $(VENV)/.dev
	$(BIN)/uv pip compile pyproject.toml deploy/railway/build-requirements.in \
		--universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements.lock

clean:
	rm -rf $(VENV) .pantheon bench-results test-output .mypy_cache .ruff_cache .pytest_cache
