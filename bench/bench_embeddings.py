"""Embedding throughput: the `embeddings` asset (through a real Dagster run) vs SentenceTransformer.encode.

Same documents, same process, same model settings; the ratio is the pipeline's overhead
(reading the shard, normalising, writing the .npy, Dagster bookkeeping).
    python bench/bench_embeddings.py [--docs 1200]
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from dagster import AssetSelection, instance_for_test, materialize

from mix_assets.assets import all_assets
from mix_assets.core.embed import default_batch_size, load_model, resolve_device
from mix_assets.resources import EmbeddingModel, ProjectStorage, Warehouse


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    docs = pl.read_parquet("data/corpus/shard-0000.parquet").head(args.docs)
    embedder = EmbeddingModel()
    device = resolve_device(embedder.device)
    model = load_model(embedder.model, device, embedder.max_seq_length)
    model.encode(docs["text"].head(64).to_list())  # warm-up: both paths then start hot

    import torch

    def run_direct() -> np.ndarray:
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16), torch.inference_mode():
            return model.encode(
                docs["text"].to_list(),
                batch_size=embedder.batch_size or default_batch_size(device),
                normalize_embeddings=True,
            )

    t_direct, t_asset = [], []
    with tempfile.TemporaryDirectory() as tmp, instance_for_test() as instance:
        (Path(tmp) / "in").mkdir()
        docs.write_parquet(Path(tmp) / "in" / "bench.parquet")
        instance.add_dynamic_partitions("shards", ["bench"])
        resources = {
            "storage": ProjectStorage(input_dir=f"{tmp}/in", work_dir=f"{tmp}/work"),
            "warehouse": Warehouse(database=f"{tmp}/w.duckdb"),
            "embedder": embedder,
        }
        materialize(
            all_assets,
            instance=instance,
            resources=resources,
            selection=AssetSelection.assets("raw_shards"),
            partition_key="bench",
        )
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
            start = time.perf_counter()
            direct = run_direct()
            t_direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            materialize(
                all_assets,
                instance=instance,
                resources=resources,
                selection=AssetSelection.assets("embeddings"),
                partition_key="bench",
            )
            t_asset.append(time.perf_counter() - start)
        t_direct, t_asset = float(np.median(t_direct)), float(np.median(t_asset))
        via_asset = np.load(f"{tmp}/work/embeddings/bench.npy")
    print(
        json.dumps(
            {
                "docs": len(docs),
                "device": device,
                "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
                "direct_docs_per_s": round(len(docs) / t_direct, 1),
                "asset_docs_per_s": round(len(docs) / t_asset, 1),
                "overhead": f"{100 * (t_asset / t_direct - 1):.1f}%",
                "max_cosine_gap": float(1 - (direct * via_asset).sum(1).min()),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
