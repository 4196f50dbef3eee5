"""The whole foundation pipeline through a real Dagster instance and a real DuckDB warehouse."""

import datetime

import numpy as np
import polars as pl
import pytest
from dagster import AssetKey

from mix_assets.assets.documents import duplicate_ids
from mix_assets.core.storage import read_npy
from mix_assets_tests.conftest import (
    CLUSTER_STAGES,
    SHARD_STAGES,
    Automation,
    corpus_sample,
    metadata,
    write_shards,
)

SMALL = {"centroids": {"config": {"n_clusters": 12}}, "merged_clusters": {"config": {"distance": 0.8}}}


def materialized_partitions(instance, asset: str) -> list[str]:
    records = instance.fetch_materializations(AssetKey(asset), limit=1000).records
    return sorted(r.partition_key for r in records)


@pytest.fixture
def small(project):
    keys = write_shards(corpus_sample(12, seed=1), project.input, 2)
    project.add_shards(keys)
    project.results = project.run_all(keys, SMALL)
    return project, keys


def test_every_stage_writes_its_artifacts_tables_and_checks(small):
    project, keys = small
    storage = project.storage
    docs = storage.read_all("raw_shards")
    assert docs.height == 8 * 12
    for key in keys:
        n = pl.read_parquet(storage.path("raw_shards", key)).height
        emb = read_npy(storage.path("embeddings", key, ".npy"))
        assert emb.shape == (n, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
        assert pl.read_parquet(storage.path("cluster_assignments", key)).height == n
        assert pl.read_parquet(storage.path("quality_signals", key))["quality"].is_between(0, 1).all()
    stats = project.table("cluster_stats")
    assert (
        stats.height == 12
        and stats["n_docs"].sum() == docs.height
        and stats["n_tokens"].sum() == docs["n_tokens"].sum()
    )
    assert (stats["label"].str.len_chars() > 0).all()
    # the per-shard sums give what one pass over the whole table gives
    whole = (
        storage.read_all("cluster_assignments")
        .join(storage.read_all("quality_signals", columns=["doc_id", "quality"]), on=["doc_id", "shard"])
        .group_by("cluster")
        .agg(
            pl.len().alias("docs"), pl.col("quality").mean().alias("q"), pl.col("distance").mean().alias("d")
        )
        .join(stats, on="cluster")
    )
    assert whole.height == 12 and (whole["docs"] == whole["n_docs"]).all()
    assert (whole["q"] - whole["mean_quality"]).abs().max() < 1e-9
    assert (whole["d"] - whole["mean_distance"]).abs().max() < 1e-6
    pruned, mapping, supers = (
        project.table("pruned_clusters"),
        project.table("cluster_mapping"),
        project.table("super_clusters"),
    )
    assert set(mapping["cluster"]) == set(pruned.filter("kept")["cluster"])
    assert (
        supers["n_tokens"].sum()
        == stats.join(pruned.filter("kept").select("cluster"), on="cluster")["n_tokens"].sum()
    )
    assert abs(supers["token_share"].sum() - 1) < 1e-9 and 1 < supers.height < 12
    by_super = (
        storage.read_all("quality_signals", columns=["doc_id", "quality"])
        .join(storage.read_all("cluster_assignments"), on=["doc_id", "shard"])
        .join(mapping, on="cluster")
        .group_by("super_cluster")
        .agg(pl.len().alias("docs"), pl.col("quality").mean().alias("q"))
        .join(supers, on="super_cluster")
    )
    assert (by_super["docs"] == by_super["n_docs"]).all()
    assert (by_super["q"] - by_super["mean_quality"]).abs().max() < 1e-9
    summaries = project.table("shard_summaries").sort("shard")
    assert summaries["shard"].to_list() == keys and summaries["n_docs"].sum() == docs.height
    checks = {e.check_name: e.passed for r in project.results for e in r.get_asset_check_evaluations()}
    assert checks == {
        "finite_unit_norm": True,
        "every_document_assigned": True,
        "mapping_covers_kept_clusters": True,
        "no_empty_cluster": True,
        "ids_unique_across_shards": True,
        "assignment_drift": True,
    }


def test_adding_a_shard_materializes_only_that_shard(small):
    project, keys = small
    storage = project.storage
    before = {
        (a, k): storage.path(a, k, s).stat().st_mtime_ns
        for a, s in [("raw_shards", ".parquet"), ("embeddings", ".npy"), ("cluster_assignments", ".parquet")]
        for k in keys
    }
    extra = (
        corpus_sample(12, seed=2)
        .join(storage.read_all("raw_shards", columns=["doc_id"]), on="doc_id", how="anti")
        .head(30)
    )
    [new] = write_shards(extra, project.input, 1, prefix="late")
    project.add_shards([new])
    project.run(SHARD_STAGES, [new])
    project.run(["cluster_assignments"], [new])
    project.run(CLUSTER_STAGES, config={"merged_clusters": SMALL["merged_clusters"]})
    after = {
        key: storage.path(key[0], key[1], ".npy" if key[0] == "embeddings" else ".parquet").stat().st_mtime_ns
        for key in before
    }
    assert after == before  # old shards untouched
    for asset in ("raw_shards", "embeddings", "cluster_assignments"):
        assert materialized_partitions(project.instance, asset) == sorted([*keys, new])  # one event each
    assert len(project.instance.fetch_materializations(AssetKey("centroids"), limit=10).records) == 1
    assert project.table("cluster_stats")["n_docs"].sum() == storage.read_all("raw_shards").height


def test_editing_a_shard_in_place_rematerializes_only_that_shard(small):
    from dagster import build_sensor_context

    from mix_assets.sensors import changed_shards_sensor

    project, keys = small
    storage = project.storage
    automation = Automation(project.instance)

    def tick():
        return changed_shards_sensor(
            build_sensor_context(
                instance=project.instance, resources={"storage": storage, "warehouse": project.warehouse}
            )
        )

    assert tick().run_requests == [] and automation.tick() == {}  # nothing changed yet
    untouched = {
        a: storage.path(a, keys[0], s).stat().st_mtime_ns
        for a, s in [("raw_shards", ".parquet"), ("embeddings", ".npy"), ("cluster_assignments", ".parquet")]
    }
    edited = project.input / f"{keys[1]}.parquet"
    pl.read_parquet(edited).head(30).write_parquet(edited)  # same path, new content
    [request] = tick().run_requests
    assert request.partition_key == keys[1]
    assert [k.to_user_string() for k in request.asset_selection] == ["raw_shards"]
    project.run(["raw_shards"], [keys[1]])
    # the automation carries the new content through that shard's stages, and only that shard's
    assert automation.tick() == dict.fromkeys(
        ["quality_signals", "embeddings", "cluster_assignments"], [keys[1]]
    )
    project.run(["quality_signals", "embeddings"], [keys[1]])
    project.run(["cluster_assignments"], [keys[1]])
    assert automation.tick() == {}
    assert {
        a: storage.path(a, keys[0], s).stat().st_mtime_ns
        for a, s in [("raw_shards", ".parquet"), ("embeddings", ".npy"), ("cluster_assignments", ".parquet")]
    } == untouched
    assert pl.read_parquet(storage.path("raw_shards", keys[1])).height == 30
    assert read_npy(storage.path("embeddings", keys[1], ".npy")).shape[0] == 30
    assert tick().run_requests == []  # the new content is now the recorded version


def test_new_shards_join_the_clusters_and_drift_calls_for_one_refit(small):
    from dagster import SkipReason, build_sensor_context

    from mix_assets.sensors import new_shards_sensor, recluster_sensor

    project, keys = small
    # on a 96-document fit the shard below like the others drifts about 1.07 and one of CJK text
    # about 1.28: the threshold sits between them, 0.1 from each, where k-means on another machine
    # cannot move either across it (1.25, the default, was 0.03 from the odd shard)
    settings = project.resources["clustering"]
    project.resources["clustering"] = type(settings)(**{**settings.model_dump(), "drift_threshold": 1.175})
    resources = {k: project.resources[k] for k in ("storage", "warehouse", "clustering")}

    def tick(sensor):
        return sensor(build_sensor_context(instance=project.instance, resources=resources))

    automation = Automation(project.instance)

    # a shard like the others: embedded and assigned to the existing centroids, no refit
    like = (
        corpus_sample(12, seed=2)
        .join(project.storage.read_all("raw_shards", columns=["doc_id"]), on="doc_id", how="anti")
        .head(30)
    )
    write_shards(like, project.input, 1, prefix="like")
    result = tick(new_shards_sensor)
    [add] = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["like-00"] and result.run_requests == []
    project.add_shards(["like-00"])
    # the new partition runs through every shard stage and joins the existing clusters
    assert automation.tick() == dict.fromkeys([*SHARD_STAGES, "cluster_assignments"], ["like-00"])
    project.run(SHARD_STAGES, ["like-00"])
    project.run(["cluster_assignments"], ["like-00"])
    drift = dict(project.table("assignment_drift").select("shard", "drift").iter_rows())
    assert drift["like-00"] < 1.175
    assert isinstance(tick(recluster_sensor), SkipReason)

    # a shard unlike anything in the fit (CJK characters): its drift fails the check and asks for a refit
    rng = np.random.default_rng(0)
    odd = pl.DataFrame(
        {
            "doc_id": [f"odd-{i}" for i in range(20)],
            "text": ["".join(chr(int(v)) for v in rng.integers(0x4E00, 0x9FFF, 200)) for _ in range(20)],
        }
    )
    write_shards(odd, project.input, 1, prefix="odd")
    project.add_shards(["odd-00"])
    assert automation.tick() == dict.fromkeys([*SHARD_STAGES, "cluster_assignments"], ["odd-00"])
    project.run(SHARD_STAGES, ["odd-00"])
    result = project.run(["cluster_assignments"], ["odd-00"])
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "assignment_drift"]
    assert not check.passed and check.metadata["shard"].value == "odd-00"
    [refit] = tick(recluster_sensor).run_requests
    assert [k.to_user_string() for k in refit.asset_selection] == ["centroids"]
    old = project.storage.version("centroids")
    project.run(["centroids"], config={"centroids": SMALL["centroids"]})
    assert project.storage.version("centroids") != old
    # every shard's assignments now predate the centroids: one reassignment each, then quiet
    stale = tick(recluster_sensor).run_requests
    assert sorted(r.partition_key for r in stale) == sorted([*keys, "like-00", "odd-00"])
    assert automation.tick() == {}  # the automation leaves refits to the sensor: no second request
    for r in stale:
        project.run(["cluster_assignments"], [r.partition_key])
    assert isinstance(tick(recluster_sensor), SkipReason)
    assert automation.tick() == {}


