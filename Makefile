# The README's two commands: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 8000
HOST   ?= 127.0.0.1
BIN    := $(VENV)/bin

.PHONY: run banner test lint typecheck check worker migrate demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Serve the API (with an embedded worker in development) on $(HOST):$(PORT), docs at /docs.
run: banner $(VENV)/.installed
	$(BIN)/linli migrate
	$(BIN)/linli demo --if-empty
	$(BIN)/linli serve --host $(HOST) --port $(PORT)

banner:
	@echo "Linli 邻里 — staff console: http://$(HOST):$(PORT)/console   API docs: http://$(HOST):$(PORT)/docs"

## The whole test suite (SQLite; PostgreSQL when LINLI_TEST_DATABASE_URL is set).
test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy api workers

check: lint typecheck test

worker: $(VENV)/.installed
	$(BIN)/linli worker

migrate: $(VENV)/.installed
	$(BIN)/linli migrate

demo: $(VENV)/.installed
	$(BIN)/linli demo --if-empty

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache var
