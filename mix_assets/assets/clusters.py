"""Centroids, per-shard assignments, cluster statistics, pruned clusters and super-clusters."""

import hashlib
import time

import numpy as np
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    asset,
)

from mix_assets import environment, plots
from mix_assets.assets.documents import own_documents, sample_texts, seeded_sample
from mix_assets.assets.shared import (
    ASSIGNMENTS_VERSION,
    SHARD_ASSET,
    assignment_version,
    each_shard,
    materialized,
    materialized_shards,
)
from mix_assets.automation import CONDITIONS
from mix_assets.checks import assignment_problems, assignments_check_spec, drift_check_spec
from mix_assets.core import kmeans, labels
from mix_assets.core.storage import (
    array_shape,
    load_npy,
    read_json,
    read_npy,
    read_parquet,
    take_rows,
    write_json,
    write_npy,
    write_parquet,
)
from mix_assets.profiles import gpu_op_tags
from mix_assets.resources import ClusteringSettings, EmbeddingModel, ProjectStorage, Warehouse
from mix_assets.workers import Workers

GROUP = "clusters"


class CentroidsConfig(Config):
    """K comes from the project file's clustering section; set here, it wins for one run."""

    n_clusters: int | None = None  # None: the project's; None there: one per docs_per_cluster, at most 1000
    docs_per_cluster: int | None = None
    # k-means is fit on a uniform sample of this many documents; None: 256 per centroid, the cap
    # faiss itself puts on a fit (more points cost memory and time and move centroids little)
    sample_size: int | None = None
    niter: int = 300


@asset(
    group_name=GROUP,
    deps=["embeddings"],
    code_version="1",
    tags={"dagster/pool": "gpu"},
    op_tags=gpu_op_tags(),
    description="K-means centroids (faiss) fit on a seeded sample of all shards' embeddings.",
)
def centroids(
    context: AssetExecutionContext,
    config: CentroidsConfig,
    storage: ProjectStorage,
    embedder: EmbeddingModel,
    clustering: ClusteringSettings,
) -> MaterializeResult:
    keys = materialized_shards(context, storage, "embeddings", ".npy")
    shapes = [array_shape(storage.path("embeddings", k, ".npy")) for k in keys]
    sizes = [s[0] for s in shapes]
    k = kmeans.auto_k(
        sum(sizes),
        config.n_clusters if config.n_clusters is not None else clustering.n_clusters,
        config.docs_per_cluster or clustering.docs_per_cluster,
    )
    rows = kmeans.sample_rows(sizes, config.sample_size or 256 * k, storage.seed)
    # filled in place, one shard at a time: the sample is the one thing held (393 MB at K = 1,000)
    sample, at = np.empty((sum(len(r) for r in rows), shapes[0][1]), np.float32), 0
    for key, r in zip(keys, rows):
        sample[at : at + len(r)] = take_rows(storage.path("embeddings", key, ".npy"), r)
        at += len(r)
    start = time.perf_counter()
    gpu = embedder.resolved_device().startswith("cuda") and _faiss_has_gpu()
    context.log.info(
        f"fitting k-means K={k} on {len(sample)} of {sum(sizes)} documents ({'GPU' if gpu else 'CPU'} faiss)"
    )
    cents, objective = kmeans.fit_centroids(sample, k, config.niter, storage.seed, gpu=gpu)
    environment.pause_point("centroids_fitted", context.log.info)  # new centroids in hand, none written
    write_npy(cents, storage.path("centroids", "all", ".npy"))
    # the drift baseline: how far a new document like the fit's is expected to sit from its centroid
    write_json(
        {
            "k": k,
            "sample": len(sample),
            "fit_mean_distance": kmeans.expected_distance(sample, cents),
            "shards": {key: storage.version("embeddings", key) for key in keys},
        },
        storage.path("centroids", "all", ".json"),
    )
    storage.mark_current(
        "centroids", "all", hashlib.sha256(cents.tobytes()).hexdigest()[:16]
    )  # assignments to these exact centroids
    context.log.info(
        f"k-means K={k} on {len(sample)} of {sum(sizes)} documents in {time.perf_counter() - start:.1f}s"
    )
    return MaterializeResult(
        metadata={
            "k": k,
            "sample": len(sample),
            "documents": sum(sizes),
            "shards": len(keys),
            "objective": objective,
            "seconds": round(time.perf_counter() - start, 2),
            "faiss_gpu": gpu,
        }
    )