def test_an_id_in_two_shards_is_kept_by_the_first_shard_whatever_order_they_ran(project):
    docs = corpus_sample(6, seed=4)
    first, second = docs.head(24), docs.tail(24)
    # three of the second shard's documents reuse ids of the first (their texts differ)
    second = pl.concat(
        [second.head(21), second.tail(3).with_columns(first["doc_id"].head(3).alias("doc_id"))]
    )
    project.input.mkdir(parents=True)
    first.select("doc_id", "text").write_parquet(project.input / "a-00.parquet")
    second.select("doc_id", "text").write_parquet(project.input / "b-00.parquet")
    project.add_shards(["a-00", "b-00"])
    for key in ("b-00", "a-00"):  # the later shard by key runs first, as parallel runs may
        project.run(SHARD_STAGES, [key])
    with pytest.raises(
        RuntimeError, match="not checked against the other shards' yet; materialize unique_ids"
    ):
        duplicate_ids(project.storage, project.warehouse, ["a-00", "b-00"])
    result = project.run(["unique_ids"])
    meta = metadata(result, "unique_ids")
    assert meta["documents"] == 48 and meta["duplicates"] == 3
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"ids_unique_across_shards": True}
    lost = project.table("duplicate_ids").sort("row")
    assert lost["shard"].to_list() == ["b-00"] * 3 and lost["kept_in"].to_list() == ["a-00"] * 3
    assert sorted(lost["doc_id"]) == sorted(first["doc_id"].head(3))
    quarantine = pl.read_parquet(project.storage.path("unique_ids_quarantine", "all"))
    assert quarantine["row"].to_list() == [22, 23, 24]  # rows of the file, 1-based
    assert quarantine["file"].str.ends_with("b-00.parquet").all()
    assert quarantine["reason"].str.contains("already in shard a-00").all()
    # the refused copies are in no cluster table; the other 45 documents are
    project.run(["centroids"], config={"centroids": {"config": {"n_clusters": 4}}})
    project.run(["cluster_assignments"], ["a-00", "b-00"])
    project.run(["cluster_stats"])
    assert project.table("cluster_stats")["n_docs"].sum() == 45
    # a shard added later is unchecked until unique_ids runs again, and every reader says so
    write_shards(
        docs.head(5).with_columns(pl.format("late-{}", "doc_id").alias("doc_id")), project.input, 1, "c"
    )
    project.add_shards(["c-00"])
    project.run(SHARD_STAGES, ["c-00"])
    project.run(["cluster_assignments"], ["c-00"])
    assert not project.run(["cluster_stats"], raise_on_error=False).success
    project.run(["unique_ids", "cluster_stats"])
    assert project.table("cluster_stats")["n_docs"].sum() == 50


