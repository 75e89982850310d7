# The two set-up commands: `make run` (serve the embedded default) and `make test`.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
# no uv on PATH: install it into a private venv (works with an "externally managed" Python too)
UV := .tools/bin/uv
endif
PYTEST_ARGS ?=

.PHONY: help install run demo migrate test test-postgres test-embedded services lint typecheck format bench clean

help:
	@echo "make run            serve the embedded default on http://127.0.0.1:8000"
	@echo "make demo           fill the embedded database with a demo company (prints its login)"
	@echo "make test           the whole suite on PostgreSQL + Redis, then on the embedded lane"
	@echo "make test-postgres  one lane;  make test-embedded  the other"
	@echo "make lint | typecheck | format"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups
	@touch $@

install: .venv/.synced

run: install
	$(UV) run --frozen --no-sync qoach serve --host 127.0.0.1 --port 8000

demo: install
	$(UV) run --frozen --no-sync qoach migrate
	$(UV) run --frozen --no-sync qoach demo-data --small

migrate: install
	$(UV) run --frozen --no-sync qoach migrate

services:
	@bash scripts/services.sh

test: install services
	QOACH_TEST_LANE=postgres $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)
	QOACH_TEST_LANE=embedded $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

test-postgres: install services
	QOACH_TEST_LANE=postgres $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

test-embedded: install
	QOACH_TEST_LANE=embedded $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

lint: install
	$(UV) run --frozen --no-sync ruff check .
	$(UV) run --frozen --no-sync ruff format --check .

format: install
	$(UV) run --frozen --no-sync ruff format .
	$(UV) run --frozen --no-sync ruff check --fix .

typecheck: install
	$(UV) run --frozen --no-sync mypy src

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache qoach.db qoach.db-wal qoach.db-shm
