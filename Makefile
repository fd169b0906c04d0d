# Everything runs from a project-local virtualenv built from requirements.lock (every version pinned).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The BigQuery emulator (local-bigquery) needs Python >= 3.13; pyenv's if present, else the PATH's.
PYTHON313 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13.0/bin/python3.13) python3.13)
BQENV := .bqenv
BQ_STAMP := $(BQENV)/.installed
# DuckDB looks for extensions under $HOME; the emulator runs with HOME=$(BQENV)/home.
BQ_EXTENSIONS := $(BQENV)/home/.duckdb/extensions/v1.5.5/linux_amd64

# libfaketime moves the clock of the clock-travel tests' processes (Python's and DuckDB's).
FAKETIME_GLOB := /usr/lib/*-linux-gnu/faketime/libfaketime.so.1
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Where `make demo` keeps its warehouse and dlt's working folder (pipelines/demo.py).
DEMO_ENV := DESTINATION__DUCKDB__CREDENTIALS=data/demo.duckdb SYNC__PIPELINES_DIR=data/demo-pipelines

.DEFAULT_GOAL := help
.PHONY: help install demo status-demo shell-demo shell sync faketime chromium test test-shifted test-bigquery lint format bench lock clean bigquery-emulator

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies

demo: $(STAMP) ## run the whole job against the bundled emulators into data/demo.duckdb
	$(PY) -m pipelines demo

status-demo: $(STAMP) ## cursors, counts, deliveries and the last run of the demo's warehouse
	$(DEMO_ENV) $(PY) -m pipelines status

shell-demo: $(STAMP) ## a SQL prompt on the demo's warehouse, data/demo.duckdb (read-only)
	$(DEMO_ENV) $(PY) -m pipelines query

shell: $(STAMP) ## a SQL prompt on the configured DuckDB warehouse (read-only)
	$(PY) -m pipelines query

sync: $(STAMP) ## run the scheduled job (extract everything configured) into the warehouse
	$(PY) -m pipelines sync

faketime: ## install Debian's faketime (libfaketime) when it is missing
	@ls $(FAKETIME_GLOB) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq faketime && ls $(FAKETIME_GLOB); }

# Debian's Chromium: the browser the report's test opens the page in (tests/helpers/browser.py).
CHROMIUM := /usr/bin/chromium

chromium: ## install Debian's Chromium (headless, for the report's browser test) when it is missing
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium && test -x $(CHROMIUM); }

test: $(STAMP) faketime chromium ## run the test suite (real emulators over HTTP, real DuckDB files)
	$(PY) -m pytest

# The whole suite again with the clock moved (default 150 days ahead, or e.g. SHIFT=+400d):
# nothing may depend on the day the code was written. Relative offsets only, so the clock
# travel tests can still place their own processes; tests/faketime keeps time.sleep working.
SHIFT ?= +150d
test-shifted: $(STAMP) faketime chromium ## the test suite with the clock moved SHIFT ahead (default +150d) by libfaketime
	LD_PRELOAD=$$(ls $(FAKETIME_GLOB) | head -n 1) FAKETIME="$(SHIFT)" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	FAKETIME_FORCE_MONOTONIC_FIX=0 PYTHONPATH=$(CURDIR)/tests/faketime $(PY) -m pytest

test-bigquery: $(STAMP) $(BQ_STAMP) ## the BigQuery tests: sync, models and push on the local-bigquery emulator
	$(PY) -m pytest -m bigquery

lint: $(STAMP) ## ruff lint and format check, mypy type check ([tool.mypy] in pyproject.toml)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP) ## apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(STAMP) ## measure each step against its baseline (figures go in the README)
	$(PY) -m bench.infinity_load
	$(PY) -m bench.footprints_load
	$(PY) -m bench.models_build
	$(PY) -m bench.push

# A fresh venv each time the lock changes, so no package outlives the lock. --no-deps: the lock
# holds duckdb 1.5.5 against local-bigquery's duckdb>=2.0 pin (see bigquery-emulator.lock).
$(BQ_STAMP): bigquery-emulator.lock
	$(PYTHON313) --version
	rm -rf $(BQENV) && $(PYTHON313) -m venv $(BQENV)
	$(BQENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r bigquery-emulator.lock
	mkdir -p $(BQ_EXTENSIONS)
	cp $(BQENV)/lib/python3.13/site-packages/duckdb_extension_*/extensions/v1.5.5/*.duckdb_extension $(BQ_EXTENSIONS)/
	cd $(BQ_EXTENSIONS) && ls ducklake.duckdb_extension icu.duckdb_extension spatial.duckdb_extension
	touch $(BQ_STAMP)

bigquery-emulator: $(BQ_STAMP) ## build .bqenv, the offline local-bigquery emulator (Python 3.13)

lock: ## re-resolve requirements.lock from pyproject.toml in a scratch virtualenv
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet --disable-pip-version-check setuptools '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^callsync' > requirements.lock
	rm -rf .lockenv

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) data
