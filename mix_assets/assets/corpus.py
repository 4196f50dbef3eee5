"""Raw shards and per-document quality signals, one partition per input shard file."""

import time
from collections import Counter

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets.assets.shared import SHARD_ASSET, each_shard, materialized
from mix_assets.automation import CONDITIONS
from mix_assets.core import quality
from mix_assets.core.ingest import file_fingerprint, ingest_shard
from mix_assets.core.storage import read_parquet, version_hash, write_parquet
from mix_assets.core.tokens import count_tokens
from mix_assets.resources import ProjectStorage, Warehouse
from mix_assets.workers import Workers

RAW_SHARDS_VERSION = "1"


class RawShardsConfig(Config):
    """The text and id columns are the project file's `input` (the storage resource's config)."""

    max_doc_bytes: int = 1_000_000
    tokenizer: str = "all-MiniLM-L6-v2"  # counts tokens; a tokenizer.json path or model folder


def normalize_shard(
    key: str, path, config: RawShardsConfig, storage: ProjectStorage
) -> tuple[pl.DataFrame, pl.DataFrame]:
    # ids repeated inside the shard are refused here; ids another shard holds, by unique_ids
    result = ingest_shard(path, storage.text_column, storage.id_column, config.max_doc_bytes)
    docs, bad = result.documents, result.quarantine
    docs = docs.with_columns(
        pl.Series("n_tokens", count_tokens(docs["text"].to_list(), config.tokenizer), dtype=pl.Int64)
    )
    write_parquet(docs, storage.path("raw_shards", key))
    write_parquet(bad, storage.path("raw_shards_quarantine", key))
    return docs, bad


def raw_shard(key: str, storage: dict, config: dict) -> dict:
    """One shard, on whichever worker: normalized and stamped, or read back when an earlier run
    (possibly killed) finished it from the same file and config."""
    start = time.perf_counter()
    store, cfg = ProjectStorage(**storage), RawShardsConfig(**config)
    path = store.shard_file(key)
    fingerprint = file_fingerprint(path)  # the shard's data version: the change sensor compares it
    version = version_hash(
        "raw_shards",
        RAW_SHARDS_VERSION,
        {**config, "text_column": store.text_column, "id_column": store.id_column},
        fingerprint["file_sha256"],
    )
    reused = store.is_current("raw_shards", key, ".parquet", version)
    if reused:
        docs = read_parquet(store.path("raw_shards", key), ["doc_id", "row", "n_bytes", "n_tokens"])
        bad = read_parquet(store.path("raw_shards_quarantine", key), ["reason"])
    else:
        docs, bad = normalize_shard(key, path, cfg, store)
        store.mark_current("raw_shards", key, version)
    return {
        "file": str(path),
        "fingerprint": fingerprint,
        "ids": docs.select("doc_id", "row"),
        "n_docs": docs.height,
        "n_bytes": int(docs["n_bytes"].sum()),
        "n_tokens": int(docs["n_tokens"].sum()),
        "reasons": bad["reason"].to_list(),
        "reused": reused,
        "seconds": time.perf_counter() - start,
    }


@asset(
    automation_condition=CONDITIONS["raw_shards"],
    **SHARD_ASSET,
    code_version=RAW_SHARDS_VERSION,
    description="Normalized documents of one input shard; refused rows go to raw_shards_quarantine.",
)
def raw_shards(
    context: AssetExecutionContext,
    config: RawShardsConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    workers: Workers,
) -> MaterializeResult:
    began = time.perf_counter()
    totals: Counter = Counter()
    reasons: Counter = Counter()
    versions: dict[str, str] = {}
    reused = []
    units = {key: (key, storage.model_dump(), config.model_dump()) for key in context.partition_keys}
    for key, shard in each_shard(context, workers, storage, raw_shard, units):
        fingerprint = shard["fingerprint"]
        versions[key] = fingerprint["file_sha256"][:16]
        if shard["reused"]:
            reused.append(key)
        else:
            context.log.info(
                f"{key}: {shard['n_docs']} documents, {len(shard['reasons'])} quarantined "
                f"({shard['seconds']:.1f}s) from {shard['file']}"
            )
        # written for reused shards too: the warehouse is a copy that may have been dropped or rebuilt
        warehouse.replace(
            "shard_summaries",
            pl.DataFrame(
                {
                    "shard": [key],
                    "file": [shard["file"]],
                    "n_docs": [shard["n_docs"]],
                    "n_quarantined": [len(shard["reasons"])],
                    "n_bytes": [shard["n_bytes"]],
                    "n_tokens": [shard["n_tokens"]],
                    **{k: [v] for k, v in fingerprint.items()},
                }
            ),
            where={"shard": key},
        )
        # every shard's ids, once: unique_ids checks them all together with one join
        warehouse.replace(
            "document_ids",
            shard["ids"].select(pl.lit(key).alias("shard"), "doc_id", "row"),
            where={"shard": key},
        )
        for reason in shard["reasons"]:
            reasons[reason.split(" (")[0].split(" '")[0]] += 1
        totals.update(
            docs=shard["n_docs"],
            quarantined=len(shard["reasons"]),
            bytes=shard["n_bytes"],
            tokens=shard["n_tokens"],
        )
    if reused:
        context.log.info(
            f"reused {len(reused)} shards already normalized from the same file and config: {reused[:10]}"
        )
    return materialized(
        began,
        {
            "docs_per_second": round(totals["docs"] / max(time.perf_counter() - began, 1e-9), 1),
            "shards": len(context.partition_keys),
            "reused_shards": len(reused),
            "documents": totals["docs"],
            "quarantined": totals["quarantined"],
            "bytes": totals["bytes"],
            "tokens": totals["tokens"],
            "quarantine_reasons": MetadataValue.json(dict(reasons)),
            "quarantine_files": MetadataValue.path(str(storage.path("raw_shards_quarantine", "*"))),
            "file_sha256": MetadataValue.json(versions),
        },
    )


