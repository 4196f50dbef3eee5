"""SMART and domain-adaptation selection as assets on a real corpus sample."""

import polars as pl
from dagster import AssetSelection, materialize

from mix_assets.assets import all_assets
from mix_assets_tests.conftest import ROOT, TRUE_DOMAINS


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


def test_domain_selection_finds_the_target_domain(searcher):
    p = searcher()
    run(
        p,
        "domain_selection",
        {"in_domain": str(ROOT / "data" / "targets" / "mathematics.parquet"), "fraction": 0.1},
    )
    table = pl.read_parquet(p.work / "domain_selection" / "all.parquet").join(
        pl.read_parquet(TRUE_DOMAINS), on="doc_id"
    )
    base = (table["domain"] == "mathematics").mean()
    for method in ("classifier", "contrastive", "dsir"):
        chosen = table.filter(pl.col(f"selected_{method}"))
        assert chosen.height == round(0.1 * table.height)
        assert (chosen["domain"] == "mathematics").mean() > 4 * base, method  # base rate ~1/8
