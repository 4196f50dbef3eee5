"""Bootstrap rounds as partitions through a real instance: backends, resume, join by id, the round sensor."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from dagster import build_sensor_context

from mix_assets.assets.final import FinalMixtureConfig
from mix_assets.core import results
from mix_assets.core.mixture import mixture_id, weight_columns
from mix_assets.core.proxies.corpus import ProxyCorpus, ngram_trial
from mix_assets.definitions import defs
from mix_assets.sensors import search_rounds_sensor
from mix_assets_tests.conftest import TARGETS

TARGETS_BY_NAME = {Path(t).stem: t for t in TARGETS}


def meta(result, asset):
    [mat] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in mat.metadata.items()}


def scores(project, key="demo-r0000") -> dict[str, float]:
    t = project.warehouse.query(
        "SELECT mixture_id, m_objective FROM mix.proxy_scores WHERE round = ? AND status = 'ok'", [key]
    )
    return dict(zip(t["mixture_id"], t["m_objective"]))


def sensor_tick(project):
    ctx = build_sensor_context(
        instance=project.instance,
        resources={k: project.resources[k] for k in ("searches", "storage")},
        definitions=defs,
    )
    return search_rounds_sensor(ctx)


def test_full_search_driven_by_the_sensor_beats_natural_and_uniform(searcher):
    # the mathematics target alone: unlike the bulk of the corpus, so a good mixture differs from
    # natural and uniform. The run the mixture is for is as large as a proxy (target_tokens): by
    # default it would be one pass over this 750-document corpus, where any skewed mixture repeats
    # the small mathematics domain, and the gain over natural falls within the replicates' noise
    p = searcher(targets={TARGETS_BY_NAME["mathematics"]: 1.0}, target_tokens=150_000)
    p.run(["proxy_corpus"], p.shard_keys())
    # the first tick registers the search and tokenizes its targets; the rounds follow
    tick = sensor_tick(p)
    [request] = tick.run_requests
    assert request.partition_key == "demo" and list(tick.dynamic_partitions_requests[0].partition_keys) == [
        "demo"
    ]
    assert [k.to_user_string() for k in request.asset_selection] == ["search_targets"]
    p.run_search(["search_targets"])
    for expected in ("demo-r0000", "demo-r0001", "demo-r0002"):
        tick = sensor_tick(p)
        [request] = tick.run_requests
        assert request.partition_key == expected
        assert list(tick.dynamic_partitions_requests[0].partition_keys) == [expected]
        p.run_round(expected)
    final = sensor_tick(p).run_requests[0]
    assert final.partition_key == "demo"
    assert sorted(k.to_user_string() for k in final.asset_selection) == ["final_mixture", "run_report"]
    result = p.run_search(["final_mixture"])
    m = meta(result, "final_mixture")
    cands = p.table("final_candidates")
    by = {r["candidate"]: r for r in cands.iter_rows(named=True)}
    chosen = cands.filter("chosen").row(0, named=True)
    # the verified choice is the best measured mean on the search part, or a preferred candidate
    # within one standard error of it (over the target's documents), and never worse there than the
    # baselines it measured
    best = cands.filter(pl.col("candidate") == m["best_measured"]).row(0, named=True)
    assert best["search_mean"] == cands["search_mean"].min() and best["gap_to_best"] == 0
    margin = FinalMixtureConfig().se_multiplier
    assert chosen["candidate"] == best["candidate"] or 0 <= chosen["gap_to_best"] <= margin * chosen["gap_se"]
    assert (
        chosen["search_mean"] <= by["natural"]["search_mean"]
        and chosen["search_mean"] <= by["uniform"]["search_mean"]
    )
    # on the evaluation part, which no trial of the search scored, it wins by more than its replicates' noise
    for base in ("natural", "uniform"):
        se = np.sqrt((chosen["eval_std"] ** 2 + by[base]["eval_std"] ** 2) / m["mixture"]["replicates"])
        assert by[base]["eval_mean"] - chosen["eval_mean"] > max(4 * se, 0.05), (base, chosen, by[base])
    assert m["measured_final"] == chosen["eval_mean"] and m["verification_trials"] == 3 * cands.height
    rounds = p.warehouse.query("SELECT round, kind, m_objective FROM mix.proxy_scores ORDER BY round")
    assert rounds.group_by("round").len().sort("round")["len"].to_list() == [
        18,
        8,
        8,
    ]  # 16 generated + natural + uniform, then 8 and 8
    # later rounds, guided by the surrogate, sample a better region than the round-0 generator
    first = rounds.filter(pl.col("kind") == "dirichlet")["m_objective"].median()
    later = rounds.filter(pl.col("round") > "demo-r0000")["m_objective"].median()
    assert later < first
    assert set(rounds.filter(pl.col("round") > "demo-r0000")["kind"]) == {"lcb", "local"}
    reports = p.table("surrogate_reports")
    assert reports.height == 3 * 5 and reports.group_by("round").agg(pl.col("chosen").sum())[
        "chosen"
    ].to_list() == [1, 1, 1]
    # the final mixture and its baselines, in the one mixture shape: mixture_id + w0..wN
    table = p.table("final_mixture")
    wcols = weight_columns(len(m["mixture"]["weights"]))
    assert {"final", "natural", "uniform"} <= set(table["kind"])
    final = table.filter(pl.col("kind") == "final")
    w = final.select(wcols).to_numpy()[0]
    assert (
        abs(w.sum() - 1) < 1e-9 and final["mixture_id"].item() == mixture_id(w) == m["mixture"]["mixture_id"]
    )
    assert (w <= np.array(m["mixture"]["max_weight"]) + 1e-9).all()

    # the report tells the same story without Dagster: every section, its charts inline, the final weights
    p.run_search(["run_report"])
    page = (p.work / "run_report" / "demo" / "index.html").read_text()
    for heading in ("1. Corpus", "2. Clusters", "3. Mixture search", "4. Final mixture"):
        assert f"<h2>{heading}</h2>" in page
    # cluster map, sizes, objective per round, weights by round, predicted vs measured, final weights
    assert page.count('src="data:image/png;base64,') == 6 and 'alt="predicted vs measured"' in page
    assert "http" not in page  # self-contained: nothing to fetch
    for s, weight in enumerate(w):
        assert f"{s}: {weight:.4f}" in page
    for r in ("demo-r0000", "demo-r0001", "demo-r0002"):
        assert f"<td>{r}</td>" in page

    # exports of that mixture, read back the way their consumers read them
    p.run_search(["mixture_exports"])
    folder = p.work / "mixture_exports" / "demo"
    parts = (folder / "megatron_data_path.txt").read_text().split()
    blend = {path: float(w) for w, path in zip(parts[0::2], parts[1::2])}
    expected = {f"data/megatron/super_cluster_{s}_text_document": x for s, x in enumerate(w) if x > 0}
    assert blend.keys() == expected.keys() and all(abs(blend[k] - expected[k]) < 1e-5 for k in blend)
    hf = json.loads((folder / "hf_interleave.json").read_text())
    assert abs(sum(hf["probabilities"]) - 1) < 1e-9
    back = results.load(folder / "ratios.csv", folder / "metrics.csv")
    assert sorted(back.ids) == sorted(
        p.warehouse.query("SELECT mixture_id FROM mix.proxy_scores WHERE status = 'ok'")["mixture_id"]
    )


def test_rerun_of_a_round_trains_only_missing_trials(searcher):
    p = searcher(proxies_per_round=[10])
    p.run_round("demo-r0000")
    before = scores(p)
    trials = sorted((p.work / "proxy_trials" / "demo-r0000").glob("*.json"))
    for path in trials[:3]:
        path.unlink()
    (trials[3].parent / f".{trials[3].name}.tmp").write_text(
        "{half a json"
    )  # a crash mid-write leaves only this
    again = p.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    m = meta(again, "proxy_trials")
    assert (m["ran_now"], m["reused"]) == (3, 9)  # 10 generated + 2 baselines
    assert scores(p) == before  # deterministic n-gram proxies: the same numbers again


def test_round_zero_takes_the_later_rounds_when_the_domains_need_more_spread_out_trials(searcher):
    # 100 per domain is more than the whole budget for any clustering: the sensor runs one round of
    # 6 + 4 and then asks for the final mixture
    p = searcher(proxies_per_round=[6, 4], first_round_per_domain=100)
    p.run(["proxy_corpus"], p.shard_keys())  # the sensor waits for it in this instance
    p.run_search(["search_targets"])
    p.targets_ready = True
    tick = sensor_tick(p)
    [request] = tick.run_requests
    assert request.partition_key == "demo-r0000"
    result = p.run_round("demo-r0000")
    m = meta(result, "mixture_candidates")
    assert (m["proxies_planned"], m["schedule"]) == (10, "10")
    assert p.table("proxy_scores").filter(pl.col("kind") == "dirichlet").height == 10
    final = sensor_tick(p).run_requests[0]
    assert final.partition_key == "demo" and "final_mixture" in {
        k.to_user_string() for k in final.asset_selection
    }


def test_external_backend_through_pipes_with_retries(searcher, monkeypatch, tmp_path):
    script = Path(__file__).with_name("external_proxy.py")
    p = searcher(backend="external", external_command=[sys.executable, str(script)], proxies_per_round=[5])
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
    m = meta(result, "proxy_trials")
    assert (m["attempt"], m["failed"], m["ran_now"], m["reused"]) == (2, 1, 2, cands.height - 2)
    record = json.loads((p.work / "proxy_trials" / "demo-r0000" / f"{broken}.json").read_text())
    assert record["status"] == "failed" and "DagsterPipesExecutionError" in record["reason"]
    corpus = ProxyCorpus.load(p.work / "proxy_corpus", p.work / "search_targets" / "demo")
    got = scores(p)
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
    p = searcher(proxies_per_round=[8])
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
    imp = searcher(backend="import", import_results=str(tmp_path / "results.csv"), proxies_per_round=[8])
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
    bad = searcher(backend="import", import_results=str(tmp_path / "no_target.csv"), proxies_per_round=[8])
    bad.run_round("demo-r0000", stages=["proxy_trials"], raise_on_error=False)
    reasons = {
        json.loads(f.read_text())["reason"] for f in (p.work / "proxy_trials" / "demo-r0000").glob("*.json")
    }
    assert any("no column for targets ['all_domains']" in r for r in reasons)


def test_gpt_backend_round(searcher):
    p = searcher(backend="gpt", proxies_per_round=[3], token_budget=8_000)
    small = {
        "proxy_trials": {"config": {"gpt": {"n_layer": 1, "n_embd": 32, "seq_len": 32, "batch_size": 8}}}
    }
    result = p.run_round(
        "demo-r0000", config=small, stages=["mixture_candidates", "proxy_trials", "proxy_scores"]
    )
    assert meta(result, "proxy_trials")["backend"] == "gpt"
    table = p.warehouse.query("SELECT * FROM mix.proxy_scores WHERE round = 'demo-r0000'")
    assert table.height == 5 and set(table["status"]) == {"ok"} and set(table["backend"]) == {"gpt"}
    assert (table["m_train_steps"] == 31).all()  # 8,000 tokens / (8 x 32) per step
    assert table["m_objective"].is_finite().all()


def test_import_backend_reads_an_olmix_style_pair(searcher, tmp_path):
    p = searcher(proxies_per_round=[6])
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
        import_mixtures=str(tmp_path / "ratios.csv"),
        import_results=str(tmp_path / "metrics.csv"),
        proxies_per_round=[6],
    )
    imp.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    table = imp.warehouse.query(
        "SELECT mixture_id, status, m_objective FROM mix.proxy_scores WHERE round = 'demo-r0000'"
    )
    original = dict(zip(measured["mixture_id"], measured["m_objective"]))
    assert set(table["status"]) == {"ok"} and table.height == len(original)
    for mid, obj in zip(*table.select("mixture_id", "m_objective")):
        assert abs(obj - original[mid]) < 1e-9


def test_bound_at_target_tokens_holds_everywhere_and_the_unbounded_optimum_is_shown(searcher):
    first = searcher()
    first.run_search(["search_targets"])
    corpus_tokens = sum(
        json.loads((first.work / "search_targets" / "demo" / "meta.json").read_text())["domain_tokens"]
    )
    # a run 10x the corpus: no domain may take more than 1.5x its token share (15 passes / 10)
    p = searcher(
        proxies_per_round=[12],
        target_tokens=10 * corpus_tokens,
        targets={TARGETS_BY_NAME["mathematics"]: 1.0},
    )
    p.run(["proxy_corpus"], p.shard_keys())
    p.run_round("demo-r0000")
    result = p.run_search(
        ["final_mixture"], config={"final_mixture": {"config": {"pool_size": 5000, "replicates": 2}}}
    )
    m = meta(result, "final_mixture")["mixture"]
    tokens = np.array(
        json.loads((p.work / "search_targets" / "demo" / "meta.json").read_text())["domain_tokens"]
    )
    share, bound = tokens / tokens.sum(), np.array(m["max_weight"])
    np.testing.assert_allclose(bound, np.minimum(1.5 * share, 1.0))
    wcols = weight_columns(len(tokens))
    w = p.table("mixture_candidates").select(wcols).to_numpy()
    assert (w <= bound + 2e-4).all()  # generator and baselines (uniform is skipped where it breaks the bound)
    final = p.table("final_mixture").filter(pl.col("kind") == "final").select(wcols).to_numpy()[0]
    assert (final <= bound + 2e-4).all()
    assert m["target_tokens"] == 10 * corpus_tokens
    unbounded = np.array(m["unbounded_optimum"]["weights"])
    assert m["bound_binds"] == bool((unbounded > bound + 1e-9).any())
    shown = p.table("final_mixture").filter(pl.col("kind") == "unbounded_optimum").select(wcols).to_numpy()
    np.testing.assert_allclose(shown[0], unbounded)  # reported beside the bounded one
    assert m["bound_binds"]  # a mathematics-only target wants more of its domain than 1.5x its share


def test_a_step_that_dies_is_retried_by_its_retry_policy(searcher, tmp_path, monkeypatch):
    p = searcher(proxies_per_round=[8])
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
    assert meta(result, "proxy_trials")["attempt"] == 2 and scores(p).keys() == set(
        p.table("mixture_candidates")["mixture_id"]
    )
