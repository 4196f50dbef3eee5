"""Prune low-quality clusters, then merge near ones into super-clusters (CLIMB §1 steps 3-4)."""

from __future__ import annotations

import numpy as np
import polars as pl


def prune(stats: pl.DataFrame, min_mean_quality: float, min_docs: int = 1) -> pl.DataFrame:
    """`stats` with `kept` and a `reason` for every dropped cluster."""
    reason = (
        pl.when(pl.col("n_docs") < min_docs)
        .then(pl.lit(f"fewer than {min_docs} documents"))
        .when(pl.col("mean_quality") < min_mean_quality)
        .then(pl.format("mean quality {} < {}", pl.col("mean_quality").round(3), pl.lit(min_mean_quality)))
        .otherwise(None)
    )
    return stats.with_columns(reason.alias("reason")).with_columns(pl.col("reason").is_null().alias("kept"))


def merge(
    centroids: np.ndarray, method: str = "ward", distance: float = 1.5, n_super: int | None = None
) -> np.ndarray:
    """Super-cluster label per centroid (0..S-1, in order of first appearance).

    ward: Ward agglomerative clustering cut at `distance` (NVIDIA's CLIMB recipe).
    threshold: merge any two centroids closer than `distance` (single linkage), as the paper says.
    n_super: cut the same tree into this many super-clusters instead of at a distance (Ward
    distances grow with K, so 1.5 fits K = 1000; a fixed count is easier on small corpora).
    """
    if len(centroids) == 0:
        raise ValueError("no clusters left to merge: pruning dropped every cluster; lower min_mean_quality")
    if len(centroids) == 1:
        return np.zeros(1, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    if method not in ("ward", "threshold"):
        raise ValueError(f"merge method must be 'ward' or 'threshold', not {method!r}")
    tree = linkage(np.asarray(centroids, dtype=np.float64), method="ward" if method == "ward" else "single")
    raw = (
        fcluster(tree, t=n_super, criterion="maxclust")
        if n_super
        else fcluster(tree, t=distance, criterion="distance")
    )
    _, first = np.unique(raw, return_index=True)
    order = {lab: i for i, lab in enumerate(raw[np.sort(first)])}
    return np.array([order[r] for r in raw], dtype=np.int64)
