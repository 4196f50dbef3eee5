"""Domain-adaptation selection (domain classifier, contrastive cross-entropy difference, DSIR),
one shard at a time.

Pass 1 reads each shard once: DSIR's raw bucket counts and a bounded, seeded generic sample.
The models are then fitted on samples only: the classifier (in-domain vs generic), a BPE vocabulary,
the in-domain n-gram LM, and one generic n-gram LM per half of the corpus. Pass 2 reads each shard
again and scores it; a document is scored by the generic models of the half it is not in, so no
document scores itself. Memory follows a shard and the samples, never the corpus: each shard's scored
rows go to a scratch file, only the scores (three floats a document) stay in memory, the top fraction
is taken over them, and the output is written from the scratch files a shard at a time.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets import environment, plots
from mix_assets.assets.documents import duplicate_ids, shard_documents, super_cluster_of
from mix_assets.core import domain_selection as core_selection
from mix_assets.core.ingest import ingest_shard
from mix_assets.core.proxies import bpe
from mix_assets.core.storage import atomic_path, detached, read_parquet
from mix_assets.resources import EmbeddingModel, ProjectStorage, Warehouse

METHODS = ("classifier", "contrastive", "dsir")


class DomainSelectionConfig(Config):
    in_domain: str = "data/targets/mathematics.parquet"  # the small in-domain sample
    text_column: str = "text"
    fraction: float = 0.25  # keep the top share of the corpus
    ngram_order: int = 3  # contrastive selection's n-gram LMs
    dsir_buckets: int = 10_000
    generic_sample: int = 20_000  # generic documents the models are fitted on, both halves together


def fit_models(
    sample: pl.DataFrame, sample_emb: np.ndarray, in_domain: list[str], in_emb, config, seed, tokenizer=None
):
    """The classifier and generic LM of each half, the in-domain LM and the BPE vocabulary they share
    (trained here on the samples unless given)."""
    halves = core_selection.half(sample["doc_id"].to_list())
    if not all((halves == h).sum() >= 2 for h in (0, 1)):
        raise ValueError(
            f"the generic sample has {(halves == 0).sum()} and {(halves == 1).sum()} documents in its two "
            "halves; cross-fitting needs at least 2 in each (a larger corpus or generic_sample)"
        )
    texts = sample["text"].to_list()
    tok = tokenizer or bpe.train_bpe(texts + in_domain, 4096)
    seqs = bpe.split(*bpe.encode(tok, texts))
    vocab = tok.get_vocab_size()
    return {
        "tokenizer": tok,
        "vocab": vocab,
        "lm_in": core_selection.fit_ngram(bpe.split(*bpe.encode(tok, in_domain)), vocab, config.ngram_order),
        "lm_base": [
            core_selection.fit_ngram([s for s, x in zip(seqs, halves) if x == h], vocab, config.ngram_order)
            for h in (0, 1)
        ],
        "classifier": [core_selection.fit_classifier(sample_emb[halves == h], in_emb, seed) for h in (0, 1)],
    }


def score_shard(docs: pl.DataFrame, emb: np.ndarray, models: dict, log_ratio, timings: dict) -> dict:
    """Each document by the models of the other half."""
    other = 1 - core_selection.half(docs["doc_id"].to_list())
    texts = docs["text"].to_list()
    out = {m: np.empty(docs.height) for m in METHODS}
    start = time.perf_counter()
    for h in (0, 1):
        rows = np.flatnonzero(other == h)
        if len(rows):
            out["classifier"][rows] = models["classifier"][h].decision_function(emb[rows])
    timings["classifier"] += time.perf_counter() - start
    start = time.perf_counter()
    seqs = bpe.split(*bpe.encode(models["tokenizer"], texts))
    for h in (0, 1):
        rows = np.flatnonzero(other == h)
        out["contrastive"][rows] = core_selection.cross_entropy_difference(
            models["lm_in"], models["lm_base"][h], [seqs[i] for i in rows]
        )
    timings["contrastive"] += time.perf_counter() - start
    start = time.perf_counter()
    out["dsir"] = core_selection.dsir_score(texts, log_ratio)
    timings["dsir"] += time.perf_counter() - start
    return out


def write_parts(parts: list[Path], selected: dict[str, np.ndarray], path) -> None:
    """The scored parts, in order, with each method's selected flag, into one parquet file written a
    part at a time (row groups), so the whole table is never in memory."""
    lo, writer = 0, None
    with atomic_path(path) as tmp:
        try:
            for part in parts:
                table = pl.read_parquet(part)
                hi = lo + table.height
                arrow = table.with_columns(
                    *[pl.Series(f"selected_{m}", flags[lo:hi]) for m, flags in selected.items()]
                ).to_arrow()
                writer = writer or pq.ParquetWriter(tmp, arrow.schema, compression="zstd")
                writer.write_table(arrow)
                lo = hi
        finally:
            if writer is not None:
                writer.close()


@asset(
    group_name="selection",
    deps=["embeddings", "cluster_assignments", "merged_clusters", "unique_ids"],
    code_version="2",
    description="Per-document in-domain scores by domain classifier, contrastive cross-entropy difference "
    "and DSIR, and each method's selected subset; fitted on bounded samples, cross-fitted by halves, "
    "scored shard by shard.",
)
def domain_selection(
    context: AssetExecutionContext,
    config: DomainSelectionConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    embedder: EmbeddingModel,
) -> MaterializeResult:
    began = time.perf_counter()
    sample_in = ingest_shard(config.in_domain, config.text_column, id_column=None).documents
    if sample_in.height == 0:
        raise ValueError(f"{config.in_domain}: in-domain sample has no usable text")
    in_domain = sample_in["text"].to_list()
    mapping, keys = super_cluster_of(warehouse), storage.materialized("cluster_assignments")
    dups = duplicate_ids(storage, warehouse, keys)
    sizes = [read_parquet(storage.path("cluster_assignments", k), ["cluster"]).height for k in keys]
    share = min(1.0, config.generic_sample / max(sum(sizes), 1))
    counts, picked, picked_emb = np.zeros(config.dsir_buckets, np.int64), [], []
    for i, key in enumerate(keys):  # pass 1: DSIR's raw counts and the generic sample
        docs, emb = shard_documents(storage, key, mapping, dups)
        counts += core_selection.ngram_counts(docs["text"].to_list(), config.dsir_buckets)
        take = np.random.default_rng([storage.seed, i]).random(docs.height) < share
        picked.append(detached(docs.filter(take)))
        picked_emb.append(emb[take])
    sample = pl.concat(picked)
    fit_began = time.perf_counter()
    models = fit_models(
        sample, np.concatenate(picked_emb), in_domain, embedder.encode(in_domain), config, storage.seed
    )
    log_ratio = core_selection.dsir_log_ratio(counts, in_domain, config.dsir_buckets)
    context.log.info(f"fitted on {sample.height} sampled documents in {time.perf_counter() - fit_began:.1f}s")
    timings, scores = dict.fromkeys(METHODS, 0.0), {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory(prefix="domain_selection-", dir=environment.cache_dir()) as scratch:
        parts = []
        for key in keys:  # pass 2: score every shard with models none of its documents trained
            docs, emb = shard_documents(storage, key, mapping, dups)
            shard_scores = score_shard(docs, emb, models, log_ratio, timings)
            parts.append(Path(scratch) / f"{len(parts):06d}.parquet")
            docs.select("doc_id", "shard", "cluster", "super_cluster").with_columns(
                *[pl.Series(f"score_{m}", shard_scores[m]) for m in METHODS]
            ).write_parquet(parts[-1])
            for m in METHODS:
                scores[m].append(shard_scores[m])
            context.log.info(f"{key}: scored {docs.height} documents")
        # three floats a document are all that is held; the top fraction is taken over them
        scores = {m: np.concatenate(v) for m, v in scores.items()}
        n = len(scores["dsir"])
        k = int(round(config.fraction * n))
        chosen = {
            "classifier": core_selection.top_fraction(scores["classifier"], config.fraction),
            "contrastive": core_selection.top_fraction(scores["contrastive"], config.fraction),
            "dsir": core_selection.gumbel_top_k(scores["dsir"], k, storage.seed),
        }
        selected = {m: np.zeros(n, bool) for m in chosen}
        for m, rows in chosen.items():
            selected[m][rows] = True
        write_parts(parts, selected, storage.path("domain_selection"))
    overlap = {
        f"{a}&{b}": int((selected[a] & selected[b]).sum())
        for a, b in (("classifier", "contrastive"), ("classifier", "dsir"), ("contrastive", "dsir"))
    }
    return MaterializeResult(
        metadata={
            "documents": n,
            "generic_sample": sample.height,
            "selected_per_method": k,
            "overlap": MetadataValue.json(overlap),
            "seconds": round(time.perf_counter() - began, 2),
            "seconds_per_method": MetadataValue.json({m: round(t, 2) for m, t in timings.items()}),
            **{f"histogram_{m}": plots.histogram(scores[m], f"{m} score") for m in METHODS},
        }
    )
