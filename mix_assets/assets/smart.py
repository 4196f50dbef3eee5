"""SMART task mixing over the corpus's clusters, read one shard at a time: the task means need one
pass, and each chosen task's examples are then read from the memory-mapped embeddings, so memory
follows a shard and a task, not the corpus (domain-adaptation selection: domain_selection.py)."""

import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets import plots
from mix_assets.assets.documents import duplicate_ids, shard_documents, super_cluster_of
from mix_assets.core import smart
from mix_assets.core.storage import read_npy, write_parquet
from mix_assets.resources import ProjectStorage, Warehouse

GROUP = "selection"


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
    deps=["embeddings", "cluster_assignments", "merged_clusters", "unique_ids"],
    code_version="2",
    description="SMART: tasks chosen by a submodular function over their mean embeddings, Taylor-softmax "
    "budgets, Facility Location examples per task; streamed: per-task means in one pass over the shards, "
    "then each chosen task's rows read from the memory-mapped embeddings.",
)
def smart_selection(
    context: AssetExecutionContext,
    config: SmartSelectionConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
) -> MaterializeResult:
    start = time.perf_counter()
    mapping, keys = super_cluster_of(warehouse), storage.materialized("cluster_assignments")
    dups = duplicate_ids(storage, warehouse, keys)
    refs, sums, counts = [], {}, {}
    for key in keys:  # pass 1: each task's embedding sum and size, and where its examples are
        docs, emb = shard_documents(storage, key, mapping, dups, text=False)
        keep = docs[config.task_column].is_not_null().to_numpy()  # pruned clusters have no super-cluster
        docs, emb = docs.filter(keep), emb[keep]
        task = docs[config.task_column].to_numpy()
        for t in np.unique(task):
            sums[t] = sums.get(t, 0) + emb[task == t].sum(axis=0, dtype=np.float64)
            counts[t] = counts.get(t, 0) + int((task == t).sum())
        refs.append(docs.select("doc_id", "shard", "row", pl.col(config.task_column).alias("task")))
    refs = pl.concat(refs)
    tasks = sorted(sums)
    order, gains, alloc = smart.plan(
        np.stack([sums[t] / counts[t] for t in tasks]),
        np.array([counts[t] for t in tasks]),
        config.budget,
        config.function,
        config.graph_cut_lambda,
        config.max_tasks,
        config.normalize_gains,
    )
    picked = []
    for t, n_j in zip(order, alloc):  # pass 2: each chosen task's examples, read from its shards only
        if n_j == 0:
            continue
        members = refs.filter(pl.col("task") == tasks[t]).sort("shard", "row")
        emb = np.concatenate(  # memory-mapped: only this task's rows are read
            [
                np.asarray(
                    read_npy(storage.path("embeddings", key, ".npy"))[part["row"].to_numpy()],
                    dtype=np.float32,
                )
                for (key,), part in members.group_by("shard", maintain_order=True)
            ]
        )
        picked.append(members[smart.select_examples(emb, int(n_j), config.chunk)])
    out = {"tasks": [tasks[t] for t in order], "gains": gains, "budgets": alloc.tolist()}
    picked = (
        pl.concat(picked)
        .sort("shard", "row")
        .select("doc_id", "shard", pl.col("task").alias(config.task_column))
    )
    write_parquet(picked, storage.path("smart_selection"))
    plan = pl.DataFrame(
        {"task": [int(t) for t in out["tasks"]], "gain": out["gains"], "budget": out["budgets"]}
    )
    write_parquet(plan, storage.path("smart_selection", "plan"))
    return MaterializeResult(
        metadata={
            "examples": picked.height,
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
