"""A round's proxy trials through a real instance: resume, every backend (external through Pipes,
import joined by mixture id, the tiny GPT), and the retry policies."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mix_assets.core.domains import mixture_id
from mix_assets.core.proxies.corpus import ProxyCorpus, ngram_trial
from mix_assets_tests.conftest import metadata, round_scores


def test_rerun_of_a_round_trains_only_missing_trials(searcher):
    p = searcher(rounds=[10])
    p.run_round("demo-r0000")
    before = round_scores(p)
    trials = sorted((p.work / "proxy_trials" / "demo-r0000").glob("*.json"))
    for path in trials[:3]:
        path.unlink()
    (trials[3].parent / f".{trials[3].name}.tmp").write_text(
        "{half a json"
    )  # a crash mid-write leaves only this
    again = p.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    m = metadata(again, "proxy_trials")
    assert (m["ran_now"], m["reused"]) == (3, 9)  # 10 generated + 2 baselines
    assert round_scores(p) == before  # deterministic n-gram proxies: the same numbers again


def test_external_backend_through_pipes_with_retries(searcher, monkeypatch, tmp_path):
    script = Path(__file__).with_name("external_proxy.py")
    p = searcher(backend="external", external={"command": [sys.executable, str(script)]}, rounds=[5])
    p.run_round("demo-r0000", stages=["mixture_candidates"])
    cands = p.warehouse.query(
        "SELECT * FROM mix.mixture_candidates WHERE round = 'demo-r0000' ORDER BY position"
    )
    flaky, broken = cands["mixture_id"][1], cands["mixture_id"][2]
    monkeypatch.setenv("FAIL_ONCE_ID", flaky)
    monkeypatch.setenv("FAIL_ONCE_MARKER", str(tmp_path / "failed-once"))
    monkeypatch.setenv("FAIL_ALWAYS_ID", broken)
    result = p.run_round(
        "demo-r0000",
        stages=["proxy_trials", "proxy_scores"],
        config={"proxy_trials": {"config": {"trial_retries": 1, "retry_wait_seconds": 0}}},
    )
    assert result.success and (tmp_path / "failed-once").exists()
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1  # the step ran twice: the flaky trial was retried and passed
    m = metadata(result, "proxy_trials")
    assert (m["attempt"], m["failed"], m["ran_now"], m["reused"]) == (2, 1, 2, cands.height - 2)
    record = json.loads((p.work / "proxy_trials" / "demo-r0000" / f"{broken}.json").read_text())
    assert record["status"] == "failed" and "DagsterPipesExecutionError" in record["reason"]
    corpus = ProxyCorpus.load(p.work / "proxy_corpus", p.work / "search_targets" / "demo")
    got = round_scores(p)
    assert set(got) == set(cands["mixture_id"]) - {broken}  # the round completed without the broken trial
    for row in cands.filter(pl.col("mixture_id") != broken).iter_rows(named=True):
        w = np.array([row[c] for c in cands.columns if c.startswith("w") and c[1:].isdigit()])
        share = p.search.proxy_pool_share(float(corpus.lengths.sum()))
        direct = ngram_trial(
            corpus, w, p.search.token_budget, p.search.seed, p.search.max_epochs, pool_share=share
        )
        assert got[row["mixture_id"]] == direct["objective"]  # Pipes gives the in-process numbers
    # the per-document losses come back through Pipes too, and add up to the target's cross-entropy
    ok = json.loads((p.work / "proxy_trials" / "demo-r0000" / f"{flaky}.json").read_text())
    for target, docs in ok["documents"].items():
        assert np.sum(docs["nll"]) / np.sum(docs["tokens"]) == pytest.approx(ok["metrics"][target])


def test_import_backend_joins_shuffled_results_by_id(searcher, tmp_path):
    p = searcher(rounds=[8])
    p.run_round("demo-r0000")
    measured = p.warehouse.query("SELECT * FROM mix.proxy_scores WHERE round = 'demo-r0000'")
    wcols = [c for c in measured.columns if c.startswith("w") and c[1:].isdigit()]
    exported = measured.select(
        *wcols, pl.col("m_mathematics").alias("mathematics"), pl.col("m_all_domains").alias("all_domains")
    ).sample(fraction=1.0, shuffle=True, seed=1)
    dropped = exported.row(0, named=True)
    exported = exported.slice(1)  # one candidate was never run elsewhere
    broken = exported.row(0, named=True)
    exported = exported.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(float("nan"))
        .otherwise(pl.col("mathematics"))
        .alias("mathematics")
    )
    # a row of a mixture that is no candidate: ignored, never joined to one by position
    stranger = {c: 0.0 for c in exported.columns} | {
        "w0": 0.1234,
        "w1": 0.8766,
        "mathematics": 1.0,
        "all_domains": 1.0,
    }
    assert mixture_id(np.array([stranger[c] for c in wcols])) not in set(measured["mixture_id"])
    pl.concat([exported, pl.DataFrame([stranger])]).write_csv(tmp_path / "results.csv")
    shutil.rmtree(p.work / "proxy_trials" / "demo-r0000")
    imp = searcher(backend="import", imported={"results": str(tmp_path / "results.csv")}, rounds=[8])
    imp.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    table = imp.warehouse.query(
        "SELECT mixture_id, status, m_objective FROM mix.proxy_scores WHERE round = 'demo-r0000'"
    )
    original = dict(zip(measured["mixture_id"], measured["m_objective"]))
    missing = table.filter(pl.col("status") == "missing")
    assert missing.height == 1
    assert missing["mixture_id"][0] == mixture_id(np.array([dropped[c] for c in wcols]))
    failed = imp.warehouse.query("SELECT mixture_id, reason FROM mix.proxy_scores WHERE status = 'failed'")
    assert failed["mixture_id"].to_list() == [mixture_id(np.array([broken[c] for c in wcols]))]
    assert "non-finite metrics" in failed["reason"][0]
    for mid, obj in zip(*table.filter(pl.col("status") == "ok").select("mixture_id", "m_objective")):
        assert abs(obj - original[mid]) < 1e-9

    # a table without a column for one of the targets fails every trial, saying which column
    pl.read_csv(tmp_path / "results.csv").drop("all_domains").write_csv(tmp_path / "no_target.csv")
    shutil.rmtree(p.work / "proxy_trials" / "demo-r0000")
    bad = searcher(backend="import", imported={"results": str(tmp_path / "no_target.csv")}, rounds=[8])
    bad.run_round("demo-r0000", stages=["proxy_trials"], raise_on_error=False)
    reasons = {
        json.loads(f.read_text())["reason"] for f in (p.work / "proxy_trials" / "demo-r0000").glob("*.json")
    }
    assert any("no column for targets ['all_domains']" in r for r in reasons)


def test_gpt_backend_round(searcher):
    small = {"n_layer": 1, "n_embd": 32, "seq_len": 32, "batch_size": 8}  # the search's gpt block
    p = searcher(backend="gpt", rounds=[3], token_budget=8_000, gpt=small)
    result = p.run_round("demo-r0000", stages=["mixture_candidates", "proxy_trials", "proxy_scores"])
    assert metadata(result, "proxy_trials")["backend"] == "gpt"
    table = p.warehouse.query("SELECT * FROM mix.proxy_scores WHERE round = 'demo-r0000'")
    assert table.height == 5 and set(table["status"]) == {"ok"} and set(table["backend"]) == {"gpt"}
    assert (table["m_train_steps"] == 31).all()  # 8,000 tokens / (8 x 32) per step
    assert table["m_objective"].is_finite().all()


def test_import_backend_reads_an_olmix_style_pair(searcher, tmp_path):
    p = searcher(rounds=[6])
    p.run_round("demo-r0000")
    measured = p.warehouse.query("SELECT * FROM mix.proxy_scores WHERE round = 'demo-r0000'")
    wcols = [c for c in measured.columns if c.startswith("w") and c[1:].isdigit()]
    runs = measured.with_columns(pl.format("run-{}", pl.int_range(pl.len())).alias("run"))
    runs.select("run", *[pl.col(c).alias(f"domain_{c[1:]}") for c in wcols]).write_csv(
        tmp_path / "ratios.csv"
    )
    runs.select(
        "run", pl.col("m_mathematics").alias("mathematics"), pl.col("m_all_domains").alias("all_domains")
    ).sample(fraction=1.0, shuffle=True, seed=2).write_csv(tmp_path / "metrics.csv")
    shutil.rmtree(p.work / "proxy_trials" / "demo-r0000")
    imp = searcher(
        backend="import",
        imported={"mixtures": str(tmp_path / "ratios.csv"), "results": str(tmp_path / "metrics.csv")},
        rounds=[6],
    )
    imp.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    table = imp.warehouse.query(
        "SELECT mixture_id, status, m_objective FROM mix.proxy_scores WHERE round = 'demo-r0000'"
    )
    original = dict(zip(measured["mixture_id"], measured["m_objective"]))
    assert set(table["status"]) == {"ok"} and table.height == len(original)
    for mid, obj in zip(*table.select("mixture_id", "m_objective")):
        assert abs(obj - original[mid]) < 1e-9


def test_a_step_that_dies_is_retried_by_its_retry_policy(searcher, tmp_path, monkeypatch):
    p = searcher(rounds=[8])
    p.run_round("demo-r0000", stages=["mixture_candidates"])
    marker = tmp_path / "died-once"
    monkeypatch.setenv("MIX_ASSETS_FAIL_ONCE", f"proxy_trials:{marker}")
    result = p.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    assert result.success and marker.exists()  # it died once, then the retry finished the round
    events = [e for e in result.all_events if e.step_key == "proxy_trials"]
    assert [e.event_type_value for e in events].count("STEP_UP_FOR_RETRY") == 1
    assert "injected failure at proxy_trials" in str(
        next(e for e in events if e.event_type_value == "STEP_UP_FOR_RETRY").event_specific_data.error
    )
    assert metadata(result, "proxy_trials")["attempt"] == 2 and round_scores(p).keys() == set(
        p.table("mixture_candidates")["mixture_id"]
    )
