"""The embedding backends on the demo corpus, each through the real foundation stages (shards ->
super-clusters, `mix-assets run --stages foundation` in this process): docs/s of the embeddings step,
cosine of every document's vector to torch fp32's, and the agreement (ARI) of the super-clusters
each set of vectors produces, with torch fp32's and with the corpus's hidden source domains, as
the pipeline cuts the Ward tree (at distance 1.5) and cut into a fixed count.

    python bench/bench_embed_backends.py [--variants torch-fp32 torch openvino onnx]

A variant is backend[-precision]; `torch` alone is the default precision (bf16 autocast where the
CPU has it). Run from the repository root, alone on the machine: it times the embeddings.
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from dagster import AssetKey, instance_for_test
from scipy.cluster.hierarchy import linkage
from sklearn.metrics import adjusted_rand_score

from mix_assets.assets.documents import super_cluster_of
from mix_assets.core import merge
from mix_assets.core.storage import read_npy
from mix_assets.resources import EmbeddingModel, ProjectStorage, Warehouse
from mix_assets.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
CUT = 6  # super-clusters of the fixed-count cut


def foundation(variant: str, tmp: Path, keys: list[str]) -> dict:
    backend, _, precision = variant.partition("-")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("shards", keys)
        runner = Runner(instance, log=lambda s: None)
        storage = ProjectStorage(work_dir=str(tmp / "work"))
        warehouse = Warehouse(database=str(tmp / "warehouse.duckdb"))
        runner.resources |= {
            "storage": storage,
            "warehouse": warehouse,
            "embedder": EmbeddingModel(backend=backend, precision=precision or "auto"),
        }
        runner.foundation(keys)
        [record] = instance.fetch_materializations(AssetKey("embeddings"), limit=1).records
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    vectors = np.concatenate([read_npy(storage.path("embeddings", k, ".npy")) for k in keys])
    supers = storage.read_all("cluster_assignments", columns=["doc_id", "cluster"]).join(
        super_cluster_of(warehouse), on="cluster"
    )
    # the same Ward tree cut into a fixed count: is a difference the tree's, or only where 1.5 falls?
    kept = warehouse.query("SELECT cluster FROM mix.pruned_clusters WHERE kept ORDER BY cluster")["cluster"]
    cents = read_npy(storage.path("centroids", "all", ".npy"))[kept.to_numpy()]
    heights = linkage(cents.astype(np.float64), method="ward")[-8:, 2]
    cut = pl.DataFrame({"cluster": kept, "cut": merge.merge(cents, "ward", n_super=CUT)})
    supers = supers.join(cut, on="cluster")
    return {"meta": meta, "vectors": vectors, "supers": supers, "heights": heights, **runner.seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", nargs="+", default=["torch-fp32", "torch", "openvino", "onnx"])
    ap.add_argument("--shards", type=int, default=None, help="only the first N shards (a quick look)")
    args = ap.parse_args()
    os.chdir(ROOT)
    keys = list(ProjectStorage().shard_files())[: args.shards]
    truth = pl.read_parquet(ROOT / "data" / "eval" / "true_domains.parquet")
    runs = {}
    for variant in args.variants:
        with tempfile.TemporaryDirectory() as tmp:
            runs[variant] = foundation(variant, Path(tmp), keys)
        print(f"{variant}: embedded in {runs[variant]['shards']}s", flush=True)
    ref = runs[args.variants[0]]
    print(
        f"| backend | docs/s | min cosine to {args.variants[0]} | mean | super-clusters | ARI with "
        f"{args.variants[0]} | ARI with source domains | cut into {CUT}: ARI with {args.variants[0]} | "
        f"with domains | highest Ward merges |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for variant, run in runs.items():
        cos = (run["vectors"] * ref["vectors"]).sum(1)
        both = run["supers"].join(ref["supers"], on="doc_id", suffix="_ref")
        with_truth = run["supers"].join(truth, on="doc_id")
        print(
            f"| {variant} | {run['meta'].get('docs_per_second', float('nan')):.1f} | {cos.min():.5f} | "
            f"{cos.mean():.6f} | {run['supers']['super_cluster'].n_unique()} | "
            f"{adjusted_rand_score(both['super_cluster_ref'], both['super_cluster']):.3f} | "
            f"{adjusted_rand_score(with_truth['domain'], with_truth['super_cluster']):.3f} | "
            f"{adjusted_rand_score(both['cut_ref'], both['cut']):.3f} | "
            f"{adjusted_rand_score(with_truth['domain'], with_truth['cut']):.3f} | "
            f"{', '.join(f'{h:.2f}' for h in run['heights'][::-1])} |"
        )


if __name__ == "__main__":
    main()
