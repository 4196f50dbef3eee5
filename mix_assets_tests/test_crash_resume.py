"""SIGKILL a round's proxy trials mid-way through the Dagster CLI, rerun, and only the missing trials train."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import polars as pl
from dagster import AssetKey, DagsterInstance

from mix_assets.core.proxies.corpus import ProxyCorpus, ngram_trial, trial_seed
from mix_assets_tests.conftest import ROOT, cli_env


def cli(args: list[str], env: dict, **kw):
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_killed_round_resumes_with_only_missing_trials(searcher, tmp_path):
    p = searcher()
    env = cli_env(p, tmp_path, MIX_ASSETS_ROUNDS="60", MIX_ASSETS_TOKEN_BUDGET=str(p.search.token_budget))
    nxt = cli(["mix_assets.cli", "rounds", "next"], env)
    assert nxt.communicate(timeout=120)[0].strip().endswith("r0000")
    materialize = ["dagster", "asset", "materialize", "-m", "mix_assets.definitions",
                   "--select", "mixture_candidates,proxy_trials,proxy_scores", "--partition", "r0000"]
    trials = p.work / "proxy_trials" / "r0000"
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
    table = pl.read_parquet(p.work / "proxy_scores" / "r0000.parquet")
    corpus = ProxyCorpus.load(p.work / "proxy_corpus")
    wcols = [c for c in table.columns if c.startswith("w") and c[1:].isdigit()]
    for row in table.sample(4, seed=0).iter_rows(named=True):
        w = np.array([row[c] for c in wcols])
        direct = ngram_trial(corpus, w, p.search.token_budget, trial_seed(row["mixture_id"], p.search.seed), p.search.max_epochs)
        assert row["m_objective"] == direct["objective"]
