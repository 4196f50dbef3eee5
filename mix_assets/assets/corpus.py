"""Raw shards and per-document quality signals, one partition per input shard file."""

import time
from collections import Counter

import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets.assets.shared import SHARD_ASSET, materialized
from mix_assets.core import quality
from mix_assets.core.ingest import file_fingerprint, ingest_shard
from mix_assets.core.storage import read_parquet, version_hash, write_parquet
from mix_assets.core.tokens import count_tokens
from mix_assets.resources import ProjectStorage, Warehouse

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


@asset(
    **SHARD_ASSET,
    code_version=RAW_SHARDS_VERSION,
    description="Normalized documents of one input shard; refused rows go to raw_shards_quarantine.",
)
def raw_shards(
    context: AssetExecutionContext, config: RawShardsConfig, storage: ProjectStorage, warehouse: Warehouse
) -> MaterializeResult:
    began = time.perf_counter()
    totals: Counter = Counter()
    reasons: Counter = Counter()
    versions: dict[str, str] = {}
    reused = []
    for key in context.partition_keys:
        start = time.perf_counter()
        path = storage.shard_file(key)
        fingerprint = file_fingerprint(path)  # the shard's data version: the change sensor compares it
        versions[key] = fingerprint["file_sha256"][:16]
        version = version_hash(
            "raw_shards",
            RAW_SHARDS_VERSION,
            {**config.model_dump(), "text_column": storage.text_column, "id_column": storage.id_column},
            fingerprint["file_sha256"],
        )
        if storage.is_current("raw_shards", key, ".parquet", version):
            # finished by an earlier (possibly killed) run from the same file and config: not redone
            docs = read_parquet(storage.path("raw_shards", key), ["doc_id", "row", "n_bytes", "n_tokens"])
            bad = read_parquet(storage.path("raw_shards_quarantine", key), ["reason"])
            reused.append(key)
        else:
            docs, bad = normalize_shard(key, path, config, storage)
            storage.mark_current("raw_shards", key, version)
            context.log.info(
                f"{key}: {docs.height} documents, {bad.height} quarantined "
                f"({time.perf_counter() - start:.1f}s) from {path}"
            )
        # written for reused shards too: the warehouse is a copy that may have been dropped or rebuilt
        warehouse.replace(
            "shard_summaries",
            pl.DataFrame(
                {
                    "shard": [key],
                    "file": [str(path)],
                    "n_docs": [docs.height],
                    "n_quarantined": [bad.height],
                    "n_bytes": [int(docs["n_bytes"].sum())],
                    "n_tokens": [int(docs["n_tokens"].sum())],
                    **{k: [v] for k, v in fingerprint.items()},
                }
            ),
            where={"shard": key},
        )
        # every shard's ids, once: unique_ids checks them all together with one join
        warehouse.replace(
            "document_ids", docs.select(pl.lit(key).alias("shard"), "doc_id", "row"), where={"shard": key}
        )
        for reason in bad["reason"].to_list():
            reasons[reason.split(" (")[0].split(" '")[0]] += 1
        totals.update(
            docs=docs.height,
            quarantined=bad.height,
            bytes=int(docs["n_bytes"].sum()),
            tokens=int(docs["n_tokens"].sum()),
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


@asset(
    **SHARD_ASSET,
    deps=["raw_shards"],
    code_version=QUALITY_VERSION,
    description="Per-document Gopher/C4 quality signals and a combined score in [0, 1].",
)
def quality_signals(
    context: AssetExecutionContext, config: QualitySignalsConfig, storage: ProjectStorage
) -> MaterializeResult:
    began = time.perf_counter()
    unknown = set(config.rules) - set(quality.rule_fields())
    if unknown:
        raise ValueError(f"unknown quality rules {sorted(unknown)}; known: {quality.rule_fields()}")
    rules = quality.QualityRules(**config.rules)
    clf = quality.load_classifier(config.classifier_path) if config.classifier_path else None
    scores, reused = [], 0
    for key in context.partition_keys:
        version = version_hash(
            "quality_signals", QUALITY_VERSION, config.model_dump(), storage.version("raw_shards", key)
        )
        if storage.is_current("quality_signals", key, ".parquet", version):
            scores.append(read_parquet(storage.path("quality_signals", key), ["quality"])["quality"])
            reused += 1
            continue
        docs = read_parquet(storage.path("raw_shards", key), columns=["doc_id", "text"])
        q = quality.score_documents(docs["text"].to_list(), rules, clf, config.classifier_weight)
        write_parquet(
            pl.concat([docs.select("doc_id"), q], how="horizontal"), storage.path("quality_signals", key)
        )
        storage.mark_current("quality_signals", key, version)
        scores.append(q["quality"])
        context.log.info(f"{key}: scored {docs.height} documents, mean quality {q['quality'].mean():.3f}")
    allq = pl.concat(scores)
    return materialized(
        began,
        {
            "docs_per_second": round(len(allq) / max(time.perf_counter() - began, 1e-9), 1),
            "documents": len(allq),
            "reused_shards": reused,
            "mean_quality": float(allq.mean() or 0.0),
            "share_below_0.5": float((allq < 0.5).mean() or 0.0),
            "classifier": config.classifier_path or "none (rules only)",
        },
    )
