"""Wall time and peak memory of every stage as the corpus grows (10k, 100k, 1M documents).

    .venv/bin/python bench/bench_scale.py --docs 10000 100000 [--shard-docs 10000] [--out bench/results]
    .venv/bin/python bench/bench_scale.py --docs 1000000 --keep /tmp/scale1m [--only centroids ...]

Corpora are built from the embedded corpus (N = 6,287 documents since the targets were widened):
document i is source document i mod N with its words rotated by i // N places and a new id, so
every document and id is distinct and each keeps its source's domain. Embedding cost per document
is measured on its own by bench_embeddings.py; here each document's embedding is DERIVED from its
source's real vector (data/work/embeddings, so run `make run` first) plus Gaussian noise (sigma
0.02, renormalised), written with the stamp the embeddings asset would write, so the CLI's
embeddings step reuses it. Every other stage runs through the real Dagster CLI in its own process;
time is its wall clock; peak RSS is the kernel's ru_maxrss of that command and all it waited for
(it counts the touched pages of memory-mapped files), and peak private is the largest RssAnon of
one of its processes, sampled every 0.1 s.
`--keep DIR` builds the corpus and workspace there (or reuses them) and leaves them; `--only`
then reruns some stages on it (stage-name prefixes), as after a change to one stage.
Results: bench/results/scale-<docs>.json (scale-<docs>-<time>.json for an --only run).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = [  # (name, assets, partitioned by)
    ("raw_shards", "raw_shards", "shards"),
    ("quality_signals", "quality_signals", "shards"),
    ("embeddings (derived, reused)", "embeddings", "shards"),
    ("centroids", "centroids", None),
    ("cluster_assignments", "cluster_assignments", "shards"),
    ("unique_ids + cluster tables", "unique_ids,cluster_stats,pruned_clusters,merged_clusters", None),
    ("proxy_tokenizer", "proxy_tokenizer", None),
    ("proxy_corpus", "proxy_corpus", "shards"),
    ("search_targets", "search_targets", "search"),
    ("one round (16 ngram proxies)", "mixture_candidates,proxy_trials,proxy_scores,predictor", "round"),
    ("final_mixture (1 replicate)", "final_mixture", "search"),
    ("mixed_dataset", "mixed_dataset", "search"),
    ("domain_selection", "domain_selection", None),
]


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(x) for x in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            pass
    return out


def _anon_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(cmd: list[str], env: dict) -> tuple[int, float, float, float, str]:
    """(exit status, seconds, peak RSS MB, peak private MB, stderr tail). Peak RSS is the kernel's
    ru_maxrss of the command and everything it waited for: it counts the touched pages of memory-
    mapped files, which the kernel can drop. Private is the largest RssAnon of one process of the
    tree, sampled every 0.1 s, so a shorter spike can slip past it."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True)
        anon = 0
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            anon = max([anon, *(_anon_kb(x) for x in _tree(p.pid))])
            time.sleep(0.1)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return (
            p.returncode,
            time.perf_counter() - began,
            usage.ru_maxrss / 1024,
            anon / 1024,
            err.read()[-3000:],
        )


