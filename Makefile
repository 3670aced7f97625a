# govhub: `make help` lists the targets. On a fresh machine with Python 3.11+ and make,
# `make run` and `make test` install everything themselves (uv from PyPI, then uv sync).

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.tools/bin/uv:
	@echo "installing uv from PyPI into .tools/"
	@$(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv

$(STAMP): uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen
	@touch $(STAMP)

install: $(STAMP) ## Install the workspace into .venv (uv sync --frozen)

DEMO_SCALE ?= 0.05

run: $(STAMP) ## Replay the Guangzhou year (govhub demo), then keep serving the hub on :8000
	$(VENV)/bin/govhub demo --scale $(DEMO_SCALE) --keep-serving \
		--host $${GOVHUB_HOST:-127.0.0.1} --port $${GOVHUB_PORT:-8000}

serve: $(STAMP) ## Start the whole hub alone (all-in-one, embedded PostgreSQL) on :8000
	$(VENV)/bin/govhub run --host $${GOVHUB_HOST:-127.0.0.1} --port $${GOVHUB_PORT:-8000}

test: $(STAMP) ## Run the tests (real PostgreSQL and RabbitMQ; see README)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) ## Run the benchmarks (not part of CI; figures go into the README)
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean: ## Remove the venv and local data (.govhub)
	rm -rf $(VENV) .tools .govhub .govhub-test

.PHONY: help install run serve test lint format bench clean
