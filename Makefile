# arena-eval — `make help` lists the targets.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Asset-only packages: robot and object models read from their files, never imported.
# Installed without their dependencies (robosuite pins numpy<2 through mink 0.0.5 and pulls
# numba, opencv and pynput that we never use); see docs/architecture.md.
ASSET_PACKAGES := robosuite==1.5.2 robosuite-models==1.0.0

# The Isaac Lab venv (Python 3.12; Isaac Lab 3.0 needs >=3.12,<3.13): see docs/isaaclab.md.
PY312 ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; done)
ISAAC_VENV ?= .venv-isaac
# openpi's real server (openpi-server pins numpy<2 through openpi-client): its own small venv.
OPENPI_VENV ?= .venv-openpi
OPENPI_PACKAGES := openpi-server==0.1.0 openpi-client==0.1.2
ISAAC_BIN := $(ISAAC_VENV)/bin
# The LeRobot venv (Python 3.12: lerobot 0.6.1 needs >=3.12, torch<2.12, numpy<2.3): MuJoCo 4
# (recording runs on the batched backend, which Isaac Lab's mujoco 3.12 lacks), torch 2.11 and
# lerobot with its dataset, training and diffusion extras. See docs/lerobot.md.
LEROBOT_VENV ?= .venv-lerobot
LEROBOT_BIN := $(LEROBOT_VENV)/bin
# torchcodec (lerobot's video decoder) loads the system's FFmpeg libraries (Debian 12: FFmpeg 5).
FFMPEG_DEBS := libavcodec59 libavformat59 libavutil57 libavdevice59 libavfilter8 libswscale6 \
	libswresample4
# Warp's compiled kernels survive between runs and clean clones (cold compile ~2 min a scene).
export WARP_CACHE_PATH ?= $(HOME)/.cache/arena-eval/warp

.DEFAULT_GOAL := help
# Debian libraries for offscreen camera rendering (enable_cameras=true): Mesa's EGL and OSMesa.
GL_DEBS := libegl1 libosmesa6

.PHONY: help setup setup-gl setup-isaac setup-openpi setup-lerobot setup-ffmpeg setup-browser test test-full \
	test-slurm test-isaac test-isaac-full test-lerobot test-lerobot-full lint format run run-isaac bench \
	bench-backends bench-lerobot clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## Create .venv and install arena-eval with its dev tools and assets
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps $(ASSET_PACKAGES)
	@$(MAKE) --no-print-directory setup-gl
	@$(MAKE) --no-print-directory setup-openpi
	$(BIN)/arena-eval --version

setup-isaac: ## Create .venv-isaac: Python 3.12 + Isaac Lab 3.0 (kit-less) + arena-eval (~4 min, 8 GB)
	@test -n "$(PY312)" || { echo "error: no Python 3.12 found: set PY312=/path/to/python3.12"; exit 1; }
	test -x $(ISAAC_BIN)/python || $(PY312) -m venv $(ISAAC_VENV)
	$(ISAAC_BIN)/python -m pip install -q --upgrade pip
	$(ISAAC_BIN)/python -m pip install -q -e '.[isaaclab,dev]'
	$(ISAAC_BIN)/python -m pip install -q --no-deps $(ASSET_PACKAGES)
	$(ISAAC_BIN)/arena-eval --version

setup-lerobot: ## Create .venv-lerobot: Python 3.12 + lerobot 0.6.1 + MuJoCo 4 + arena-eval (~5 min cold, ~25 s warm)
	@test -n "$(PY312)" || { echo "error: no Python 3.12 found: set PY312=/path/to/python3.12"; exit 1; }
	@start=$$(date +%s); set -e; \
	test -x $(LEROBOT_BIN)/python || $(PY312) -m venv $(LEROBOT_VENV); \
	$(LEROBOT_BIN)/python -m pip install -q --upgrade pip; \
	$(LEROBOT_BIN)/python -m pip install -q -e '.[lerobot,dev]' 'mujoco>=4.0,<5'; \
	$(LEROBOT_BIN)/python -m pip install -q --no-deps $(ASSET_PACKAGES); \
	$(MAKE) --no-print-directory setup-ffmpeg setup-gl; \
	$(LEROBOT_BIN)/python -c "import lerobot, mujoco, torch; from mujoco import batch; \
	print(f'lerobot {lerobot.__version__}, mujoco {mujoco.__version__}, torch {torch.__version__}')"; \
	echo "setup-lerobot: $$(( $$(date +%s) - start )) s"

setup-browser: ## Install Debian's Chromium for the report tests (apt-get, root; skipped if present)
	@if command -v chromium >/dev/null; then echo "chromium present: $$(chromium --version)"; \
	elif ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ]; then \
		echo "note: the report tests open report.html in Chromium: install Debian's chromium"; \
	elif apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	then echo "installed $$(chromium --version)"; else echo "error: apt-get install chromium failed"; exit 1; fi

