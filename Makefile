# fleetledger — everything installs from requirements.lock into .venv; only python3 is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install browser demo test lint format bench lock clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@echo "installing into $(VENV) from requirements.lock (first run takes ~2 minutes)…"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv from the lockfile

demo: $(STAMP)  ## generate 90 days of demo fleet data, backfill it, render the latest full month
	$(BIN)/fleetledger demo

browser:  ## Debian's chromium, headless, for the report tests (apt, once)
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (apt)…"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser  ## lint, format check and the test suite (installs chromium if missing)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## benchmarks: ratios against a floor measured in the same run (BENCH_ARGS=--quick: ~10 min)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

lock:  ## re-resolve requirements.lock (needs uv: pip install uv)
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
	  --no-header --no-annotate -o requirements.lock

clean:  ## remove generated data, reports and the venv
	rm -rf $(VENV) data/raw data/lake data/marts data/warehouse.duckdb data/demo_ground_truth.json reports/20* reports/index.html
