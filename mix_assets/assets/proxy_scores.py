"""Per round: the proxy trials as one table, the scores the predictor and the report read."""

import json
import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.search_state import round_candidates
from mix_assets.assets.shared import ROUND_ASSET, materialized
from mix_assets.partitions import search_of
from mix_assets.resources import ProjectStorage, Searches, Warehouse


@asset(
    **ROUND_ASSET,
    deps=["proxy_trials", "mixture_candidates"],
    code_version="2",
    description="The round's trials as a table (round, mixture id, weights, every metric, seconds, "
    "backend, status), joined to the candidates by id.",
)
def proxy_scores(
    context: AssetExecutionContext, storage: ProjectStorage, warehouse: Warehouse, searches: Searches
) -> MaterializeResult:
    began = time.perf_counter()
    key = context.partition_key
    candidates = round_candidates(warehouse, key)
    records = [
        json.loads(p.read_text()) for p in sorted(storage.folder("proxy_trials").joinpath(key).glob("*.json"))
    ]
    known = set(candidates["mixture_id"])
    unknown = [r["mixture_id"] for r in records if r["mixture_id"] not in known]
    if unknown:
        context.log.warning(
            f"ignoring {len(unknown)} trial files whose mixture id is not a candidate of {key}: {unknown[:5]}"
        )
    records = [r for r in records if r["mixture_id"] in known]
    metric_names = sorted({m for r in records for m in r["metrics"]})
    rows = pl.DataFrame(
        {
            "mixture_id": [r["mixture_id"] for r in records],
            "status": [r["status"] for r in records],
            "reason": [r["reason"] for r in records],
            "seconds": [float(r["seconds"]) for r in records],
            "backend": [r["backend"] for r in records],
            **{f"m_{m}": [float(r["metrics"].get(m, np.nan)) for r in records] for m in metric_names},
        },
        schema_overrides={"mixture_id": pl.Utf8, "status": pl.Utf8, "reason": pl.Utf8, "backend": pl.Utf8},
    )
    table = candidates.join(rows, on="mixture_id", how="left").with_columns(
        pl.col("status").fill_null("not run")
    )
    warehouse.replace("proxy_scores", table, where={"round": key})  # the warehouse owns it: no parquet twin
    ok = table.filter(pl.col("status") == "ok")
    # "best" follows the search's direction: the lowest loss, or the highest accuracy
    minimize = searches.get(search_of(key)).minimize
    best = pl.col("m_objective").min() if minimize else pl.col("m_objective").max()
    by_kind = (
        ok.group_by("kind")
        .agg(best.alias("best"), pl.col("m_objective").mean().alias("mean"), pl.len())
        .sort("kind")
        if ok.height
        else ok
    )
    return materialized(
        began,
        {
            "trials": table.height,
            "ok": ok.height,
            "failed": int((table["status"] == "failed").sum()),
            "best_objective": float(ok.select(best).item()) if ok.height else float("nan"),
            "by_kind": plots.md_table(by_kind) if ok.height else MetadataValue.md("no successful trial"),
        },
    )
