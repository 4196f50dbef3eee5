"""`mix-assets run` (what `make run` calls): the whole pipeline in one process, through the same
assets, on the same instance as `dagster asset materialize`. A new user's whole run with two
searches, its runs on the instance and a rerun that trains nothing: test_project.py."""

import subprocess
import sys

from mix_assets_tests.conftest import ROOT, cli_env, corpus_sample, write_shards


def mix_assets(args: list[str], env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mix_assets.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_refuses_an_unknown_search_and_the_cluster_profile(project, tmp_path):
    write_shards(corpus_sample(2), project.input, 1)
    env = cli_env(project, tmp_path)
    unknown = mix_assets(["run", "--search", "nope"], env)
    assert unknown.returncode != 0 and "no search nope in the project file; it has demo" in unknown.stderr
    cluster = mix_assets(["run"], {**env, "MIX_ASSETS_PROFILE": "cluster"})
    assert cluster.returncode != 0 and "under the cluster profile" in cluster.stderr
