"""Document embeddings per shard, stored as .npy files aligned row by row with raw_shards."""

import time

import numpy as np
from dagster import AssetCheckResult, AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets.assets.shared import SHARD_ASSET, each_shard
from mix_assets.automation import CONDITIONS
from mix_assets.checks import embeddings_check_spec, embeddings_problems
from mix_assets.core import embed
from mix_assets.core.fanout import InProcess
from mix_assets.core.storage import read_npy, read_parquet, version_hash, write_npy
from mix_assets.profiles import gpu_op_tags
from mix_assets.resources import EmbeddingModel, ProjectStorage
from mix_assets.workers import Workers


class EmbeddingsConfig(Config):
    dtype: str = "float32"  # or float16: half the disk, cosine error ~1e-3


EMBEDDINGS_VERSION = "1"


def load_embedder(model: dict) -> None:
    """An embedding worker's setup: the model loaded once, for every shard it embeds."""
    m = EmbeddingModel(**model)
    embed.load_model(m.model, m.resolved_device(), m.max_seq_length, m.resolved_backend(), m.precision)


def embed_shard(key: str, storage: dict, config: dict, model: dict, on_progress=None) -> dict:
    """One shard's embeddings, on whichever worker: written and stamped, or checked when an earlier
    run finished it from the same documents and model."""
    store, embedder = ProjectStorage(**storage), EmbeddingModel(**model)
    # neither the device, the batch size nor the runtime changes the vectors beyond bf16 noise
    # (bench/README.md: cosine 0.9999 between torch and OpenVINO)
    settings = embedder.model_dump(exclude={"device", "batch_size", "backend"})
    version = version_hash(
        "embeddings", EMBEDDINGS_VERSION, config, settings, store.version("raw_shards", key)
    )
    if store.is_current("embeddings", key, ".npy", version):
        n_rows = read_parquet(store.path("raw_shards", key), columns=["n_bytes"]).height
        emb = read_npy(store.path("embeddings", key, ".npy"))
        return {"reused": True, "documents": 0, "seconds": 0.0, "problems": embeddings_problems(emb, n_rows)}
    texts = read_parquet(store.path("raw_shards", key), columns=["text"])["text"].to_list()
    start = time.perf_counter()
    emb = embedder.encode(texts, on_progress=on_progress)
    seconds = time.perf_counter() - start
    write_npy(emb.astype(np.dtype(config["dtype"])), store.path("embeddings", key, ".npy"))
    store.mark_current("embeddings", key, version)
    return {
        "reused": False,
        "documents": len(texts),
        "seconds": seconds,
        "problems": embeddings_problems(emb, len(texts)),
        "device": embedder.resolved_device(),
        "backend": embedder.resolved_backend(),
    }


@asset(
    automation_condition=CONDITIONS["embeddings"],
    **{**SHARD_ASSET, "group_name": "embeddings"},
    deps=["raw_shards"],
    code_version=EMBEDDINGS_VERSION,
    check_specs=[embeddings_check_spec],
    tags={"dagster/pool": "gpu"},
    op_tags=gpu_op_tags(),
    description="L2-normalized sentence embeddings, one row per document of raw_shards (same order); on "
    "Ray, a pool of actors with one model (and GPU) each.",
)
def embeddings(
    context: AssetExecutionContext,
    config: EmbeddingsConfig,
    storage: ProjectStorage,
    embedder: EmbeddingModel,
    workers: Workers,
) -> MaterializeResult:
    device = embedder.resolved_device()
    n_docs, seconds, problems, reused = 0, 0.0, [], 0
    # `auto` is measured here, once per machine, and recorded, so that the shards of a range embed
    # with one runtime; a worker reads the record of its own machine (measured there if it has none;
    # a GPU worker: torch)
    first = storage.path("raw_shards", context.partition_keys[0])
    sample = read_parquet(first, columns=["text"])["text"].head(128).to_list() if first.exists() else None
    backend = embedder.resolved_backend(sample)
    units: dict[str, tuple] = {}
    in_process = isinstance(workers.pool(storage.work_dir, "embed", len(context.partition_keys)), InProcess)
    model = {**embedder.model_dump(), **({"backend": backend} if in_process else {})}
    for key in context.partition_keys:

        def progress(done: int, total: int, elapsed: float, key: str = key) -> None:
            context.log.info(
                f"{key}: embedded {done}/{total} documents ({done / max(elapsed, 1e-9):.1f} docs/s on "
                f"{device}, {backend})"
            )

        # progress per batch where the step itself embeds; a worker's shards report as they finish
        extra = (progress,) if in_process else ()
        units[key] = (key, storage.model_dump(), config.model_dump(), model, *extra)
    workers_used, backends = set(), set()
    for key, shard in each_shard(
        context, workers, storage, embed_shard, units, "embed", setup=load_embedder, setup_args=(model,)
    ):
        problems += [f"{key}: {p}" for p in shard["problems"]]
        reused += shard["reused"]
        n_docs, seconds = n_docs + shard["documents"], seconds + shard["seconds"]
        if not shard["reused"]:
            workers_used.add(shard["device"])
            backends.add(shard["backend"])
            context.log.info(
                f"{key}: {shard['documents']} documents in {shard['seconds']:.1f}s on {shard['device']}"
            )
    return MaterializeResult(
        metadata={
            "documents": n_docs,
            "reused_shards": reused,
            "seconds": round(seconds, 2),
            "docs_per_second": round(n_docs / max(seconds, 1e-9), 1),
            "device": ", ".join(sorted(workers_used)) or device,
            "model": embedder.model,
            "backend": ", ".join(sorted(backends)) or backend,
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