setup-ffmpeg: ## Install FFmpeg's libraries for lerobot's video decoding (apt-get, only those missing)
	@missing=$$(for p in $(FFMPEG_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "FFmpeg libraries present"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "note: lerobot's video decoding needs FFmpeg's libraries; install $$missing"; \
	elif [ "$$(id -u)" = 0 ]; then \
		if apt-get install -y -q $$missing >/dev/null 2>&1 || \
			{ apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
		then echo "installed" $$missing; else echo "error: apt-get install" $$missing "failed"; \
			exit 1; fi; \
	else echo "note: lerobot's video decoding needs $$missing: run 'sudo apt-get install -y $$missing'"; fi

setup-openpi: ## Create .venv-openpi: openpi's real websocket server, for the openpi tests (~30 s)
	test -x $(OPENPI_VENV)/bin/python || $(PY) -m venv $(OPENPI_VENV)
	$(OPENPI_VENV)/bin/python -m pip install -q $(OPENPI_PACKAGES)
	$(OPENPI_VENV)/bin/python -c "import openpi_server, openpi_client; print('openpi-server ready')"

setup-gl: ## Install the GL libraries for cameras (apt-get, only those missing, only as root)
	@missing=$$(for p in $(GL_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
		| grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "GL libraries present ($(GL_DEBS))"; \
	elif ! command -v apt-get >/dev/null; then \
		echo "note: cameras need EGL or OSMesa; install $$missing with your package manager"; \
	elif [ "$$(id -u)" = 0 ]; then \
		if apt-get install -y -q $$missing >/dev/null 2>&1 || \
			{ apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
		then echo "installed $$missing"; else echo "error: apt-get install $$missing failed"; \
			exit 1; fi; \
	else echo "note: cameras need $$missing: run 'sudo apt-get install -y $$missing'"; fi

test: ## Fast test suite (what CI runs)
	$(BIN)/python -m pytest -q -m "not slow and not slurm and not isaaclab and not lerobot"

test-full: ## Every test except the SLURM ones, slow included
	$(BIN)/python -m pytest -q -m "not slurm and not isaaclab and not lerobot"

test-isaac: ## The Isaac Lab suite on the CPU, slow tests left out (marker isaaclab; needs make setup-isaac)
	@test -x $(ISAAC_BIN)/python || { echo "error: $(ISAAC_VENV) is missing: run make setup-isaac"; exit 1; }
	ARENA_ISAACLAB_REQUIRED=1 $(ISAAC_BIN)/python -m pytest -q -m "not slow" tests/isaac_lab

test-isaac-full: ## The whole Isaac Lab suite: adds the fridge expert and every catalog task x object
	@test -x $(ISAAC_BIN)/python || { echo "error: $(ISAAC_VENV) is missing: run make setup-isaac"; exit 1; }
	ARENA_ISAACLAB_REQUIRED=1 $(ISAAC_BIN)/python -m pytest -q tests/isaac_lab

test-lerobot: ## The LeRobot suite: record, load, train, evaluate (marker lerobot; needs make setup-lerobot)
	@test -x $(LEROBOT_BIN)/python || { echo "error: $(LEROBOT_VENV) is missing: run make setup-lerobot"; exit 1; }
	ARENA_LEROBOT_REQUIRED=1 $(LEROBOT_BIN)/python -m pytest -q -m "not slow" tests/lerobot

test-lerobot-full: ## The LeRobot suite with the slow whole loop (record, lerobot-train, evaluate)
	@test -x $(LEROBOT_BIN)/python || { echo "error: $(LEROBOT_VENV) is missing: run make setup-lerobot"; exit 1; }
	ARENA_LEROBOT_REQUIRED=1 OMP_NUM_THREADS=1 $(LEROBOT_BIN)/python -m pytest -q tests/lerobot

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

run-isaac: ## The same evaluation on Isaac Lab (Newton physics on the CPU; needs make setup-isaac)
	$(ISAAC_BIN)/arena-eval sim=isaaclab env=lift_object embodiment=franka_ik object=cracker_box policy=scripted num_envs=8 length=episodes length.n=20

bench: ## Every benchmark of docs/performance.md (~6 min on 2 cores)
	$(BIN)/python scripts/bench_runner.py
	$(BIN)/python scripts/bench_batch.py
	$(BIN)/python scripts/bench_remote.py
	$(BIN)/python scripts/bench_scaling.py

bench-backends: ## MuJoCo against Isaac Lab in one run (needs make setup-isaac; ~15 min on 2 cores)
	$(BIN)/python scripts/bench_backends.py

bench-lerobot: ## Recording overhead and policy=lerobot ACT latency (needs make setup-lerobot; ~5 min)
	$(LEROBOT_BIN)/python scripts/bench_lerobot.py

clean: ## Remove outputs and caches (keeps .venv)
	rm -rf outputs multirun .pytest_cache .ruff_cache
