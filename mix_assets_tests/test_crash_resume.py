"""SIGKILL the Dagster CLI mid-way through embeddings, k-means, a proxy round and the dataset export;
rerun: finished work is not redone, nothing partial is ever read, the outputs match an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import polars as pl
from dagster import AssetKey, DagsterInstance

from mix_assets.assets.dataset import read_parts
from mix_assets.core.proxies.corpus import ProxyCorpus, ngram_trial
from mix_assets.core.storage import read_json
from mix_assets.resources import EmbeddingModel
from mix_assets_tests.conftest import ROOT, cli_env, corpus_sample, shard_env, write_shards


def cli(args: list[str], env: dict, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_killed_round_resumes_with_only_missing_trials(searcher, tmp_path):
    p = searcher()
    env = cli_env(p, tmp_path, search={"rounds": [60]})
    p.run_search(["search_targets"])
    nxt = cli(["mix_assets.cli", "rounds", "next", "--search", "demo"], env)
    assert nxt.communicate(timeout=120)[0].strip().splitlines()[-1] == "demo-r0000"
    materialize = [
        "dagster",
        "asset",
        "materialize",
        "-m",
        "mix_assets.definitions",
        "--select",
        "mixture_candidates,proxy_trials,proxy_scores",
        "--partition",
        "demo-r0000",
    ]
    trials = p.work / "proxy_trials" / "demo-r0000"
    run = cli(materialize, env)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(trials.glob("*.json"))) < 10:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    done_before = {f.stem for f in trials.glob("*.json")}
    assert 10 <= len(done_before) < 62, "the kill should land mid-round"
    for f in trials.glob("*.json"):
        json.loads(f.read_text())  # every file that looks complete is complete (temp file + rename)

    again = cli(materialize, env)
    out = again.communicate(timeout=600)[0]
    assert again.returncode == 0, out[-3000:]
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    [record] = instance.fetch_materializations(AssetKey("proxy_trials"), limit=1).records
    meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert meta["reused"] == len(done_before) and meta["ran_now"] == 62 - len(done_before)
    assert {f.stem for f in trials.glob("*.json")} >= done_before

    # the resumed round holds exactly what an uninterrupted one would: spot-check against a direct run
    table = p.table("proxy_scores").filter(pl.col("round") == "demo-r0000")  # the warehouse owns the scores
    corpus = ProxyCorpus.load(p.work / "proxy_corpus", p.work / "search_targets" / "demo")
    wcols = [c for c in table.columns if c.startswith("w") and c[1:].isdigit()]
    for row in table.sample(4, seed=0).iter_rows(named=True):
        w = np.array([row[c] for c in wcols])
        share = p.search.proxy_pool_share(float(corpus.lengths.sum()))
        direct = ngram_trial(
            corpus, w, p.search.token_budget, p.search.seed, p.search.max_epochs, pool_share=share
        )
        assert row["m_objective"] == direct["objective"]


def kill_when(run: subprocess.Popen, ready, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not ready() and run.poll() is None:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)


def finish(args: list[str], env: dict) -> str:
    run = cli(args, env)
    out = run.communicate(timeout=600)[0]
    assert run.returncode == 0, out[-3000:]
    return out


def latest_metadata(env: dict, asset: str) -> dict:
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    record = instance.fetch_materializations(AssetKey(asset), limit=1).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_killed_embedding_range_resumes_with_only_missing_shards(project, tmp_path):
    p = project
    keys = write_shards(corpus_sample(50, seed=5), p.input, 4)
    env = shard_env(p, tmp_path)
    args = [
        "dagster",
        "asset",
        "materialize",
        "-m",
        "mix_assets.definitions",
        "--select",
        "raw_shards,quality_signals,embeddings",
        "--partition-range",
        f"{keys[0]}...{keys[-1]}",
    ]
    emb = p.work / "embeddings"
    kill_when(cli(args, env), lambda: len(list(emb.glob("*.version"))) >= 1)
    finished = {
        f.stem: (f.stat().st_ino, f.stat().st_mtime_ns)
        for f in emb.glob("*.npy")
        if (emb / f"{f.stem}.version").exists()
    }
    assert 1 <= len(finished) < 4, "the kill should land between the first and the last shard"
    assert p.storage.materialized("embeddings", ".npy") == sorted(
        f.stem for f in emb.glob("*.npy")
    )  # temp files never count

    finish(args, env)
    assert latest_metadata(env, "raw_shards")["reused_shards"] == 4
    assert latest_metadata(env, "embeddings")["reused_shards"] == len(finished)
    for key, stat in finished.items():
        f = emb / f"{key}.npy"
        assert (f.stat().st_ino, f.stat().st_mtime_ns) == stat, f"{key} was embedded again"
    # every shard holds what one uninterrupted encode of its documents gives
    model = EmbeddingModel()
    for key in keys:
        texts = pl.read_parquet(p.work / "raw_shards" / f"{key}.parquet")["text"].to_list()
        np.testing.assert_allclose(np.load(emb / f"{key}.npy"), model.encode(texts), atol=1e-6)


def test_killed_kmeans_leaves_the_old_centroids_then_refits_identically(searcher, tmp_path):
    p = searcher()
    env = shard_env(p, tmp_path)
    cents = p.work / "centroids" / "all.npy"
    before, stamp = cents.read_bytes(), (p.work / "centroids" / "all.version").read_text()

    def args() -> list[str]:
        config = {"ops": {"centroids": {"config": {"n_clusters": 200}}}}
        return [
            *"dagster asset materialize -m mix_assets.definitions --select centroids".split(),
            "--config-json",
            json.dumps(config),
        ]

    # the step stops where the new centroids are fitted and not yet written, and is killed there
    run = cli(args(), {**env, "MIX_ASSETS_PAUSE_AT": "centroids_fitted"})
    seen, deadline = [], time.time() + 240
    while time.time() < deadline and "paused at centroids_fitted" not in "".join(seen):
        line = run.stdout.readline()
        if not line:
            break
        seen.append(line)
    assert "paused at centroids_fitted" in "".join(seen), "".join(seen)[-2000:]
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    # the old centroids and their stamp, byte for byte: nothing of the killed fit was written
    assert cents.read_bytes() == before
    assert (p.work / "centroids" / "all.version").read_text() == stamp
    assert sorted(f.name for f in cents.parent.iterdir()) == ["all.json", "all.npy", "all.version"]

    finish(args(), env)
    resumed = np.load(cents)
    finish(args(), env)  # an uninterrupted run of the same config
    assert resumed.shape == (200, 384) and np.array_equal(resumed, np.load(cents))


def test_killed_export_keeps_the_previous_dataset_readable(searcher, tmp_path):
    p = searcher()
    env = shard_env(p, tmp_path)
    DagsterInstance.from_config(env["DAGSTER_HOME"]).add_dynamic_partitions("searches", ["demo"])
    folder = p.work / "mixed_dataset" / "demo"
    base = {"weights": {"0": 0.5, "1": 0.3, "2": 0.2}, "token_budget": 300_000, "docs_per_shard": 1}
    first = {**base, "weights": {"0": 0.4, "1": 0.4, "2": 0.2}}

    def args(config: dict) -> list[str]:
        select = [
            "dagster",
            "asset",
            "materialize",
            "-m",
            "mix_assets.definitions",
            "--select",
            "mixed_dataset",
            "--partition",
            "demo",
        ]
        return [*select, "--config-json", json.dumps({"ops": {"mixed_dataset": {"config": config}}})]

    finish(args(first), env)
    old = read_parts(folder)
    old_set = read_json(folder / "manifest.json")["parts"][0].split("/")[0]
    kill_when(
        cli(args(base), env),
        lambda: any((d / "part-00010.parquet").exists() for d in folder.glob("v-*") if d.name != old_set),
    )
    assert len(list(folder.glob("v-*"))) == 2, "the kill should land while the new parts are written"
    assert read_parts(folder).equals(old)  # the manifest still names the complete earlier set

    finish(args(base), env)
    resumed = read_parts(folder)
    finish(args(base), env)
    assert resumed.equals(read_parts(folder)) and not resumed.equals(old)
    assert [d.name for d in folder.glob("v-*")] == [
        read_json(folder / "manifest.json")["parts"][0].split("/")[0]
    ]
