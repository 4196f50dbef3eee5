"""The ray profile on a real Ray cluster started here on 127.0.0.1 (a head from the `ray` CLI, and
Ray's own two-node test cluster): shard stages and a round's trials give what an in-process run
gives, a worker killed mid-round loses and doubles nothing, an address nothing answers fails at once."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mix_assets.core.storage import read_npy
from mix_assets.workers import RayCluster, Workers
from mix_assets_tests.conftest import (
    ROOT,
    SHARD_STAGES,
    corpus_sample,
    free_port,
    metadata,
    round_scores,
    shard_env,
    write_shards,
)

RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture(scope="module")
def ray_head():
    """`ray start --head` on loopback with two CPUs, stopped when the module is done."""
    port = free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    start = [RAY, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    subprocess.run([*start, "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def range_metadata(result, asset: str) -> dict:
    """The metadata of a range run's step (each partition's materialization carries the same)."""
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def on_ray(project, address: str) -> None:
    project.resources = {**project.resources, "workers": Workers(ray=RayCluster(address=address))}


def in_process(project) -> None:
    project.resources = {**project.resources, "workers": Workers(processes=1)}


def test_shard_stages_on_ray_equal_the_in_process_run(project, ray_head, tmp_path):
    keys = write_shards(corpus_sample(20, seed=4), project.input, 2)
    project.add_shards(keys)
    in_process(project)
    reference = project.work.with_name("reference")
    project.run(SHARD_STAGES, keys)
    project.run(["centroids"], config={"centroids": {"config": {"n_clusters": 8}}})
    project.run(["cluster_assignments"], keys)
    shutil.copytree(project.work, reference)

    for stage in ("raw_shards", "quality_signals", "embeddings", "cluster_assignments"):
        shutil.rmtree(project.work / stage)
    on_ray(project, ray_head)
    result = project.run(SHARD_STAGES, keys)
    assert range_metadata(result, "raw_shards")["reused_shards"] == 0
    for key in keys:
        for stage in ("raw_shards", "quality_signals"):
            assert pl.read_parquet(project.work / stage / f"{key}.parquet").equals(
                pl.read_parquet(reference / stage / f"{key}.parquet")
            ), f"{stage} {key}"
            assert (project.work / stage / f"{key}.version").read_text() == (
                reference / stage / f"{key}.version"
            ).read_text()
        ray_emb, ref_emb = (read_npy(w / "embeddings" / f"{key}.npy") for w in (project.work, reference))
        assert ray_emb.shape == ref_emb.shape
        # an actor's torch runs on its own thread count: equal up to float rounding
        assert np.abs(ray_emb - ref_emb).max() < 1e-4
        assert (ray_emb * ref_emb).sum(axis=1).min() > 0.9999
    # assignments from the same embeddings and centroids: exactly the in-process ones
    for key in keys:
        shutil.copy(reference / "embeddings" / f"{key}.npy", project.work / "embeddings" / f"{key}.npy")
    result = project.run(["cluster_assignments"], keys)
    assert result.success
    for key in keys:
        assert pl.read_parquet(project.work / "cluster_assignments" / f"{key}.parquet").equals(
            pl.read_parquet(reference / "cluster_assignments" / f"{key}.parquet")
        )
    # a rerun on Ray skips every current shard, whichever worker would have had it
    again = project.run(SHARD_STAGES, keys)
    assert [range_metadata(again, s)["reused_shards"] for s in SHARD_STAGES] == [2, 2, 2]


def test_the_ray_profile_fans_the_cli_out_over_the_cluster(project, ray_head, tmp_path):
    """What a user's CI runs: `dagster asset materialize` with MIX_ASSETS_PROFILE=ray and the address."""
    keys = write_shards(corpus_sample(6, seed=5), project.input, 2)
    env = {**shard_env(project, tmp_path), "MIX_ASSETS_PROFILE": "ray", "MIX_ASSETS_RAY_ADDRESS": ray_head}
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "mix_assets.definitions"]
        + ["--select", "raw_shards,quality_signals", "--partition-range", f"{keys[0]}...{keys[-1]}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "raw_shards: 2 shards on ray tasks" in out.stderr
    assert f"Ray cluster at {ray_head}" in out.stderr  # dagster-ray's resource connected to it
    for stage in ("raw_shards", "quality_signals"):
        assert sorted(p.stem for p in (project.work / stage).glob("*.parquet")) == keys


def test_a_round_on_ray_scores_every_trial_as_in_process(searcher, ray_head):
    p = searcher(rounds=[8])
    in_process(p)
    p.run_round("demo-r0000")
    reference = round_scores(p)
    shutil.rmtree(p.work / "proxy_trials" / "demo-r0000")
    on_ray(p, ray_head)
    result = p.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    m = metadata(result, "proxy_trials")
    assert (m["ran_now"], m["reused"], m["failed"], m["pool"]) == (10, 0, 0, "ray tasks")
    assert len(reference) == 10 and round_scores(p) == reference  # the same numbers, to the last digit


def test_a_worker_killed_mid_round_loses_and_doubles_no_trial(searcher, tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    p = searcher(rounds=[8])
    in_process(p)
    p.run_round("demo-r0000")
    reference = round_scores(p)
    shutil.rmtree(p.work / "proxy_trials" / "demo-r0000")

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)  # two nodes on this host: Ray's own multi-node test cluster
        cluster.wait_for_nodes()
        marker = tmp_path / "killed"
        monkeypatch.setenv("MIX_ASSETS_KILL_ONCE", f"run_trial:{marker}")
        on_ray(p, cluster.address)
        result = p.run_round("demo-r0000", stages=["proxy_trials", "proxy_scores"])
    finally:
        cluster.shutdown()
    assert marker.exists(), "a worker should have been killed mid-trial"
    m = metadata(result, "proxy_trials")
    assert (m["ran_now"], m["failed"], m["attempt"]) == (10, 0, 1)  # Ray ran the lost trial again
    records = list((p.work / "proxy_trials" / "demo-r0000").glob("*.json"))
    scored = p.warehouse.query("SELECT mixture_id FROM mix.proxy_scores WHERE round = 'demo-r0000'")
    assert len(records) == 10 and scored.height == 10 and scored["mixture_id"].n_unique() == 10
    assert round_scores(p) == reference


def test_an_address_nothing_answers_fails_the_step_at_once_naming_it(project):
    keys = write_shards(corpus_sample(3, seed=1), project.input, 2)
    project.add_shards(keys)
    address = f"127.0.0.1:{free_port()}"
    on_ray(project, address)
    began = time.perf_counter()
    result = project.run(["raw_shards"], keys, raise_on_error=False)
    assert not result.success
    assert time.perf_counter() - began < 60  # dagster-ray alone would retry the connection for 120 s
    # the step's resources fail to start: the step never runs
    failure = next(e for e in result.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE")
    message = failure.event_specific_data.error.to_string()
    assert f"no Ray cluster answers at {address}" in message and "MIX_ASSETS_RAY_ADDRESS" in message
    assert not (project.work / "raw_shards").exists()  # nothing ran


def test_each_kind_of_work_gets_the_pool_the_profile_says():
    from mix_assets.core import fanout

    local, ray = Workers(processes=4), Workers(ray=RayCluster(address="127.0.0.1:6379"), gpus=1)
    assert isinstance(local.pool("/work", "trial", 16), fanout.Processes)
    assert local.pool("/work", "trial", 3).workers == 3  # never more processes than units
    assert isinstance(local.pool("/work", "embed", 16), fanout.InProcess)  # torch already uses every core
    assert isinstance(local.pool("/work", "trial", 16, gpu=True), fanout.InProcess)  # so does the gpt proxy
    assert isinstance(
        local.pool("memory://w", "trial", 16), fanout.InProcess
    )  # other processes see no memory://
    assert isinstance(local.pool("/work", "trial", 1), fanout.InProcess)
    assert ray.pool("/work", "trial", 16, gpu=True).gpus == 1  # the gpt proxy asks for a GPU
    assert ray.pool("/work", "trial", 16).gpus == 0
    assert isinstance(ray.pool("/work", "trial", 1), fanout.RayTasks)  # one unit still goes to the cluster
    actors = ray.pool("/work", "embed", 16, setup=print)
    assert isinstance(actors, fanout.RayActors) and actors.gpus == 1 and actors.setup is print
