# Two commands for users: `make run` (the default pipeline) and `make test` (the test suite).
# Both create .venv on first use and install the pinned dependencies into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORES  ?= all

BENCH_VENV ?= .venv-bench

.PHONY: run test bench bench-env lint report report-check dvc-yaml schemas smoke cluster-test clean-results help

help:
	@echo "make run    - run the whole default pipeline (snakemake --cores $(CORES))"
	@echo "make test   - run the test suite (unit tests + a smoke run of the whole DAG)"
	@echo "make bench  - run every benchmark in benchmarks/, results in results/bench/*.json"
	@echo "make bench-env - lm-evaluation-harness in its own environment $(BENCH_VENV) (bench_evaluator.py compares with it)"
	@echo "make report - write report.html (plots, tables, manifest) from the last run"
	@echo "make report-check - open report.html and its tables in headless Chromium: screenshots, no warnings"
	@echo "make lint   - snakefmt --check and snakemake --lint"
	@echo "make cluster-test - the smoke DAG through a one-node SLURM on localhost (Debian, root; not in make test)"

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report report.html
	@echo "done: results/ holds every phase's outputs, report.html the plots and tables"

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@mkdir -p results/bench
	@set -e; for b in benchmarks/bench_*.py; do \
		name=$$(basename $$b .py | sed 's/^bench_//'); \
		echo "== $$b"; PATH="$(CURDIR)/$(BIN):$$PATH" LMEVAL_PYTHON=$${LMEVAL_PYTHON:-$$(test -x $(BENCH_VENV)/bin/python && echo $(CURDIR)/$(BENCH_VENV)/bin/python)} \
			$(BIN)/python $$b --out results/bench/$$name.json; \
	done

bench-env:  ## the optional `bench` extra (lm-eval, pinned in requirements.lock) in its own environment
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -c requirements.lock "lm-eval==0.4.13" accelerate torch transformers datasets

report: $(STAMP)
	$(BIN)/snakemake --report report.html

report-check: report  ## the report and its tables in headless Chromium (apt-get install chromium)
	$(BIN)/python tools/report_check.py report.html --out results/report_check

lint: $(STAMP)
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

dvc-yaml: $(STAMP)
	$(BIN)/python workflow/scripts/gen_dvc.py

schemas: $(STAMP)  ## workflow/schemas/*.schema.yaml from the parameter models (src/avss/params.py, src/ball3d/params.py)
	$(BIN)/python workflow/scripts/gen_schemas.py

smoke: $(STAMP)  ## the smoke run of the whole DAG + DVC paths, in a temporary copy
	$(BIN)/python -m pytest -q tests/test_workflow_dag.py

cluster-test: $(STAMP)  ## profiles/slurm on a real one-node SLURM (installs it; README "Running on a cluster")
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[cluster]"
	BIN=$(CURDIR)/$(BIN) bash tools/cluster/cluster_test.sh
