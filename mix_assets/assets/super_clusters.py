"""Pruned clusters (quality threshold) and merged super-clusters: the domains the search mixes."""

import time

import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets import plots
from mix_assets.assets.documents import cluster_map, own_documents, sample_texts, seeded_sample
from mix_assets.assets.shared import materialized, materialized_shards
from mix_assets.automation import CONDITIONS
from mix_assets.core import labels, merge
from mix_assets.core.storage import load_npy
from mix_assets.resources import SCHEMA, ClusteringSettings, ProjectStorage, Warehouse

GROUP = "clusters"


class PrunedClustersConfig(Config):
    # CLIMB drops a cluster whose mean classifier score is under a threshold; 0.8 of the Gopher
    # rules passed keeps prose, code and formulas and drops boilerplate-heavy clusters.
    min_mean_quality: float | None = None  # None: the project file's (0.8 by default)
    min_docs: int = 1


@asset(
    automation_condition=CONDITIONS["pruned_clusters"],
    group_name=GROUP,
    deps=["cluster_stats"],
    code_version="1",
    description="Every cluster with kept / dropped and the reason.",
)
def pruned_clusters(
    context: AssetExecutionContext,
    config: PrunedClustersConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    clustering: ClusteringSettings,
) -> MaterializeResult:
    began = time.perf_counter()
    stats = warehouse.query(f"SELECT * FROM {SCHEMA}.cluster_stats ORDER BY cluster")
    threshold = clustering.min_mean_quality if config.min_mean_quality is None else config.min_mean_quality
    pruned = merge.prune(stats, threshold, config.min_docs)
    warehouse.replace("pruned_clusters", pruned)
    dropped = pruned.filter(~pl.col("kept"))
    context.log.info(f"kept {pruned.height - dropped.height} of {pruned.height} clusters")
    return materialized(
        began,
        {
            "clusters": pruned.height,
            "kept": pruned.height - dropped.height,
            "dropped": dropped.height,
            "dropped_tokens_share": float(dropped["n_tokens"].sum() / max(stats["n_tokens"].sum(), 1)),
            "dropped_clusters": plots.md_table(
                dropped.select("cluster", "n_docs", "mean_quality", "reason", "label")
            ),
        },
    )


class MergedClustersConfig(Config):
    # None: the project file's clustering section (ward, 1.5, no fixed count by default)
    method: str | None = None  # "ward" (NVIDIA recipe) or "threshold" (merge if centroid distance < distance)
    distance: float | None = None
    n_super_clusters: int | None = None  # set: cut the tree into this many instead of at `distance`
    label_terms: int = 5
    label_docs_per_cluster: int = 300


@asset(
    automation_condition=CONDITIONS["merged_clusters"],
    group_name=GROUP,
    deps=["pruned_clusters", "centroids"],
    code_version="1",
    description="Super-clusters of the kept clusters; mapping cluster -> super-cluster and token counts "
    "(the mixture prior).",
)
def merged_clusters(
    context: AssetExecutionContext,
    config: MergedClustersConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    clustering: ClusteringSettings,
) -> MaterializeResult:
    began = time.perf_counter()
    pruned = warehouse.query(f"SELECT * FROM {SCHEMA}.pruned_clusters ORDER BY cluster")
    kept = pruned.filter("kept")
    cents = load_npy(storage.path("centroids", "all", ".npy"))
    # a run that sets the distance cuts at it, unless it also fixes the count
    n_super = config.n_super_clusters
    if n_super is None and config.distance is None:
        n_super = clustering.n_super_clusters
    method = config.method or clustering.merge
    distance = clustering.merge_distance if config.distance is None else config.distance
    raw = merge.merge(cents[kept["cluster"].to_numpy()], method, distance, n_super)
    # number super-clusters by size (0 = most tokens) so ids read naturally and stay stable
    by_size = (
        kept.with_columns(pl.Series("raw", raw))
        .group_by("raw")
        .agg(pl.col("n_tokens").sum())
        .sort(["n_tokens", "raw"], descending=[True, False])
    )
    rank = dict(zip(by_size["raw"].to_list(), range(by_size.height)))
    mapping = kept.select("cluster", pl.Series("super_cluster", [rank[r] for r in raw], dtype=pl.Int64))
    keys = materialized_shards(context, storage, "cluster_assignments")
    frames = (d.join(mapping, on="cluster") for d in own_documents(storage, warehouse, keys))
    picked = seeded_sample(frames, config.label_docs_per_cluster, storage.seed, "super_cluster")
    sample = sample_texts(storage, picked, "super_cluster")
    names = labels.ctfidf_labels(
        sample["text"].to_list(), sample["super_cluster"].to_numpy(), config.label_terms
    )
    # from the clusters' own sums (cluster_stats), not a second pass over the documents
    supers = (
        kept.join(mapping, on="cluster")
        .group_by("super_cluster")
        .agg(
            pl.len().alias("n_clusters"),
            pl.col("n_docs").sum(),
            pl.col("n_tokens").sum(),
            ((pl.col("mean_quality") * pl.col("n_docs")).sum() / pl.col("n_docs").sum()).alias(
                "mean_quality"
            ),
        )
        .sort("super_cluster")
        .with_columns(
            (pl.col("n_tokens") / pl.col("n_tokens").sum()).alias("token_share"),
            pl.col("super_cluster").replace_strict(names, default="", return_dtype=pl.Utf8).alias("label"),
        )
    )
    warehouse.replace("cluster_mapping", mapping)
    warehouse.replace("super_clusters", supers)
    context.log.info(
        f"merged {kept.height} clusters into {supers.height} super-clusters ({method}, distance "
        f"{distance}, count {n_super})"
    )
    return materialized(
        began,
        {
            "super_clusters": supers.height,
            "kept_clusters": kept.height,
            "method": method,
            "distance": distance,
            "n_super_clusters": n_super if n_super is not None else "cut at distance",
            "token_shares": plots.barh(
                [f"{s}: {lab}" for s, lab in zip(supers["super_cluster"], supers["label"])],
                supers["token_share"].to_list(),
                "Natural mixture (token share) per super-cluster",
                "share",
            ),
            "cluster_map": cluster_map(pruned, mapping, supers, cents),
            "super_clusters_table": plots.md_table(supers),
            "warehouse_tables": f"{SCHEMA}.cluster_mapping, {SCHEMA}.super_clusters",
        },
    )
