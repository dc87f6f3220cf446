# Two commands on a fresh machine: `make run` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export GX_ANALYTICS_ENABLED := False
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME := $(CURDIR)/.prefect
# OpenMP's threads (XGBoost, scikit-learn) sleep while they wait instead of spinning: beside
# featurize, train_health's spinning threads took 59 s of wall and 59 s of CPU for 22 s of work
# (37 s and 22 s with them asleep; featurize 87 -> 74 s), and `make test`'s two workers took
# 10 min 55 s against 5 min 55 s on one clean clone. Alone, a stage takes as long either way
# (train 48-49 s beside drift_report, evaluate 98-101 s). The results do not depend on it.
export OMP_WAIT_POLICY ?= PASSIVE
# Let Python cache compiled modules: where PYTHONDONTWRITEBYTECODE is set (this machine and CI
# set it), every process compiled every module it imported from source again (a no-op
# `dvc repro`: 4.9 s, 1.3 s with the cache; each stage and test process pays it too).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install init run test test-fast lint flow bench clean clean-registry llm llm-serve

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "batteryops needs Python 3.11, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e ".[dev]"
	touch $(STAMP)

# Initialise whatever git/DVC state a fresh copy lacks (a tarball, not a clone).
init: install
	@test -d .git || (git init -q && git add -A && git -c user.name=batteryops -c user.email=batteryops@localhost commit -qm "initial import")
	@test -d .dvc || $(BIN)/dvc init -q
	@mkdir -p data/raw data/raw_cycles feedback

# DVC lets go of its repository lock while a stage's command runs, so stages that share no output
# can go side by side (2 cores; each pair's peak memory stays under 4 GB): the cycling branch
# (SOH and RUL, ~40 s of one core) beside featurize, then drift_report beside train. One stage at a
# time in each chain (`-s`: a stage whose status is checked takes a lock on its outputs, so
# neither chain may look at the other's or at a shared upstream). `dvc repro` then does the rest;
# `dvc repro` alone gives the same outputs. The cycling branch went beside generate, ingest and
# validate before (December 2026): with the kernels' warm-up those three asked for 3 cores, and
# that first phase took 100 s of a 355 s clean-clone run, for ~70 s of work on 2 cores.
CYCLING_CHAIN := cycles validate_cycles health_features train_health register_health
chain = for stage in $(1); do $(BIN)/dvc --wait-for-lock repro -s $$stage || exit 1; done
side_by_side = ($(call chain,$(2))) & second=$$!; ($(call chain,$(1))); first=$$?; \
	wait $$second && test $$first = 0

# featurize's compiled kernels are compiled into numba's cache beside the first stages, sharing
# the cores with them (batteryops/hazard/warm.py; a clean clone's featurize spent ~17 s of one
# core on it while its other thread waited); if that fails, featurize compiles them itself.
run: init
	@$(BIN)/python -m batteryops.hazard.warm & warm=$$!; \
	$(BIN)/dvc repro validate; \
	status=$$?; wait $$warm || echo "kernel warm-up failed: featurize compiles its kernels itself"; \
	exit $$status
	@$(call side_by_side,featurize,$(CYCLING_CHAIN))
	@$(call side_by_side,train,drift_report)
	$(BIN)/dvc repro
	@echo; echo "Registration gates on this run's metrics (details: metrics/*.json, reports/):"
	-@$(BIN)/batteryops gate

# Two workers, whole files each (the e2e modules share one project copy per file), in the order
# tests/conftest.py gives them (longest first), not xdist's own (most tests first). The 25
# slowest setups and tests are listed at the end: where the next speed work starts.
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25
test: install
	$(PYTEST)

# Optional: the embedded small language model for `batteryops ask` (llama-cpp-python builds from
# source: 6-16 min on 2 cores). `make llm-serve` then serves it at http://127.0.0.1:8011/v1.
# Built for x86-64-v3 (AVX2, FMA, F16C), not for the building CPU: llama.cpp's native build
# used the AMX and AVX-512 that this machine's CPU lists, and its server died of an illegal
# instruction (exit 132) at the first question; a wheel built natively is also wrong for any
# other machine that shares uv's cache. The setting is part of uv's cache key.
LLM_CMAKE_ARGS := llama-cpp-python:cmake.args=-DGGML_NATIVE=OFF
llm: install
	$(BIN)/uv pip install -q --python $(BIN)/python --config-settings-package "$(LLM_CMAKE_ARGS)" \
		-e ".[llm]"

llm-serve: llm
	$(BIN)/batteryops llm-serve

test-fast: install
	$(PYTEST) -m "not e2e"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

flow: init
	$(BIN)/python -m flows.pipeline

bench: install
	$(BIN)/python benchmarks/spine.py

# Run outputs only: the model registry (mlflow.db, mlartifacts/) and its audit log (registry/)
# are the record of what reached the fleet and survive `make clean`.
clean:
	rm -rf data models metrics/*.json reports .prefect dvc.lock

# Deletes the registry and the audit log too: every registered version, alias and decision.
clean-registry: clean
	rm -rf registry mlflow.db mlartifacts
