"""Document embeddings per shard, stored as .npy files aligned row by row with raw_shards."""

import time

import numpy as np
from dagster import AssetCheckResult, AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets.assets.shared import SHARD_ASSET
from mix_assets.checks import embeddings_check_spec, embeddings_problems
from mix_assets.core.storage import read_npy, read_parquet, version_hash, write_npy
from mix_assets.profiles import gpu_op_tags
from mix_assets.resources import EmbeddingModel, ProjectStorage


class EmbeddingsConfig(Config):
    dtype: str = "float32"  # or float16: half the disk, cosine error ~1e-3


EMBEDDINGS_VERSION = "1"


@asset(
    **{**SHARD_ASSET, "group_name": "embeddings"},
    deps=["raw_shards"],
    code_version=EMBEDDINGS_VERSION,
    check_specs=[embeddings_check_spec],
    tags={"dagster/pool": "gpu"},
    op_tags=gpu_op_tags(),
    description="L2-normalized sentence embeddings, one row per document of raw_shards (same order).",
)
def embeddings(
    context: AssetExecutionContext,
    config: EmbeddingsConfig,
    storage: ProjectStorage,
    embedder: EmbeddingModel,
) -> MaterializeResult:
    device = embedder.resolved_device()
    n_docs, seconds, problems, reused = 0, 0.0, [], 0
    model = embedder.model_dump(
        exclude={"device", "batch_size"}
    )  # neither changes the vectors beyond bf16 noise
    for key in context.partition_keys:
        version = version_hash(
            "embeddings", EMBEDDINGS_VERSION, config.model_dump(), model, storage.version("raw_shards", key)
        )
        if storage.is_current("embeddings", key, ".npy", version):
            reused += (
                1  # an earlier run, killed or not, finished this shard from the same documents and model
            )
            n_rows = read_parquet(storage.path("raw_shards", key), columns=["n_bytes"]).height
            problems += [
                f"{key}: {p}"
                for p in embeddings_problems(read_npy(storage.path("embeddings", key, ".npy")), n_rows)
            ]
            continue
        texts = read_parquet(storage.path("raw_shards", key), columns=["text"])["text"].to_list()

        def progress(done: int, total: int, elapsed: float, key: str = key) -> None:
            context.log.info(
                f"{key}: embedded {done}/{total} documents ({done / max(elapsed, 1e-9):.1f} docs/s on "
                f"{device})"
            )

        start = time.perf_counter()
        emb = embedder.encode(texts, on_progress=progress)
        seconds += time.perf_counter() - start
        problems += [f"{key}: {p}" for p in embeddings_problems(emb, len(texts))]
        write_npy(emb.astype(np.dtype(config.dtype)), storage.path("embeddings", key, ".npy"))
        storage.mark_current("embeddings", key, version)
        n_docs += len(texts)
    return MaterializeResult(
        metadata={
            "documents": n_docs,
            "reused_shards": reused,
            "seconds": round(seconds, 2),
            "docs_per_second": round(n_docs / max(seconds, 1e-9), 1),
            "device": device,
            "model": embedder.model,
            "dtype": config.dtype,
        },
        check_results=[
            AssetCheckResult(
                check_name=embeddings_check_spec.name,
                passed=not problems,
                metadata={"problems": "; ".join(problems[:20]) or "none"},
            )
        ],
    )
