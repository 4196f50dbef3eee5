"""A whole search through a real instance: the round sensor, the schedule, the verified final
mixture, the bound at target_tokens."""

import json
from pathlib import Path

import numpy as np
import polars as pl

from mix_assets.assets.final import FinalMixtureConfig
from mix_assets.core import results
from mix_assets.core.domains import mixture_id, weight_columns
from mix_assets.sensors import search_rounds_sensor
from mix_assets_tests.conftest import TARGETS, metadata

TARGETS_BY_NAME = {Path(t).stem: t for t in TARGETS}


def test_full_search_driven_by_the_sensor_beats_natural_and_uniform(searcher):
    # the mathematics target alone: unlike the bulk of the corpus, so a good mixture differs from
    # natural and uniform. The run the mixture is for is as large as a proxy (target_tokens): by
    # default it would be one pass over this 750-document corpus, where any skewed mixture repeats
    # the small mathematics domain, and the gain over natural falls within the replicates' noise
    p = searcher(targets={TARGETS_BY_NAME["mathematics"]: 1.0}, target_tokens=150_000)
    p.run(["proxy_corpus"], p.shard_keys())
    # the first tick registers the search and tokenizes its targets; the rounds follow
    tick = p.tick(search_rounds_sensor)
    [request] = tick.run_requests
    assert request.partition_key == "demo" and list(tick.dynamic_partitions_requests[0].partition_keys) == [
        "demo"
    ]
    assert [k.to_user_string() for k in request.asset_selection] == ["search_targets"]
    p.run_search(["search_targets"])
    for expected in ("demo-r0000", "demo-r0001", "demo-r0002"):
        tick = p.tick(search_rounds_sensor)
        [request] = tick.run_requests
        assert request.partition_key == expected
        assert list(tick.dynamic_partitions_requests[0].partition_keys) == [expected]
        p.run_round(expected)
    final = p.tick(search_rounds_sensor).run_requests[0]
    assert final.partition_key == "demo"
    assert sorted(k.to_user_string() for k in final.asset_selection) == ["final_mixture", "run_report"]
    result = p.run_search(["final_mixture"])
    m = metadata(result, "final_mixture")
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


def test_round_zero_takes_the_later_rounds_when_the_domains_need_more_spread_out_trials(searcher):
    # 100 per domain is more than the whole budget for any clustering: the sensor runs one round of
    # 6 + 4 and then asks for the final mixture
    p = searcher(rounds=[6, 4], first_round_per_domain=100)
    p.run(["proxy_corpus"], p.shard_keys())  # the sensor waits for it in this instance
    p.run_search(["search_targets"])
    p.targets_ready = True
    tick = p.tick(search_rounds_sensor)
    [request] = tick.run_requests
    assert request.partition_key == "demo-r0000"
    result = p.run_round("demo-r0000")
    m = metadata(result, "mixture_candidates")
    assert (m["proxies_planned"], m["schedule"]) == (10, "10")
    assert p.table("proxy_scores").filter(pl.col("kind") == "dirichlet").height == 10
    final = p.tick(search_rounds_sensor).run_requests[0]
    assert final.partition_key == "demo" and "final_mixture" in {
        k.to_user_string() for k in final.asset_selection
    }


def test_bound_at_target_tokens_holds_everywhere_and_the_unbounded_optimum_is_shown(searcher):
    first = searcher()
    first.run_search(["search_targets"])
    corpus_tokens = sum(
        json.loads((first.work / "search_targets" / "demo" / "meta.json").read_text())["domain_tokens"]
    )
    # a run 10x the corpus: no domain may take more than 1.5x its token share (15 passes / 10)
    p = searcher(
        rounds=[12],
        target_tokens=10 * corpus_tokens,
        targets={TARGETS_BY_NAME["mathematics"]: 1.0},
    )
    p.run(["proxy_corpus"], p.shard_keys())
    p.run_round("demo-r0000")
    result = p.run_search(
        ["final_mixture"], config={"final_mixture": {"config": {"pool_size": 5000, "replicates": 2}}}
    )
    m = metadata(result, "final_mixture")["mixture"]
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
