"""Mixture reuse through a real instance: a refit that merges two domains, searched again in the
changed part only with the earlier trials as prior evidence; a removed domain with no new search
trial; pinned weights end to end."""

import json

import numpy as np
import polars as pl
from dagster import SkipReason

from mix_assets.core.domains import mixture_id, weight_columns
from mix_assets.resources import Searches, SearchSettings
from mix_assets.sensors import corpus_update_sensor
from mix_assets_tests.conftest import metadata

FINAL = {"final_mixture": {"config": {"pool_size": 4000, "replicates": 2}}}


def switch(p, name: str, **search) -> None:
    """Point the project's helpers at search `name` (the earlier ones stay in the resource)."""
    searches = dict(p.resources["searches"].searches)
    searches[name] = SearchSettings(**{**p.search.model_dump(), **search})
    p.resources["searches"] = Searches(searches=searches)
    p.name, p.targets_ready = name, False


def meta(p, name: str) -> dict:
    return json.loads((p.work / "search_targets" / name / "meta.json").read_text())


def finish_first(p, n_super: int) -> None:
    p.run(["merged_clusters"], config={"merged_clusters": {"config": {"n_super_clusters": n_super}}})
    p.run_round(p.key(0))
    p.run_search(["final_mixture"], config=FINAL)


def weights(p, table: str, search: str) -> np.ndarray:
    rows = p.table(table).filter(pl.col("search") == search)
    return rows.select(weight_columns(len(meta(p, search)["labels"]))).to_numpy()


def test_a_refit_that_merges_two_domains_searches_only_the_merged_one_and_the_block(searcher):
    p = searcher(rounds=[10])
    finish_first(p, 5)
    assert isinstance(p.tick(corpus_update_sensor), SkipReason)  # the search still mixes the current domains
    # the same Ward tree cut one higher: two super-clusters merge, the other three are unchanged
    p.run(["merged_clusters"], config={"merged_clusters": {"config": {"n_super_clusters": 4}}})
    # the sensor adds the update, a reuse search of demo that search_rounds_sensor then runs
    [added] = p.tick(corpus_update_sensor).dynamic_partitions_requests
    assert added.partition_keys == ["demo_u1"] and p.resources["searches"].get("demo_u1").reuse == "demo"
    # the reuse defaults: two rounds as written, the second guided (here 4 and 3 trials)
    assert p.resources["searches"].get("demo_u1").first_round_per_domain == 0
    switch(p, "update", reuse="demo", rounds=[4, 3], first_round_per_domain=0)
    result = p.run_search(["search_targets"])
    [check] = result.get_asset_check_evaluations()
    m = meta(p, "update")
    assert check.passed and check.metadata["domains_unchanged"].value == 3
    assert check.metadata["domains_merged"].value == 1 and m["reuse"]["removed_domains"] == []
    assert m["reuse"]["prior_evidence"] > 0  # earlier trials that put weight where it still is
    block = {int(d): w for d, w in m["reuse"]["block"].items()}
    merged = [d for d in range(4) if d not in block]
    assert len(merged) == 1 and len(m["frame"]["labels"]) == 2  # the block's share and the merged domain
    p.targets_ready = True
    result = p.run_round(p.key(0))
    assert metadata(result, "proxy_trials")["ran_now"] == 4  # the round, nothing else (no baselines)
    assert metadata(result, "predictor")["prior_evidence_rows"] == m["reuse"]["prior_evidence"]
    result = p.run_round(p.key(1))  # guided by the surrogate of both searches' trials
    assert metadata(result, "proxy_trials")["ran_now"] == 3
    trained = p.table("mixture_candidates").filter(pl.col("search") == "update")
    kinds = {r: set(trained.filter(pl.col("round") == p.key(r))["kind"]) for r in (0, 1)}
    # round 0 around the earlier mixture; round 1 from the surrogate
    assert kinds[0] == {"near_previous"} and kinds[1] <= {"lcb", "local"}, kinds
    w = trained.select(weight_columns(4)).to_numpy()
    ids, ratio = list(block), np.array(list(block.values()))
    share = w[:, ids].sum(axis=1, keepdims=True)
    assert np.abs(w[:, ids] - share * ratio / ratio.sum()).max() <= 4e-4  # the block's ratio, kept
    assert np.ptp(w[:, merged[0]]) > 0.05  # the merged domain's weight is what varies (0.16 here)
    result = p.run_search(["final_mixture"], config=FINAL)
    summary = metadata(result, "final_mixture")["mixture"]
    assert summary["cost"]["search_trials"] == 7 and summary["reuse"]["search"] == "demo"
    # a reuse search measures its short list once (FinalSettings.reuse_replicates), whatever `replicates` says
    assert summary["replicates"] == 1 and {"natural", "uniform"} <= set(summary["evaluation"])
    short = {mixture_id(w) for w in weights(p, "final_candidates", "update")}
    assert mixture_id(np.array(m["reuse"]["previous_weights"])) in short  # the earlier mixture, measured
    p.run_search(["run_report"])
    page = (p.work / "run_report" / "update" / "index.html").read_text()
    assert "Reuse of search" in page and "merged" in page


def test_a_removed_domain_is_renormalised_and_verified_without_a_search_trial(searcher):
    p = searcher(rounds=[10])
    finish_first(p, 4)
    # one super-cluster pruned away: its clusters leave the mapping, the others keep their documents
    gone = int(p.table("super_clusters")["super_cluster"].max())
    mapping = p.table("cluster_mapping").filter(pl.col("super_cluster") != gone)
    p.warehouse.replace("cluster_mapping", mapping)
    p.warehouse.replace("super_clusters", p.table("super_clusters").filter(pl.col("super_cluster") != gone))
    switch(p, "update", reuse="demo")
    p.run_search(["search_targets"])
    m = meta(p, "update")
    assert m["reuse"]["removed_domains"] == [gone] and m["reuse"]["statuses"] == {"unchanged": 3}
    assert len(m["frame"]["labels"]) == 1  # nothing left to search
    before = p.table("proxy_scores").height
    result = p.run_search(["final_mixture"], config=FINAL)
    summary = metadata(result, "final_mixture")["mixture"]
    assert p.table("proxy_scores").height == before and summary["cost"]["search_trials"] == 0
    previous = np.array(
        list(json.loads((p.work / "final_mixture" / "demo.json").read_text())["weights"].values())
    )
    kept = np.delete(previous, gone)
    np.testing.assert_allclose(m["reuse"]["previous_weights"], kept / kept.sum(), atol=2e-4)
    # the short list: the renormalised mixture (named as a baseline when it is one), natural, uniform
    assert set(summary["evaluation"]) <= {"previous", "natural", "uniform"}
    short = {mixture_id(w) for w in weights(p, "final_candidates", "update")}
    assert mixture_id(np.array(m["reuse"]["previous_weights"])) in short and len(short) >= 2


def test_pinned_weights_hold_in_every_trial_and_the_final_mixture(searcher):
    p = searcher(rounds=[8], fixed_weights={"1": 0.1})
    p.run_round(p.key(0))
    p.run_search(["final_mixture"], config=FINAL)
    for table in ("mixture_candidates", "final_candidates", "final_mixture"):
        w = weights(p, table, "demo")
        kinds = p.table(table).filter(pl.col("search") == "demo")
        assert np.allclose(w[:, 1], 0.1), (table, kinds.columns)