def build_corpus(n: int, shard_docs: int, folder: Path) -> tuple[list[str], pl.DataFrame]:
    """Written one shard at a time: the whole 1M-document corpus as Python strings took over 24 GB."""
    src = pl.read_parquet(ROOT / "data" / "corpus" / "*.parquet").select("doc_id", "text")
    words = src["text"].str.split(" ").to_list()
    folder.mkdir(parents=True)
    keys = []
    for s, lo in enumerate(range(0, n, shard_docs)):
        i = np.arange(lo, min(lo + shard_docs, n))
        texts = []
        for source, shift in zip((i % src.height).tolist(), (i // src.height).tolist()):
            w = words[source]
            texts.append(" ".join(w[shift % len(w) :] + w[: shift % len(w)]))
        keys.append(f"shard-{s:05d}")
        pl.DataFrame({"doc_id": [f"s{k:08d}" for k in i], "text": texts}).write_parquet(
            folder / f"{keys[-1]}.parquet"
        )
    i = np.arange(n)
    return keys, pl.DataFrame({"doc_id": [f"s{k:08d}" for k in i], "source": i % src.height})


def derive_embeddings(work: Path, keys: list[str], sources: pl.DataFrame, sigma: float = 0.02) -> None:
    """Each document's embedding: its source's real vector plus noise. The stamp is the one the
    embeddings asset computes, so its CLI step reuses these files instead of encoding."""
    from mix_assets.assets.embeddings import EMBEDDINGS_VERSION, EmbeddingsConfig
    from mix_assets.core.storage import read_npy, version_hash, write_npy
    from mix_assets.resources import EmbeddingModel, ProjectStorage

    real = {}
    for f in sorted((ROOT / "data" / "work" / "embeddings").glob("*.npy")):
        ids = pl.read_parquet(ROOT / "data" / "work" / "raw_shards" / f"{f.stem}.parquet", columns=["doc_id"])
        real.update(zip(ids["doc_id"], read_npy(f)))
    src = pl.read_parquet(ROOT / "data" / "corpus" / "*.parquet", columns=["doc_id"])["doc_id"].to_list()
    base = np.stack([real[d] for d in src]).astype(np.float32)
    storage = ProjectStorage(work_dir=str(work), input_dir="unused", text_column="text", id_column="doc_id")
    model = EmbeddingModel().model_dump(exclude={"device", "batch_size"})
    rng = np.random.default_rng(0)
    for key in keys:
        ids = pl.read_parquet(work / "raw_shards" / f"{key}.parquet", columns=["doc_id"])
        rows = ids.join(sources, on="doc_id", maintain_order="left")["source"].to_numpy()
        emb = base[rows] + rng.normal(scale=sigma, size=(len(rows), base.shape[1])).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        write_npy(emb, storage.path("embeddings", key, ".npy"))
        version = version_hash(
            "embeddings",
            EMBEDDINGS_VERSION,
            EmbeddingsConfig().model_dump(),
            model,
            storage.version("raw_shards", key),
        )
        storage.mark_current("embeddings", key, version)


def run_stage(assets: str, partition: str | None, env: dict, config: dict) -> dict:
    cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "mix_assets.definitions", "--select", assets]
    if partition:
        cmd += ["--partition-range" if "..." in partition else "--partition", partition]
    ops = {a: {"config": config[a]} for a in assets.split(",") if a in config}
    if ops:
        cmd += ["--config-json", json.dumps({"ops": ops})]
    rc, seconds, peak, private, err = measure(cmd, env)
    if rc != 0:
        raise RuntimeError(f"{assets} failed:\n{err}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak, 1), "peak_private_mb": round(private, 1)}


def bench(
    n: int, shard_docs: int, out: Path, keep: Path | None = None, only: list[str] | None = None
) -> dict:
    """`keep`: build in (or reuse) this folder and leave it, so `only` (stage names) can rerun a
    few stages on the same corpus after a change."""
    tmp = keep or Path(tempfile.mkdtemp(prefix=f"mix-scale-{n}-"))
    began = time.perf_counter()
    reuse = (tmp / "input").exists()
    if reuse:
        keys = sorted(p.stem for p in (tmp / "input").glob("*.parquet"))
        i = np.arange(n)
        height = pl.scan_parquet(ROOT / "data" / "corpus" / "*.parquet").select(pl.len()).collect().item()
        sources = pl.DataFrame({"doc_id": [f"s{k:08d}" for k in i], "source": i % height})
    else:
        keys, sources = build_corpus(n, shard_docs, tmp / "input")
    k = min(1000, max(2, n // 64))
    (tmp / "mix_assets.yaml").write_text(
        f"input: {{path: input, id_column: doc_id}}\nwork: work\nwarehouse: warehouse.duckdb\n"
        f"clustering: {{n_clusters: {k}, n_super_clusters: 8}}\n"
        f"searches:\n  scale:\n    targets: {{{ROOT}/data/targets/mathematics.parquet: 1.0}}\n"
        f"    rounds: [16]\n    token_budget: 200000\n"
        f"dataset: {{token_budget: 2000000}}\n"
    )
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "MIX_ASSETS_CONFIG": str(tmp / "mix_assets.yaml"), "DAGSTER_HOME": str(tmp / "home")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if not reuse:
        subprocess.run(
            [str(BIN / "mix-assets"), "shards"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        from dagster import DagsterInstance

        instance = DagsterInstance.from_config(str(tmp / "home"))
        instance.add_dynamic_partitions("searches", ["scale"])
        instance.add_dynamic_partitions("rounds", ["scale-r0000"])
    config = {
        "final_mixture": {"replicates": 1, "pool_size": 20_000},
        "domain_selection": {"in_domain": str(ROOT / "data" / "targets" / "mathematics.parquet")},
    }
    parts = {"shards": f"{keys[0]}...{keys[-1]}", "search": "scale", "round": "scale-r0000", None: None}
    rows = []
    for name, assets, by in STAGES:
        if only and not any(name.startswith(o) for o in only):
            continue
        if reuse and "proxy_trials" in assets:  # a rerun must train, not reuse the last run's trials
            shutil.rmtree(tmp / "work" / "proxy_trials" / parts["round"], ignore_errors=True)
        if assets == "embeddings":
            derive_embeddings(tmp / "work", keys, sources)
        result = run_stage(assets, parts[by], env, config)
        rows.append({"stage": name, **result})
        print(
            f"{n:>9,} docs  {name:<32} {result['seconds']:>8.1f} s  {result['peak_rss_mb']:>8.1f} MB"
            f"  {result['peak_private_mb']:>8.1f} MB private",
            flush=True,
        )
    report = {
        "documents": n,
        "shards": len(keys),
        "shard_docs": shard_docs,
        "k": k,
        "stages": rows,
        "total_seconds_except_embedding": round(sum(r["seconds"] for r in rows), 1),
        "wall_seconds_with_setup": round(time.perf_counter() - began, 1),
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scale-{n}{'-' + time.strftime('%H%M%S') if only else ''}.json").write_text(
        json.dumps(report, indent=1)
    )
    if keep is None:
        shutil.rmtree(tmp)
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--shard-docs", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--keep", type=Path, help="build in (or reuse) this folder and leave it there")
    p.add_argument("--only", nargs="+", help="stages to run (name prefixes), on a --keep folder built before")
    args = p.parse_args()
    if args.keep and len(args.docs) > 1:
        p.error("--keep takes one --docs")
    for n in args.docs:
        bench(n, args.shard_docs, args.out, args.keep, args.only)


if __name__ == "__main__":
    main()
