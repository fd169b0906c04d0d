# Everything runs from a project-local virtualenv built from requirements.lock (every version pinned).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo sync test lint format bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies

demo: $(STAMP) ## run the whole job against the bundled emulators into data/demo.duckdb
	$(PY) -m pipelines demo

sync: $(STAMP) ## run the scheduled job (extract everything configured) into the warehouse
	$(PY) -m pipelines sync

test: $(STAMP) ## run the test suite (real emulators over HTTP, real DuckDB files)
	$(PY) -m pytest

lint: $(STAMP) ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(STAMP) ## measure each step against its baseline (figures go in the README)
	$(PY) -m bench.infinity_load
	$(PY) -m bench.footprints_load
	$(PY) -m bench.push

lock: ## re-resolve requirements.lock from pyproject.toml in a scratch virtualenv
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --disable-pip-version-check setuptools '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^callsync' > requirements.lock
	rm -rf .lockenv

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) data
