"""What the proxies train on: one BPE vocabulary, trained once on a bounded sample, and every
shard's documents in its token ids, one memory-mappable file per shard.

The token files do not depend on the clustering: which documents a search samples, and from which
super-cluster, is its own index (search_targets). A re-clustering re-indexes; only a new
vocabulary or a changed shard re-encodes.
"""

import time

from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets.assets.documents import kept_documents, seeded_sample
from mix_assets.assets.shared import (
    PROXY_CORPUS_VERSION,
    SHARD_ASSET,
    each_shard,
    load_tokenizer,
    materialized,
)
from mix_assets.core.proxies import bpe
from mix_assets.core.storage import atomic_path, read_parquet, version_hash, write_json, write_npy
from mix_assets.resources import ProjectStorage, Warehouse
from mix_assets.workers import Workers


class ProxyTokenizerConfig(Config):
    vocab_size: int = 4096  # the proxies' own BPE vocabulary (2-4k, as the gpt proxy wants)
    max_train_docs: int = 50_000  # trained on at most this many kept documents, sampled


@asset(
    group_name="search",
    deps=["merged_clusters"],
    code_version="1",
    description="The proxies' byte-level BPE vocabulary, trained once on a bounded sample of kept documents.",
)
def proxy_tokenizer(
    context: AssetExecutionContext,
    config: ProxyTokenizerConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
) -> MaterializeResult:
    began = time.perf_counter()
    picked = seeded_sample(kept_documents(storage, warehouse, []), config.max_train_docs, storage.seed)
    texts = [
        read_parquet(storage.path("raw_shards", key), ["text", "doc_id"])
        .join(part, on="doc_id", how="semi")["text"]
        .to_list()  # Python strings of their own: the shard's text buffer is let go
        for (key,), part in picked.sort("shard", "doc_id").group_by("shard", maintain_order=True)
    ]
    tok = bpe.train_bpe([t for shard in texts for t in shard], config.vocab_size)
    folder = storage.folder("proxy_tokenizer")
    with atomic_path(folder / "tokenizer.json") as tmp:
        tok.save(str(tmp))
    write_json({"vocab_size": tok.get_vocab_size(), "trained_on": picked.height}, folder / "meta.json")
    storage.mark_current("proxy_tokenizer", "all", version_hash((folder / "tokenizer.json").read_text()))
    context.log.info(f"proxy BPE: vocabulary {tok.get_vocab_size()} from {picked.height} documents")
    return materialized(began, {"vocab_size": tok.get_vocab_size(), "trained_on": picked.height})


def encode_shard(key: str, storage: dict) -> dict:
    """One shard in the proxies' token ids, on whichever worker (reused when current)."""
    store = ProjectStorage(**storage)
    version = version_hash(
        "proxy_corpus",
        PROXY_CORPUS_VERSION,
        store.version("proxy_tokenizer"),
        store.version("raw_shards", key),
    )
    if store.is_current("proxy_corpus", key, ".npy", version):
        return {"reused": True, "documents": 0, "tokens": 0, "seconds": 0.0}
    start = time.perf_counter()
    texts = read_parquet(store.path("raw_shards", key), ["text"])["text"].to_list()
    flat, offsets = bpe.encode(load_tokenizer(store), texts)
    write_npy(offsets, store.path("proxy_corpus", key, ".offsets.npy"))
    write_npy(flat, store.path("proxy_corpus", key, ".npy"))
    store.mark_current("proxy_corpus", key, version)
    return {
        "reused": False,
        "documents": len(texts),
        "tokens": len(flat),
        "seconds": time.perf_counter() - start,
    }


@asset(
    **{**SHARD_ASSET, "group_name": "search"},
    deps=["proxy_tokenizer", "raw_shards"],
    code_version=PROXY_CORPUS_VERSION,
    description="Every document of a shard in the proxies' token ids (uint16) with its offsets, row-aligned "
    "with raw_shards: trials memory-map them and read only the documents they sample.",
)
def proxy_corpus(
    context: AssetExecutionContext, storage: ProjectStorage, workers: Workers
) -> MaterializeResult:
    began = time.perf_counter()
    load_tokenizer(storage)  # no vocabulary: one clear error, not one per shard
    documents, tokens, reused = 0, 0, 0
    units = {key: (key, storage.model_dump()) for key in context.partition_keys}
    for key, shard in each_shard(context, workers, storage, encode_shard, units):
        reused += shard["reused"]
        documents, tokens = documents + shard["documents"], tokens + shard["tokens"]
        if not shard["reused"]:
            context.log.info(
                f"{key}: {shard['documents']} documents, {shard['tokens']} tokens in {shard['seconds']:.1f}s"
            )
    return materialized(
        began,
        {
            "documents": documents,
            "tokens": tokens,
            "reused_shards": reused,
            "tokens_per_second": round(tokens / max(time.perf_counter() - began, 1e-9)),
        },
    )