def _faiss_has_gpu() -> bool:
    import faiss

    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def assign_shard(key: str, storage: dict) -> dict:
    """One shard's nearest centroids, on whichever worker (reused when already made from these
    centroids and embeddings)."""
    store = ProjectStorage(**storage)
    cents = load_npy(store.path("centroids", "all", ".npy"))
    version = assignment_version(store.version("centroids"), store.version("embeddings", key))
    ids = read_parquet(store.path("raw_shards", key), columns=["doc_id"])["doc_id"]
    reused = store.is_current("cluster_assignments", key, ".parquet", version)
    if reused:
        out = read_parquet(store.path("cluster_assignments", key))
    else:
        cluster, dist = kmeans.assign(read_npy(store.path("embeddings", key, ".npy")), cents)
        out = pl.DataFrame({"doc_id": ids, "cluster": cluster, "distance": dist})
    problems = assignment_problems(ids, out, len(cents))
    if not reused:
        write_parquet(out, store.path("cluster_assignments", key))
        store.mark_current("cluster_assignments", key, version)
    return {
        "reused": reused,
        "documents": out.height,
        "problems": problems,
        "counts": np.bincount(out["cluster"].to_numpy(), minlength=len(cents)),
        "mean_distance": float(out["distance"].mean() or 0.0),
    }


@asset(
    automation_condition=CONDITIONS["cluster_assignments"],
    **{**SHARD_ASSET, "group_name": GROUP},
    deps=["centroids", "embeddings"],
    code_version=ASSIGNMENTS_VERSION,
    check_specs=[assignments_check_spec, drift_check_spec],
    description="Nearest centroid of every document of the shard, with its squared distance.",
)
def cluster_assignments(
    context: AssetExecutionContext,
    storage: ProjectStorage,
    warehouse: Warehouse,
    clustering: ClusteringSettings,
    workers: Workers,
) -> MaterializeResult:
    began = time.perf_counter()
    cents = load_npy(storage.path("centroids", "all", ".npy"))
    fit = storage.path("centroids", "all", ".json")
    baseline = (
        read_json(fit)["fit_mean_distance"] if fit.exists() else float("nan")
    )  # centroids from before drift was tracked
    problems, counts, reused, drift = [], np.zeros(len(cents), np.int64), 0, {}
    current = storage.version("centroids")
    units = {key: (key, storage.model_dump()) for key in context.partition_keys}
    for key, shard in each_shard(context, workers, storage, assign_shard, units):
        problems += [f"{key}: {p}" for p in shard["problems"]]  # the check covers reused shards too
        reused += shard["reused"]
        counts += shard["counts"]
        drift[key] = shard["mean_distance"] / max(baseline, 1e-12)
        context.log.info(
            f"{key}: assigned {shard['documents']} documents, drift {drift[key]:.3f} (mean distance over "
            f"the fit's)"
        )
    warehouse.replace(
        "assignment_drift",
        pl.DataFrame(
            {"shard": list(drift), "centroids": [current] * len(drift), "drift": list(drift.values())}
        ),
        where={"shard": list(drift)},
    )
    worst = max(drift, key=drift.get)
    # new shards are assigned to the old centroids; a refit is due when they sit this much farther
    # from them than the fit sample did
    threshold = clustering.drift_threshold
    return materialized(
        began,
        {
            "documents": int(counts.sum()),
            "docs_per_second": round(int(counts.sum()) / max(time.perf_counter() - began, 1e-9), 1),
            "reused_shards": reused,
            "clusters_hit": int((counts > 0).sum()),
            "k": len(cents),
            "max_drift": drift[worst],
        },
        check_results=[
            AssetCheckResult(
                check_name=assignments_check_spec.name,
                passed=not problems,
                metadata={"problems": "; ".join(problems[:20]) or "none"},
            ),
            AssetCheckResult(
                check_name=drift_check_spec.name,
                passed=not drift[worst] > threshold,
                severity=AssetCheckSeverity.WARN,  # NaN: no baseline
                metadata={"max_drift": drift[worst], "shard": worst, "threshold": threshold},
            ),
        ],
    )


