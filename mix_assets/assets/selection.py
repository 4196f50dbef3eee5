"""SMART task mixing and domain-adaptation selection (classifier, contrastive, DSIR) over the corpus."""

import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.shared import super_cluster_of
from mix_assets.core import selection, smart
from mix_assets.core.ingest import ingest_shard
from mix_assets.core.proxies import bpe
from mix_assets.core.storage import read_npy, read_parquet, write_parquet
from mix_assets.resources import EmbeddingModel, ProjectStorage, Warehouse

GROUP = "selection"


def corpus_with_embeddings(storage: ProjectStorage, warehouse: Warehouse) -> tuple[pl.DataFrame, np.ndarray]:
    """Every assigned document (doc_id, shard, cluster, super_cluster, text) and its embedding row."""
    mapping = super_cluster_of(warehouse)
    keys = storage.materialized("cluster_assignments")
    frames, embs = [], []
    for k in keys:
        docs = read_parquet(storage.path("raw_shards", k), columns=["doc_id", "text"]).with_columns(
            pl.lit(k).alias("shard")
        )
        docs = docs.hstack(read_parquet(storage.path("cluster_assignments", k), columns=["cluster"]))
        frames.append(docs)
        embs.append(np.asarray(read_npy(storage.path("embeddings", k, ".npy")), dtype=np.float32))
    docs = pl.concat(frames).join(mapping, on="cluster", how="left", maintain_order="left")
    return docs, np.concatenate(embs)


class SmartSelectionConfig(Config):
    task_column: str = "cluster"  # the grouping that acts as tasks: k-means "cluster" or "super_cluster"
    budget: int = 1000  # N examples in all
    function: str = "graph_cut"  # or facility_location, log_determinant
    graph_cut_lambda: float = 0.4
    max_tasks: int | None = None  # M
    chunk: int = 2048  # examples per Facility Location block: memory is chunk^2, whatever the task size


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


class DomainSelectionConfig(Config):
    in_domain: str = "data/targets/mathematics.parquet"  # the small in-domain sample
    text_column: str = "text"
    fraction: float = 0.25  # keep the top share of the corpus
    ngram_order: int = 3  # contrastive selection's n-gram LMs
    dsir_buckets: int = 10_000


@asset(
    group_name=GROUP,
    deps=["embeddings", "cluster_assignments", "merged_clusters"],
    code_version="1",
    description="Per-document in-domain scores by domain classifier, contrastive cross-entropy difference "
    "and DSIR, and each method's selected subset.",
)
def domain_selection(
    context: AssetExecutionContext,
    config: DomainSelectionConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    embedder: EmbeddingModel,
) -> MaterializeResult:
    docs, emb = corpus_with_embeddings(storage, warehouse)
    sample = ingest_shard(config.in_domain, config.text_column, id_column=None).documents
    if sample.height == 0:
        raise ValueError(f"{config.in_domain}: in-domain sample has no usable text")
    texts = docs["text"].to_list()
    timings, scores = {}, {}
    start = time.perf_counter()
    scores["classifier"] = selection.classifier_scores(
        emb, embedder.encode(sample["text"].to_list()), storage.seed
    )
    timings["classifier"] = time.perf_counter() - start
    start = time.perf_counter()
    tok = bpe.train_bpe(texts, 4096)
    scores["contrastive"] = selection.contrastive_scores(
        bpe.split(*bpe.encode(tok, texts)),
        bpe.split(*bpe.encode(tok, sample["text"].to_list())),
        tok.get_vocab_size(),
        config.ngram_order,
    )
    timings["contrastive"] = time.perf_counter() - start
    start = time.perf_counter()
    scores["dsir"] = selection.dsir_scores(texts, sample["text"].to_list(), config.dsir_buckets)
    timings["dsir"] = time.perf_counter() - start
    k = int(round(config.fraction * len(texts)))
    table = docs.select("doc_id", "shard", "cluster", "super_cluster").with_columns(
        *[pl.Series(f"score_{m}", s) for m, s in scores.items()],
        pl.Series(
            "selected_classifier",
            np.isin(np.arange(len(texts)), selection.top_fraction(scores["classifier"], config.fraction)),
        ),
        pl.Series(
            "selected_contrastive",
            np.isin(np.arange(len(texts)), selection.top_fraction(scores["contrastive"], config.fraction)),
        ),
        pl.Series(
            "selected_dsir",
            np.isin(np.arange(len(texts)), selection.gumbel_top_k(scores["dsir"], k, storage.seed)),
        ),
    )
    write_parquet(table, storage.path("domain_selection"))
    overlap = {
        f"{a}&{b}": int((table[f"selected_{a}"] & table[f"selected_{b}"]).sum())
        for a, b in (("classifier", "contrastive"), ("classifier", "dsir"), ("contrastive", "dsir"))
    }
    return MaterializeResult(
        metadata={
            "documents": len(texts),
            "selected_per_method": k,
            "overlap": MetadataValue.json(overlap),
            "seconds": MetadataValue.json({m: round(t, 2) for m, t in timings.items()}),
            **{f"histogram_{m}": plots.histogram(s, f"{m} score") for m, s in scores.items()},
        }
    )