def test_weekly_refresh_rebuilds_the_cluster_tables_only_after_new_assignments(small):
    from mix_assets.automation import CLUSTER_TABLES, CONDITIONS, WEEKLY_CRON

    project, keys = small
    assert WEEKLY_CRON == "0 3 * * 0" and set(CLUSTER_TABLES) <= set(CONDITIONS)
    sunday, week = datetime.datetime(2026, 12, 6, 3, 1), datetime.timedelta(days=7)
    automation = Automation(project.instance)
    assert automation.tick(sunday) == {}  # the tables are newer than every assignment
    project.run(["cluster_assignments"], keys[:1])
    assert automation.tick(sunday + datetime.timedelta(days=1)) == {}  # assigned, but not the week's tick
    assert automation.tick(sunday + week) == {"cluster_stats": [None]}  # no shard was read again
    project.run(["cluster_stats"])
    assert automation.tick(sunday + week + datetime.timedelta(minutes=1)) == {"pruned_clusters": [None]}
    project.run(["pruned_clusters"])
    assert automation.tick(sunday + week + datetime.timedelta(minutes=2)) == {"merged_clusters": [None]}
    project.run(["merged_clusters"], config={"merged_clusters": SMALL["merged_clusters"]})
    assert automation.tick(sunday + 2 * week) == {}  # an idle week costs nothing
