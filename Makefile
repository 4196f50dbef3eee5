# The two set-up commands of the README: `make run` (install + main job on the embedded corpus)
# and `make test` (install + test suite). Everything else here is a helper they call.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build on a machine without a GPU. On a GPU machine install your CUDA torch into .venv
# first (or pass TORCH_SPEC); an already installed torch is kept.
TORCH_SPEC ?= torch==2.13.0
# the project's dagster.yaml (state under data/dagster); set DAGSTER_HOME to use another instance
DAGSTER_HOME ?= $(CURDIR)
export DAGSTER_HOME
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
DAGSTER := $(BIN)/dagster asset materialize -m mix_assets.definitions

.PHONY: install run materialize search test lint typecheck ui clean

# `make run` needs the package only; `make test` adds the dev extras (Ray, Kubernetes, ONNX, pytest)
$(VENV)/.core: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.core
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The pipeline in one process (`mix-assets run`): shards to super-clusters, then every search of the
# project file to its final mixture and run report; each stage is a run on the instance, as below.
run: $(VENV)/.core
	$(BIN)/mix-assets run

# The same pipeline through the Dagster CLI, stage by stage, as users' CI and schedules run it
# (shard stages take the whole partition range in one run). The project file (mix_assets.yaml, or
# MIX_ASSETS_CONFIG) says what it runs on; CLUSTER_CONFIG passes run config (JSON) to the
# cluster-table step.
materialize:
	RANGE=$$($(BIN)/mix-assets shards) && echo "shards: $$RANGE" && \
	$(DAGSTER) --select raw_shards,quality_signals,embeddings --partition-range $$RANGE && \
	$(DAGSTER) --select centroids && \
	$(DAGSTER) --select cluster_assignments --partition-range $$RANGE && \
	$(DAGSTER) --select unique_ids,cluster_stats,pruned_clusters,merged_clusters $(if $(CLUSTER_CONFIG),--config-json '$(CLUSTER_CONFIG)')

# Every search of the project file: its targets, one `rounds next` + one run per round, then its
# final mixture and run report (<work>/run_report/<search>/index.html).
search:
	RANGE=$$($(BIN)/mix-assets shards) && \
	$(DAGSTER) --select proxy_tokenizer && \
	$(DAGSTER) --select proxy_corpus --partition-range $$RANGE && \
	for S in $$($(BIN)/mix-assets searches); do \
	  echo "search: $$S" && $(DAGSTER) --select search_targets --partition $$S || exit 1; \
	  while R=$$($(BIN)/mix-assets rounds next --search $$S 2>/dev/null); do \
	    echo "round: $$R" && $(DAGSTER) --select mixture_candidates,proxy_trials,proxy_scores,predictor --partition $$R || exit 1; \
	  done && \
	  $(DAGSTER) --select final_mixture,run_report --partition $$S && \
	  echo "report: $$($(BIN)/python -c 'from mix_assets import environment as e; print(e.work_dir())')/run_report/$$S/index.html" || exit 1; \
	done

# one worker per core, a test file per worker at a time: a file's fixtures stay in one process
TEST_WORKERS ?= auto
test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# ruff's formatter and linter, configured in pyproject.toml
lint: install
	$(BIN)/ruff format --check . && $(BIN)/ruff check .

# mypy over mix_assets/core ([tool.mypy]), and Dagster's own check of the code location
typecheck: install
	$(BIN)/mypy
	$(BIN)/dg check defs

ui: install
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf data/dagster data/work data/warehouse.duckdb data/warehouse.duckdb.wal