class QualitySignalsConfig(Config):
    """Gopher rule thresholds (QualityRules defaults) and an optional learned classifier."""

    rules: dict[str, float] = {}  # overrides of QualityRules fields, e.g. {"min_words": 20}
    classifier_path: str | None = None  # joblib scikit-learn pipeline or fastText .bin
    classifier_weight: float = 0.5
    classifier_positive_label: str = "__label__hq"


QUALITY_VERSION = "1"


def quality_shard(key: str, storage: dict, config: dict) -> tuple[bool, np.ndarray]:
    """(reused, each document's quality) of one shard, on whichever worker."""
    store, cfg = ProjectStorage(**storage), QualitySignalsConfig(**config)
    version = version_hash("quality_signals", QUALITY_VERSION, config, store.version("raw_shards", key))
    if store.is_current("quality_signals", key, ".parquet", version):
        return True, read_parquet(store.path("quality_signals", key), ["quality"])["quality"].to_numpy()
    rules = quality.QualityRules(**cfg.rules)
    clf = quality.load_classifier(cfg.classifier_path) if cfg.classifier_path else None
    docs = read_parquet(store.path("raw_shards", key), columns=["doc_id", "text"])
    q = quality.score_documents(docs["text"].to_list(), rules, clf, cfg.classifier_weight)
    write_parquet(pl.concat([docs.select("doc_id"), q], how="horizontal"), store.path("quality_signals", key))
    store.mark_current("quality_signals", key, version)
    return False, q["quality"].to_numpy()


@asset(
    automation_condition=CONDITIONS["quality_signals"],
    **SHARD_ASSET,
    deps=["raw_shards"],
    code_version=QUALITY_VERSION,
    description="Per-document Gopher/C4 quality signals and a combined score in [0, 1].",
)
def quality_signals(
    context: AssetExecutionContext, config: QualitySignalsConfig, storage: ProjectStorage, workers: Workers
) -> MaterializeResult:
    began = time.perf_counter()
    unknown = set(config.rules) - set(quality.rule_fields())
    if unknown:
        raise ValueError(f"unknown quality rules {sorted(unknown)}; known: {quality.rule_fields()}")
    if config.classifier_path:  # a missing or broken classifier fails here, not once per shard
        quality.load_classifier(config.classifier_path)
    scores, reused = [], 0
    units = {key: (key, storage.model_dump(), config.model_dump()) for key in context.partition_keys}
    for key, (was_reused, q) in each_shard(context, workers, storage, quality_shard, units):
        scores.append(q)
        reused += was_reused
        if not was_reused:
            context.log.info(f"{key}: scored {len(q)} documents, mean quality {q.mean():.3f}")
    allq = np.concatenate(scores)
    return materialized(
        began,
        {
            "docs_per_second": round(len(allq) / max(time.perf_counter() - began, 1e-9), 1),
            "documents": len(allq),
            "reused_shards": reused,
            "mean_quality": float(allq.mean()) if len(allq) else 0.0,
            "share_below_0.5": float((allq < 0.5).mean()) if len(allq) else 0.0,
            "classifier": config.classifier_path or "none (rules only)",
        },
    )
