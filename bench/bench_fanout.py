"""Fan-out: one round of n-gram proxies in sequence, on local worker processes and on a local Ray
cluster; the embedding of 4 shards in process and on Ray actors; what one unit of work costs each
pool. Every way must give the same scores (asserted), so only the wall times differ.

    python bench/bench_fanout.py [--trials 16] [--workers 2] [--docs-per-shard 400]
        [--token-budgets 1000000,8000000]

Writes bench/results/fanout-<date>.json and prints the table of bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on loopback

from mix_assets.core import fanout  # noqa: E402

# A spawned worker imports this script again, as __mp_main__: the rest only where it runs as the
# bench, so a worker starts as light as a step's own workers do (they import mix_assets.core only)
if __name__ == "__main__":
    import polars as pl
    from dagster import AssetSelection, instance_for_test, materialize

    from mix_assets.assets import all_assets
    from mix_assets.core.storage import read_npy
    from mix_assets.resources import (
        ClusteringSettings,
        EmbeddingModel,
        ProjectStorage,
        Searches,
        SearchSettings,
        Warehouse,
    )
    from mix_assets.runner import range_tags
    from mix_assets.workers import RayCluster, Workers

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    str(ROOT / "data/targets/mathematics.parquet"): 0.5,
    str(ROOT / "data/targets/all_domains.parquet"): 0.5,
}


def noop() -> int:
    return 0


class Bench:
    def __init__(self, tmp: Path, instance, trials: int, budget: int):
        self.tmp, self.instance = tmp, instance
        self.storage = ProjectStorage(input_dir=str(tmp / "input"), work_dir=str(tmp / "work"))
        search = SearchSettings(
            targets=TARGETS, rounds=[trials - 2], first_round_per_domain=0, token_budget=budget
        )
        self.resources = {
            "storage": self.storage,
            "warehouse": Warehouse(database=str(tmp / "warehouse.duckdb")),
            "embedder": EmbeddingModel(),
            "clustering": ClusteringSettings(n_super_clusters=6),
            "searches": Searches(searches={"demo": search}),
            "workers": Workers(processes=1),
        }

    def run(self, assets: str, workers: Workers | None = None, keys=None, partition=None, config=None):
        began = time.perf_counter()
        result = materialize(
            all_assets,
            instance=self.instance,
            resources={**self.resources, **({"workers": workers} if workers else {})},
            selection=AssetSelection.assets(*assets.split(",")),
            tags=range_tags(keys),
            partition_key=partition,
            run_config={"ops": config or {}},
        )
        return result, time.perf_counter() - began


def step_metadata(result, asset: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def start_ray(cpus: int) -> str:
    ray = str(Path(sys.executable).with_name("ray"))
    port = 6390
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false"]
        + ["--disable-usage-stats"],
        check=True,
        capture_output=True,
    )
    return f"127.0.0.1:{port}"


def stop_ray() -> None:
    subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], capture_output=True)


def unit_cost(pool, n: int = 200) -> float:
    """Seconds per no-op unit through `pool` once its workers are up (what fanning out adds)."""
    list(pool.run(noop, {f"w{i}": () for i in range(8)}))  # start the workers
    began = time.perf_counter()
    assert all(o.ok for o in pool.run(noop, {f"u{i}": () for i in range(n)}))
    return (time.perf_counter() - began) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--docs-per-shard", type=int, default=400)
    # the demo's budget, and one where a trial costs about a second here
    ap.add_argument("--token-budgets", default="1000000,8000000")
    args = ap.parse_args()
    out: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "trials": args.trials,
        "workers": args.workers,
    }
    budgets = [int(b) for b in args.token_budgets.split(",")]
    corpus = pl.read_parquet(ROOT / "data/corpus/*.parquet").sample(4 * args.docs_per_shard, seed=0)
    with tempfile.TemporaryDirectory() as tmp, instance_for_test() as instance:
        tmp = Path(tmp)
        b = Bench(tmp, instance, args.trials, budgets[0])
        (tmp / "input").mkdir()
        keys = [f"shard-{i}" for i in range(4)]
        for i, key in enumerate(keys):
            corpus.gather_every(4, offset=i).select("doc_id", "text").write_parquet(
                tmp / "input" / f"{key}.parquet"
            )
        instance.add_dynamic_partitions("shards", keys)
        b.run("raw_shards,quality_signals", keys=keys)
        address = start_ray(args.workers)
        try:
            ray_workers = Workers(ray=RayCluster(address=address), embedding_actors=args.workers)
            _, out["embed_in_process_s"] = b.run("embeddings", keys=keys)
            reference = {k: read_npy(b.storage.path("embeddings", k, ".npy")) for k in keys}
            shutil.rmtree(tmp / "work" / "embeddings")
            _, out["embed_ray_s"] = b.run("embeddings", ray_workers, keys=keys)
            out["embed_min_cosine"] = float(
                min(
                    (read_npy(b.storage.path("embeddings", k, ".npy")) * reference[k]).sum(1).min()
                    for k in keys
                )
            )
            b.run("centroids", config={"centroids": {"config": {"n_clusters": 24}}})
            b.run("cluster_assignments", keys=keys)
            b.run("unique_ids,cluster_stats,pruned_clusters,merged_clusters,proxy_tokenizer")
            b.run("proxy_corpus", keys=keys)
            instance.add_dynamic_partitions("searches", ["demo"])
            b.run("search_targets", partition="demo")
            instance.add_dynamic_partitions("rounds", ["demo-r0000"])
            b.run("mixture_candidates", partition="demo-r0000")
            ways = {
                "sequential": Workers(processes=1),
                f"{args.workers} local processes": Workers(processes=args.workers),
                f"Ray, {args.workers} CPUs": ray_workers,
            }
            rounds = {}
            for budget in budgets:
                search = b.resources["searches"].get("demo").model_copy(update={"token_budget": budget})
                b.resources["searches"] = Searches(searches={"demo": search})
                rounds[budget], scores = {}, {}
                for name, workers in ways.items():
                    fanout.shutdown_pools()  # every way starts cold, as a CLI step does
                    shutil.rmtree(tmp / "work" / "proxy_trials", ignore_errors=True)
                    result, step = b.run("proxy_trials,proxy_scores", workers, partition="demo-r0000")
                    m = step_metadata(result, "proxy_trials")
                    rounds[budget][name] = {
                        "wall_s": m["wall_seconds"],
                        "step_s": round(step, 2),
                        "trial_s_sum": m["seconds"],
                    }
                    records = sorted((tmp / "work" / "proxy_trials" / "demo-r0000").glob("*.json"))
                    scores[name] = {
                        p.stem: json.loads(p.read_text())["metrics"]["objective"] for p in records
                    }
                    print(budget, name, rounds[budget][name], flush=True)
                first = next(iter(scores.values()))
                assert len(first) == args.trials and all(s == first for s in scores.values()), "scores differ"
                seq = rounds[budget]["sequential"]["wall_s"]
                for r in rounds[budget].values():
                    r["vs_sequential"] = round(r["wall_s"] / seq, 3)
            out["round"] = rounds
            import ray

            ray.init(address=address, log_to_driver=False)
            out["unit_s"] = {
                "in process": unit_cost(fanout.InProcess()),
                f"{args.workers} local processes": unit_cost(fanout.Processes(args.workers)),
                "Ray tasks": unit_cost(fanout.RayTasks()),
            }
            ray.shutdown()
        finally:
            stop_ray()
            fanout.shutdown_pools()
    name = ROOT / "bench" / "results" / f"fanout-{out['date']}.json"
    name.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    print(f"\n| {args.trials} n-gram proxies | trials wall (s) | step (s) | x sequential |")
    print("|---|---|---|---|")
    for budget, ways in out["round"].items():
        for k, r in ways.items():
            cells = [f"{budget:,} tokens, {k}", f"{r['wall_s']:.1f}", f"{r['step_s']:.1f}"]
            print("| " + " | ".join([*cells, f"{r['vs_sequential']:.2f}"]) + " |")
    print(
        f"\nembedding 4 shards: in process {out['embed_in_process_s']:.1f} s, on Ray "
        f"{out['embed_ray_s']:.1f} s (min cosine {out['embed_min_cosine']:.6f})"
    )
    print("per unit: " + ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in out["unit_s"].items()))


if __name__ == "__main__":
    main()
