"""Asset checks. Blocking ones stop the stages below when a result would poison them."""

import numpy as np
import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, asset_check

from mix_assets.resources import SCHEMA, Warehouse

# Shard-partitioned assets evaluate their own checks inside the run (a check result per run,
# covering every shard of the run), so these are specs plus plain functions.
embeddings_check_spec = AssetCheckSpec(
    "finite_unit_norm",
    asset="embeddings",
    blocking=True,
    description="No NaN/inf, every row unit-norm, one row per document.",
)
assignments_check_spec = AssetCheckSpec(
    "every_document_assigned",
    asset="cluster_assignments",
    blocking=True,
    description="One assignment per document, to an existing centroid.",
)
drift_check_spec = AssetCheckSpec(
    "assignment_drift",
    asset="cluster_assignments",
    description="Mean squared distance to the nearest centroid, per shard, over the k-means fit's: "
    "above the project file's clustering.drift_threshold the centroids no longer fit the corpus.",
)


def embeddings_problems(emb: np.ndarray, n_docs: int, tol: float = 1e-3) -> list[str]:
    problems = []
    if emb.shape[0] != n_docs:
        problems.append(f"{emb.shape[0]} rows for {n_docs} documents")
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        problems.append(f"{int(bad.sum())} rows with NaN/inf (first row {int(np.argmax(bad))})")
    norms = np.linalg.norm(emb.astype(np.float32), axis=1)
    off = np.abs(norms - 1) > tol
    if off.any():
        problems.append(
            f"{int(off.sum())} rows not unit-norm (first row {int(np.argmax(off))}, norm "
            f"{norms[np.argmax(off)]:.4f})"
        )
    return problems


def assignment_problems(doc_ids: pl.Series, assigned: pl.DataFrame, k: int) -> list[str]:
    problems = []
    if assigned.height != doc_ids.len() or not assigned["doc_id"].equals(doc_ids):
        problems.append(f"{assigned.height} assignments for {doc_ids.len()} documents (or out of order)")
    out = assigned.filter((pl.col("cluster") < 0) | (pl.col("cluster") >= k))
    if out.height:
        problems.append(f"{out.height} documents assigned outside 0..{k - 1}")
    return problems


@asset_check(
    asset=AssetKey("cluster_stats"),
    description="Every centroid has documents (faiss re-seeds empty clusters during the fit, so an empty "
    "one means assignment drift).",
)
def no_empty_cluster(warehouse: Warehouse) -> AssetCheckResult:
    empty = warehouse.query(f"SELECT cluster FROM {SCHEMA}.cluster_stats WHERE n_docs = 0")
    return AssetCheckResult(
        passed=empty.height == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={"empty_clusters": empty.height, "ids": str(empty["cluster"].to_list()[:50])},
    )


@asset_check(
    asset=AssetKey("merged_clusters"),
    blocking=True,
    description="Every kept cluster maps to exactly one super-cluster; no dropped cluster does.",
)
def mapping_covers_kept_clusters(warehouse: Warehouse) -> AssetCheckResult:
    kept = set(
        warehouse.query(f"SELECT cluster FROM {SCHEMA}.pruned_clusters WHERE kept")["cluster"].to_list()
    )
    mapping = warehouse.query(f"SELECT cluster, super_cluster FROM {SCHEMA}.cluster_mapping")
    mapped = mapping["cluster"].to_list()
    missing, extra = kept - set(mapped), set(mapped) - kept
    twice = len(mapped) - len(set(mapped))
    return AssetCheckResult(
        passed=not (missing or extra or twice),
        metadata={
            "kept_clusters": len(kept),
            "missing": str(sorted(missing)[:50]),
            "not_kept_but_mapped": str(sorted(extra)[:50]),
            "mapped_twice": twice,
        },
    )


@asset_check(
    asset=AssetKey("unique_ids"),
    blocking=True,
    description="Once the copies in mix.duplicate_ids are left out, every recorded id is held once.",
)
def ids_unique_across_shards(warehouse: Warehouse) -> AssetCheckResult:
    counts = warehouse.query(
        f"SELECT count(*) AS documents, count(DISTINCT doc_id) AS ids FROM {SCHEMA}.document_ids d "
        f"ANTI JOIN {SCHEMA}.duplicate_ids x ON d.shard = x.shard AND d.doc_id = x.doc_id"
    ).row(0, named=True)
    return AssetCheckResult(passed=counts["documents"] == counts["ids"], metadata=counts)


all_checks = [no_empty_cluster, mapping_covers_kept_clusters, ids_unique_across_shards]
