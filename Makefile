# arena-eval — `make help` lists the targets.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Asset-only packages: robot and object models read from their files, never imported.
# Installed without their dependencies (robosuite pins numpy<2 through mink 0.0.5 and pulls
# numba, opencv and pynput that we never use); see docs/architecture.md.
ASSET_PACKAGES := robosuite==1.5.2 robosuite-models==1.0.0

.DEFAULT_GOAL := help
.PHONY: help setup test test-full test-slurm lint format run bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## Create .venv and install arena-eval with its dev tools and assets
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps $(ASSET_PACKAGES)
	$(BIN)/arena-eval --version

test: ## Fast test suite (what CI runs)
	$(BIN)/python -m pytest -q -m "not slow and not slurm"

test-full: ## Every test except the SLURM ones, slow included
	$(BIN)/python -m pytest -q -m "not slurm"

test-slurm: ## Integration tests against a real single-node SLURM (root, Debian; installs it)
	ARENA_SLURM_REQUIRED=1 $(BIN)/python -m pytest -q -m slurm

lint: ## ruff check + format check
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

format: ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests scripts
	$(BIN)/ruff format src tests scripts

run: ## A real evaluation: the scripted expert lifting a cracker box, 8 envs, 20 episodes
	$(BIN)/arena-eval env=lift_object embodiment=franka_ik object=cracker_box policy=scripted num_envs=8 length=episodes length.n=20

bench: ## Every benchmark of docs/performance.md (~6 min on 2 cores)
	$(BIN)/python scripts/bench_runner.py
	$(BIN)/python scripts/bench_batch.py
	$(BIN)/python scripts/bench_remote.py
	$(BIN)/python scripts/bench_scaling.py

clean: ## Remove outputs and caches (keeps .venv)
	rm -rf outputs multirun .pytest_cache .ruff_cache
