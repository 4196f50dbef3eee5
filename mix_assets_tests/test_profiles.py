"""Deployment profiles: every artifact goes through the configured storage URI (a file:// URI and the
in-memory fsspec filesystem), and the cluster profile's Definitions load and validate."""

import json
import os
import subprocess
import sys

import fsspec
import polars as pl
import pytest
from dagster import AssetSelection, materialize
from upath import UPath

from mix_assets.assets import all_assets
from mix_assets.checks import all_checks
from mix_assets.resources import ProjectStorage, Searches
from mix_assets_tests.conftest import ROOT, corpus_sample, free_port

EVERY_STAGE = [
    (["raw_shards", "quality_signals", "embeddings"], "shards"),
    (["centroids"], None),
    (["cluster_assignments"], "shards"),
    (["unique_ids", "cluster_stats", "pruned_clusters", "merged_clusters", "proxy_tokenizer"], None),
    (["proxy_corpus"], "shards"),
    (["search_targets"], "searches"),
    (["mixture_candidates", "proxy_trials", "proxy_scores", "predictor"], "rounds"),
    (["final_mixture", "mixed_dataset", "mixture_exports", "run_report"], "searches"),
    (["smart_selection", "domain_selection"], None),
]
CONFIG = {
    "centroids": {"config": {"n_clusters": 6}},
    "merged_clusters": {"config": {"n_super_clusters": 3}},
    "pruned_clusters": {"config": {"min_mean_quality": 0.0}},
    "proxy_tokenizer": {"config": {"vocab_size": 512}},
    "final_mixture": {"config": {"replicates": 1, "pool_size": 2000}},
    "mixed_dataset": {"config": {"token_budget": 20_000}},
    "smart_selection": {"config": {"budget": 20, "chunk": 16}},
    "domain_selection": {
        "config": {"in_domain": str(ROOT / "data" / "targets" / "mathematics.parquet"), "fraction": 0.2}
    },
}


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_every_artifact_goes_through_the_storage_uri(project, tmp_path, scheme):
    root = f"memory://mix-{tmp_path.name}" if scheme == "memory" else f"file://{tmp_path}/bucket"
    p = project
    p.storage = ProjectStorage(input_dir=f"{root}/input", work_dir=f"{root}/work")
    p.search = p.search.model_copy(update={"rounds": [8], "token_budget": 20_000})
    p.resources = {**p.resources, "storage": p.storage, "searches": Searches(searches={"demo": p.search})}
    docs = corpus_sample(10, seed=4)
    fs, base = fsspec.core.url_to_fs(f"{root}/input")
    fs.makedirs(base, exist_ok=True)
    for i in range(2):
        with fs.open(f"{base}/shard-{i}.parquet", "wb") as f:
            docs.select("doc_id", "text").gather_every(2, offset=i).write_parquet(f)
    p.add_shards(["shard-0", "shard-1"])
    p.instance.add_dynamic_partitions("rounds", ["demo-r0000"])
    p.instance.add_dynamic_partitions("searches", ["demo"])
    timed = {}
    for stages, parts in EVERY_STAGE:
        tags = (
            {"dagster/asset_partition_range_start": "shard-0", "dagster/asset_partition_range_end": "shard-1"}
            if parts == "shards"
            else None
        )
        result = materialize(
            [*all_assets, *all_checks],
            instance=p.instance,
            resources=p.resources,
            selection=AssetSelection.assets(*stages),
            partition_key={"rounds": "demo-r0000", "searches": "demo"}.get(parts),
            tags=tags,
            run_config={"ops": {k: v for k, v in CONFIG.items() if k in stages}},
        )
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            timed[mat.asset_key.to_user_string()] = "seconds" in mat.metadata
    assert set(timed) == {k.to_user_string() for a in all_assets for k in a.keys} and all(timed.values()), (
        timed
    )  # every stage, timed

    work = UPath(f"{root}/work")
    written = {
        f.relative_to(work).as_posix() if scheme == "file" else f.path.split("/work/", 1)[1]
        for f in work.rglob("*")
        if f.is_file()
    }
    for asset in (
        "raw_shards",
        "raw_shards_quarantine",
        "quality_signals",
        "embeddings",
        "centroids",
        "cluster_assignments",
        "proxy_tokenizer",
        "proxy_corpus",
        "search_targets",
        "proxy_trials",
        "predictor",
        "final_mixture",
        "mixed_dataset",
        "mixture_exports",
        "run_report",
        "smart_selection",
        "domain_selection",
    ):
        assert any(w.startswith(f"{asset}/") for w in written), f"{asset} wrote nothing under {root}/work"
    # the warehouse owns the small tables: no parquet twin of any of them
    for table in (
        "cluster_stats",
        "pruned_clusters",
        "merged_clusters",
        "cluster_mapping",
    ):
        assert not any(w.startswith(f"{table}/") for w in written), table
    assert not any(
        w.startswith("proxy_scores/") or w.startswith("final_mixture/demo.parquet") for w in written
    )
    assert not (tmp_path / "work").exists()  # Project's default local folder stays unused
    final = json.loads((work / "final_mixture" / "demo.json").read_text())
    assert abs(sum(final["weights"].values()) - 1) < 1e-9
    manifest = json.loads((work / "mixed_dataset" / "demo" / "manifest.json").read_text())
    with (work / "mixed_dataset" / "demo" / manifest["parts"][0]).open("rb") as f:
        assert pl.read_parquet(f).height > 0
    assert not [w for w in written if ".tmp" in w]  # uploads are whole: no temp file reaches the store


