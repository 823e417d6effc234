# Loyalty decisioning service: every target bootstraps uv and the locked environment first.
.DEFAULT_GOAL := help
SHELL := /bin/bash

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export BENTOML_DO_NOT_TRACK := True

.PHONY: help install demo test test-slow reliability lint format bench clean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(UV):
	@echo "uv not found: installing it with pip"
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv
	@mkdir -p $(dir $(UV))
	@test -x $(UV) || ln -sf "$$(python3 -c 'import shutil; print(shutil.which("uv") or "")')" $(UV)

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced ## Create the environment from uv.lock

demo: install ## Run the main job end to end on embedded defaults (data home: ./.loyalty)
	$(RUN) loyalty demo

test: install ## Run the test suite (slow and reliability tests excluded)
	$(RUN) pytest -m "not slow and not reliability" -q

test-slow: install ## Run only the slow tests
	$(RUN) pytest -m slow -q

reliability: install ## Run the reliability suite (LOYALTY_RELIABILITY_SCALE=0.05 for a quick run)
	$(RUN) pytest tests/reliability -m reliability -q -s -p no:cacheprovider --durations=10

lint: install ## Lint, check formatting, the import layers (ARCHITECTURE.md's "may import") and types
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports
	$(RUN) mypy guardrails serving monitoring

format: install ## Format the code and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: install ## Run every benchmark under bench/ and rewrite BENCHMARKS.md
	UV=$(UV) $(RUN) python bench/run_all.py

clean: ## Remove the data home and caches
	rm -rf .loyalty .pytest_cache .ruff_cache .mypy_cache
