"""The code location loads, validates with the Dagster CLI, and the shard sensor adds partitions."""

import os
import subprocess
import sys

from dagster import DagsterInstance, build_sensor_context, instance_for_test

from mix_assets.definitions import defs
from mix_assets.resources import ProjectStorage
from mix_assets.sensors import new_shards_sensor
from mix_assets_tests.conftest import ROOT, corpus_sample, write_shards

STAGES = {
    "raw_shards",
    "quality_signals",
    "embeddings",
    "centroids",
    "cluster_assignments",
    "cluster_stats",
    "pruned_clusters",
    "merged_clusters",
}


def test_definitions_load_with_every_stage_and_job():
    graph = defs.resolve_asset_graph()
    assert STAGES <= {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {j.name for j in defs.jobs} >= {
        "ingest_shards",
        "fit_clusters",
        "assign_shards",
        "summarize_clusters",
    }
    parts = {
        k.to_user_string(): graph.get(k).partitions_def.name
        for k in graph.get_all_asset_keys()
        if graph.get(k).partitions_def is not None
    }
    assert parts["embeddings"] == "shards" and parts["predictor"] == "rounds"
    # per search: its targets, final mixture, report, dataset and exports
    for asset in ("search_targets", "final_mixture", "run_report", "mixed_dataset", "mixture_exports"):
        assert parts[asset] == "searches"
    # the demo project file at the root: one search, the published schedule
    assert defs.resources["searches"].names() == ["demo"]
    assert defs.resources["searches"].get("demo").rounds == [64, 32, 16]


def test_dagster_cli_validates_the_workspace_with_the_demo_project_file(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Validation successful for code location mix_assets" in out.stderr + out.stdout


def test_loading_the_code_location_imports_no_heavy_library():
    # every step of the multiprocess executor, and every CLI run, loads the code location first
    probe = "import sys, mix_assets.definitions; print(sorted(m for m in HEAVY if m in sys.modules))"
    heavy = ["torch", "sklearn", "matplotlib", "transformers", "sentence_transformers", "lightgbm", "faiss"]
    out = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {heavy!r}; {probe}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_shard_sensor_adds_new_shards_once(tmp_path):
    keys = write_shards(corpus_sample(2), tmp_path, 2)
    with instance_for_test() as instance:
        storage = ProjectStorage(input_dir=str(tmp_path), work_dir=str(tmp_path / "work"))
        first = new_shards_sensor(build_sensor_context(instance=instance, resources={"storage": storage}))
        assert first.run_requests == []  # corpus_automation materializes them (test_assets_pipeline)
        [add] = first.dynamic_partitions_requests
        assert list(add.partition_keys) == keys
        instance.add_dynamic_partitions("shards", keys)
        again = new_shards_sensor(build_sensor_context(instance=instance, resources={"storage": storage}))
        assert again.run_requests == [] and again.dynamic_partitions_requests == []
        assert isinstance(instance, DagsterInstance)