def test_cluster_profile_loads_with_the_k8s_executor_and_gpu_requests(tmp_path):
    env = {
        **os.environ,
        "MIX_ASSETS_PROFILE": "cluster",
        "DAGSTER_HOME": str(tmp_path),
        "MIX_ASSETS_WORK": "s3://bucket/mix/work",
        "MIX_ASSETS_INPUT": "s3://bucket/mix/input",
        "MIX_ASSETS_GPUS_PER_STEP": "2",
    }
    probe = (
        "from mix_assets.definitions import defs; import json; "
        "job = defs.resolve_implicit_global_asset_job_def(); "
        "print(json.dumps({'executor': job.executor_def.name, 'embeddings': "
        "defs.get_assets_def('embeddings').op.tags, "
        "'raw_shards': defs.get_assets_def('raw_shards').op.tags, 'work': "
        "defs.resources['storage'].work_dir}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["executor"] == "mix_assets_k8s"
    pod = json.loads(
        seen["embeddings"]["dagster-k8s/config"]
    )  # op tags hold JSON: dagster-k8s parses it per step
    assert pod["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "dagster-k8s/config" not in seen["raw_shards"]
    assert seen["work"] == "s3://bucket/mix/work"
    valid = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert valid.returncode == 0 and "Validation successful" in valid.stderr + valid.stdout, valid.stderr[
        -3000:
    ]


def test_an_unknown_profile_is_refused(tmp_path):
    env = {**os.environ, "MIX_ASSETS_PROFILE": "clutser", "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", "import mix_assets.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (
        out.returncode != 0
        and "MIX_ASSETS_PROFILE='clutser': choose one of local, ray, cluster" in out.stderr
    )


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on loopback (Debian's postgresql package), trust auth."""
    import glob
    import shutil
    import tempfile

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql); .ci/run installs them")
    bindir = os.path.dirname(bins[-1])
    data = tempfile.mkdtemp(prefix="mix-pg-")
    as_user = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True, timeout=120)

    run(f"{bindir}/initdb", "-D", f"{data}/db", "-U", "postgres", "--auth=trust")
    run(
        f"{bindir}/pg_ctl",
        "-D",
        f"{data}/db",
        "-w",
        "-l",
        f"{data}/log",
        "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
        "start",
    )
    try:
        run(
            f"{bindir}/psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-c",
            "CREATE DATABASE dagster",
        )
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": "dagster",
        }
    finally:
        subprocess.run(
            [*as_user, f"{bindir}/pg_ctl", "-D", f"{data}/db", "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


def test_a_run_on_the_cluster_instance_stores_its_events_in_postgres(postgres, project, tmp_path):
    import shutil

    import psycopg2
    from dagster import AssetKey, DagsterInstance

    from mix_assets_tests.conftest import cli_env, write_shards

    keys = write_shards(corpus_sample(4, seed=6), project.input, 2)
    env = {**cli_env(project, tmp_path), **postgres}
    shutil.copy(ROOT / "deploy" / "cluster" / "dagster.yaml", f"{env['DAGSTER_HOME']}/dagster.yaml")
    for args in (
        ["mix_assets.cli", "shards"],
        [
            "dagster",
            "asset",
            "materialize",
            "-m",
            "mix_assets.definitions",
            "--select",
            "raw_shards,quality_signals",
            "--partition-range",
            f"{keys[0]}...{keys[-1]}",
        ],
    ):
        out = subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    os.environ.update(postgres)
    try:
        instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert sorted(instance.get_materialized_partitions(AssetKey("quality_signals"))) == keys
    finally:
        for k in postgres:
            os.environ.pop(k)
    with (
        psycopg2.connect(
            host="127.0.0.1", port=postgres["DAGSTER_PG_PORT"], user="postgres", dbname="dagster"
        ) as con,
        con.cursor() as cur,
    ):
        cur.execute("SELECT status FROM runs")
        assert [r[0] for r in cur.fetchall()] == ["SUCCESS"]
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE asset_key LIKE '%quality_signals%' AND "
            "dagster_event_type = 'ASSET_MATERIALIZATION'"
        )
        assert cur.fetchone()[0] == len(keys)
