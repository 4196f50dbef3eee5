"""SMART task mixing over the corpus's clusters (domain-adaptation selection: domain_selection.py)."""

import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets import plots
from mix_assets.assets.shared import duplicate_ids, shard_documents, super_cluster_of
from mix_assets.core import smart
from mix_assets.core.storage import write_parquet
from mix_assets.resources import ProjectStorage, Warehouse

GROUP = "selection"


def corpus_with_embeddings(storage: ProjectStorage, warehouse: Warehouse) -> tuple[pl.DataFrame, np.ndarray]:
    """Every assigned document of its own id (doc_id, shard, cluster, super_cluster, text) and its
    embedding row."""
    mapping = super_cluster_of(warehouse)
    keys = storage.materialized("cluster_assignments")
    dups = duplicate_ids(storage, warehouse, keys)
    parts = [shard_documents(storage, k, mapping, dups) for k in keys]
    return pl.concat([d for d, _ in parts]), np.concatenate([e for _, e in parts])


class SmartSelectionConfig(Config):
    task_column: str = "cluster"  # the grouping that acts as tasks: k-means "cluster" or "super_cluster"
    budget: int = 1000  # N examples in all
    function: str = "graph_cut"  # or facility_location, log_determinant
    graph_cut_lambda: float = 0.4
    max_tasks: int | None = None  # M
    chunk: int = 2048  # examples per Facility Location block: memory is chunk^2, whatever the task size
    normalize_gains: bool = False  # True: budgets from gains / max gain (flatter than the published raw)


@asset(
    group_name=GROUP,
    deps=["embeddings", "cluster_assignments", "merged_clusters"],
    code_version="1",
    description="SMART: tasks chosen by a submodular function, Taylor-softmax budgets, Facility Location "
    "examples per task.",
)
def smart_selection(
    context: AssetExecutionContext,
    config: SmartSelectionConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
) -> MaterializeResult:
    docs, emb = corpus_with_embeddings(storage, warehouse)
    keep = (
        docs[config.task_column].is_not_null().to_numpy()
    )  # documents of pruned clusters have no super-cluster
    docs, emb = docs.filter(keep), emb[keep]
    start = time.perf_counter()
    out = smart.smart(
        docs[config.task_column].to_numpy(),
        emb,
        config.budget,
        config.function,
        config.graph_cut_lambda,
        config.max_tasks,
        config.chunk,
        config.normalize_gains,
    )
    picked = docs[out["rows"]].select("doc_id", "shard", config.task_column)
    write_parquet(picked, storage.path("smart_selection"))
    plan = pl.DataFrame(
        {"task": [int(t) for t in out["tasks"]], "gain": out["gains"], "budget": out["budgets"]}
    )
    write_parquet(plan, storage.path("smart_selection", "plan"))
    return MaterializeResult(
        metadata={
            "examples": len(out["rows"]),
            "tasks_selected": len(out["tasks"]),
            "seconds": round(time.perf_counter() - start, 2),
            "budgets": plots.barh(
                [f"{config.task_column} {t}" for t in plan["task"]],
                plan["budget"].to_list(),
                "Examples per task (greedy order)",
                "examples",
            ),
        }
    )
