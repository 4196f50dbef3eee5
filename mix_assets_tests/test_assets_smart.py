"""SMART as an asset on a real corpus sample: budgets, tasks, and the streamed pick against the
in-memory one."""

import numpy as np
import polars as pl
from dagster import AssetSelection, materialize

from mix_assets.assets import all_assets


def run(p, asset, config):
    return materialize(
        all_assets,
        instance=p.instance,
        resources=p.resources,
        selection=AssetSelection.assets(asset),
        run_config={"ops": {asset: {"config": config}}},
    )


def test_smart_selection_budget_and_tasks(searcher):
    p = searcher()
    run(p, "smart_selection", {"budget": 120, "max_tasks": 10, "chunk": 64})
    picked = pl.read_parquet(p.work / "smart_selection" / "all.parquet")
    plan = pl.read_parquet(p.work / "smart_selection" / "plan.parquet")
    assert picked.height == 120 == plan["budget"].sum() and picked["doc_id"].n_unique() == 120
    assert plan.height == 10 and set(picked["cluster"]) <= set(plan["task"])
    assert (plan["gain"].diff().drop_nulls() <= 1e-9).all()  # greedy gains never increase (submodularity)


def test_streamed_smart_picks_what_smart_in_memory_picks(searcher):
    from mix_assets.assets.documents import duplicate_ids, shard_documents, super_cluster_of
    from mix_assets.core import smart

    p = searcher()
    run(p, "smart_selection", {"budget": 120, "max_tasks": 10, "chunk": 64})
    picked = pl.read_parquet(p.work / "smart_selection" / "all.parquet")
    plan = pl.read_parquet(p.work / "smart_selection" / "plan.parquet")
    keys = p.storage.materialized("cluster_assignments")
    mapping, dups = super_cluster_of(p.warehouse), duplicate_ids(p.storage, p.warehouse, keys)
    parts = [shard_documents(p.storage, k, mapping, dups, text=False) for k in keys]
    docs, emb = pl.concat([d for d, _ in parts]), np.concatenate([e for _, e in parts])
    keep = docs["cluster"].is_not_null().to_numpy()
    docs, emb = docs.filter(keep), emb[keep]
    whole = smart.smart(docs["cluster"].to_numpy(), emb, 120, max_tasks=10, chunk=64)
    # the same tasks and budgets; the examples, within float noise of the task means, the same
    assert dict(zip(plan["task"], plan["budget"])) == dict(zip(map(int, whole["tasks"]), whole["budgets"]))
    same = set(picked["doc_id"]) & set(docs[whole["rows"]]["doc_id"])
    assert len(same) >= 0.9 * 120