class ClusterStatsConfig(Config):
    label_terms: int = 4
    label_docs_per_cluster: int = 200  # c-TF-IDF labels read at most this many documents per cluster
    label_docs: int = 50_000  # and at most this many in all, so memory does not grow with K x corpus


@asset(
    automation_condition=CONDITIONS["cluster_stats"],
    group_name=GROUP,
    deps=["cluster_assignments", "quality_signals", "raw_shards", "unique_ids"],
    code_version="1",
    description="Per cluster: documents, tokens, bytes, mean quality, mean distance and a c-TF-IDF label.",
)
def cluster_stats(
    context: AssetExecutionContext, config: ClusterStatsConfig, storage: ProjectStorage, warehouse: Warehouse
) -> MaterializeResult:
    began = time.perf_counter()
    k = len(load_npy(storage.path("centroids", "all", ".npy")))
    keys = materialized_shards(context, storage, "cluster_assignments")
    sums = {c: np.zeros(k) for c in ("n_docs", "n_tokens", "n_bytes", "quality", "distance")}

    def counted(frames):  # sums per cluster as the shards go by, for the label sample's one pass
        for docs in frames:
            cluster = docs["cluster"].to_numpy()
            sums["n_docs"] += np.bincount(cluster, minlength=k)
            for c in ("n_tokens", "n_bytes", "quality", "distance"):
                sums[c] += np.bincount(cluster, weights=docs[c].cast(pl.Float64).to_numpy(), minlength=k)
            yield docs.select("doc_id", "shard", "cluster")

    per_cluster = max(1, min(config.label_docs_per_cluster, config.label_docs // k))
    frames = own_documents(storage, warehouse, keys, ("n_tokens", "n_bytes"), quality=True)
    sample = sample_texts(
        storage, seeded_sample(counted(frames), per_cluster, storage.seed, "cluster"), "cluster"
    )
    names = labels.ctfidf_labels(sample["text"].to_list(), sample["cluster"].to_numpy(), config.label_terms)
    n = np.maximum(sums["n_docs"], 1)
    agg = pl.DataFrame(
        {
            "cluster": np.arange(k, dtype=np.int64),
            "n_docs": sums["n_docs"].astype(np.int64),
            "n_tokens": sums["n_tokens"].round().astype(np.int64),
            "n_bytes": sums["n_bytes"].round().astype(np.int64),
            "mean_quality": sums["quality"] / n,
            "mean_distance": sums["distance"] / n,
        }
    ).filter(pl.col("n_docs") > 0)
    stats = (
        pl.DataFrame({"cluster": np.arange(k, dtype=np.int64)})
        .join(agg, on="cluster", how="left")
        .with_columns(
            pl.col("n_docs", "n_tokens", "n_bytes").fill_null(0).cast(pl.Int64),
            pl.col("cluster").replace_strict(names, default="(empty)", return_dtype=pl.Utf8).alias("label"),
        )
    )
    warehouse.replace("cluster_stats", stats)  # the warehouse owns the small tables: no parquet twin
    top = stats.sort("n_tokens", descending=True)
    return materialized(
        began,
        {
            "clusters": k,
            "documents": int(sums["n_docs"].sum()),
            "label_docs_per_cluster": per_cluster,
            "tokens": int(stats["n_tokens"].sum()),
            "largest_share": float(top["n_tokens"][0] / max(stats["n_tokens"].sum(), 1)),
            "cluster_sizes": plots.barh(
                [f"{c}: {lab}" for c, lab in zip(top["cluster"], top["label"])],
                top["n_tokens"].to_list(),
                "Tokens per cluster",
                "tokens",
            ),
            "largest_clusters": plots.md_table(
                top.head(15).select("cluster", "n_docs", "n_tokens", "mean_quality", "label")
            ),
        },
    )
