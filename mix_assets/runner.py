"""The whole pipeline in one process: `mix-assets run`, what `make run` calls.

The same assets, resources and instance as `dagster asset materialize`, run stage by stage in the
order of the Makefile's CLI path, and each run is recorded on the instance as the CLI's are (the UI
shows them, sensors see them). What it saves is start-up: the CLI path starts a process per run and,
under the multiprocess executor, one more per step, each importing the code location (and torch
where a step embeds); a search of three rounds pays over twenty such starts (bench/README.md,
"First run").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dagster import AssetSelection, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

SHARD_STAGES = ["raw_shards", "quality_signals", "embeddings"]
CLUSTER_STAGES = ["unique_ids", "cluster_stats", "pruned_clusters", "merged_clusters"]
ROUND_STAGES = ["mixture_candidates", "proxy_trials", "proxy_scores", "predictor"]
FINAL_STAGES = ["final_mixture", "run_report"]


def range_tags(keys: list[str] | None) -> dict | None:
    """The run tags that make one run of a partition range (a shard stage's single-run backfill)."""
    return (
        {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]} if keys else None
    )


def result_line(summary: dict) -> str:
    """What a search's final mixture scored on its targets' evaluation part (held out from the
    search), beside natural and uniform: the line `make run` ends with. `summary` is
    final_mixture/<search>.json."""
    scores = summary["evaluation"]
    baselines = ", ".join(f"{k} {scores[k]:.3f}" for k in ("natural", "uniform") if k in scores)
    return (
        f"{summary['search']}: final mixture {summary['mixture_id']} ({summary['chosen']}) scores "
        f"{scores[summary['chosen']]:.3f} nats/token on the evaluation part; {baselines}"
    )


class StageFailed(RuntimeError):
    pass


def _cause(error) -> str:
    """The user's exception under Dagster's wrappers, in one line."""
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error is not None else "?"


class Runner:
    """Materializes a selection in this process, through `instance` (default: $DAGSTER_HOME's)."""

    def __init__(self, instance: DagsterInstance | None = None, log: Callable[[str], None] = print):
        from mix_assets.assets import all_assets
        from mix_assets.checks import all_checks
        from mix_assets.definitions import defs

        self.instance = instance or DagsterInstance.get()
        self.assets = [*all_assets, *all_checks]
        self.resources = dict(defs.resources)
        self.log = log
        self.seconds: dict[str, float] = {}

    def stage(self, label: str, selection: list[str], partition: str | None = None, keys=None) -> None:
        began = time.perf_counter()
        result = materialize(
            self.assets,
            instance=self.instance,
            resources=self.resources,
            selection=AssetSelection.assets(*selection),
            partition_key=partition,
            tags=range_tags(keys),
            raise_on_error=False,
        )
        self.seconds[label] = round(time.perf_counter() - began, 1)
        if not result.success:
            failed = [
                f"{e.step_key}: {_cause(e.step_failure_data.error)}"
                for e in result.all_events
                if e.is_step_failure
            ]
            raise StageFailed(
                f"{label} failed (run {result.run_id}; the log above, or the run in the UI, has the rest)\n"
                + "\n".join(failed)
            )
        self.log(f"{label}: done in {self.seconds[label]}s")

    def foundation(self, keys: list[str]) -> None:
        """Shards to super-clusters, as `make materialize`."""
        self.stage("shards", SHARD_STAGES, keys=keys)
        self.stage("centroids", ["centroids"])
        self.stage("assignments", ["cluster_assignments"], keys=keys)
        self.stage("clusters", CLUSTER_STAGES)

    def search(self, name: str, next_round: Callable[[str], str | None]) -> None:
        """One search, as `make search`: targets, every round its schedule has, the final mixture."""
        self.stage(f"{name}: search_targets", ["search_targets"], partition=name)
        while (key := next_round(name)) is not None:
            self.stage(f"round {key}", ROUND_STAGES, partition=key)
        self.stage(f"{name}: final mixture", FINAL_STAGES, partition=name)

    def proxy_corpus(self, keys: list[str]) -> None:
        self.stage("proxy_tokenizer", ["proxy_tokenizer"])
        self.stage("proxy_corpus", ["proxy_corpus"], keys=keys)
