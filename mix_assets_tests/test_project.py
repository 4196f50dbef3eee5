"""The project file: validation that names the key and the fix, paths relative to the file, the
environment overriding only locations; and a new user's whole path, from `mix-assets init` on a folder
of JSONL shards to two searches' final mixtures and reports through the README's make targets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from mix_assets import environment
from mix_assets.project import ProjectFileError, load, parse
from mix_assets.resources import ProjectStorage
from mix_assets_tests.conftest import ROOT, corpus_sample


def problems(text: str) -> str:
    with pytest.raises(ProjectFileError) as e:
        parse(text, "p.yaml")
    return str(e.value)


def test_mistakes_are_reported_with_the_key_and_the_fix():
    msg = problems("searches:\n  News:\n    targets: {a.parquet: 1}\n    rouns: [8]\n")
    assert msg.startswith("p.yaml: 2 problem(s):")
    assert "searches.News.rouns: Extra inputs are not permitted (unknown key" in msg
    assert "searches.News.[key]: String should match pattern" in msg and "e.g. news_en" in msg
    assert "searches.x.targets: Field required (required: add it)" in problems("searches:\n  x: {}\n")
    assert "searches.x.direction: Input should be 'minimize' or 'maximize'" in problems(
        "searches:\n  x: {targets: {a.parquet: 1}, direction: down}\n"
    )
    assert "two targets share a file name" in problems(
        "searches:\n  x: {targets: {a/t.parquet: 1, b/t.jsonl: 1}}\n"
    )
    assert "not valid YAML" in problems("searches: [\n")


def test_impossible_pins_and_reuse_are_refused_naming_the_domain(tmp_path, capsys):
    from mix_assets import cli
    from mix_assets.resources import Warehouse

    assert "super-cluster 2 at 0.7, super-cluster 0 at 0.4" in problems(
        "searches:\n  x: {targets: {a.parquet: 1}, fixed_weights: {2: 0.7, super_cluster_0: 0.4}}\n"
    )
    assert "searches.y.reuse: y and x differ in backend" in problems(
        "searches:\n  x: {targets: {a.parquet: 1}}\n  y: {targets: {a.parquet: 1}, reuse: x, backend: gpt}\n"
    )
    # super-cluster 1 holds 5% of the tokens: a run of the corpus may take 15 x 5% = 75% of it
    Warehouse(database=str(tmp_path / "w.duckdb")).replace(
        "super_clusters", pl.DataFrame({"super_cluster": [0, 1, 2], "n_tokens": [600, 50, 350]})
    )
    (tmp_path / "a.parquet").write_bytes(b"")
    path = tmp_path / "p.yaml"
    path.write_text(
        "warehouse: w.duckdb\nsearches:\n  x: {targets: {a.parquet: 1}, fixed_weights: {1: 0.8}}\n"
    )
    assert cli.main(["validate", str(path)]) == 1
    assert "searches.x.fixed_weights: domain 1: pinned weight 0.8 is above its repetition bound 0.7500" in (
        capsys.readouterr().err
    )


def test_paths_are_relative_to_the_file_and_the_environment_overrides_only_locations(tmp_path, monkeypatch):
    path = tmp_path / "proj" / "mix_assets.yaml"
    path.parent.mkdir()
    path.write_text(
        "input: {path: shards, id_column: id}\nwork: s3://bucket/work\n"
        "searches:\n  news: {targets: {t/news.jsonl: 1.0}, rounds: [8, 4]}\n"
    )
    project = load(path)
    assert project.input.path == str(path.parent / "shards") and project.work == "s3://bucket/work"
    assert list(project.searches["news"].targets) == [str(path.parent / "t" / "news.jsonl")]
    monkeypatch.setenv("MIX_ASSETS_CONFIG", str(path))
    monkeypatch.setenv("MIX_ASSETS_WORK", str(tmp_path / "elsewhere"))
    assert environment.input_dir() == str(path.parent / "shards")
    assert environment.work_dir() == str(tmp_path / "elsewhere")
    from mix_assets.resources import Searches

    assert ProjectStorage().id_column == "id" and Searches().get("news").rounds == [8, 4]
    with pytest.raises(KeyError, match="no search named 'code'.*searches: news"):
        Searches().get("code")


def run(args: list[str], env: dict, timeout: int = 900) -> str:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout


def test_a_new_user_runs_two_searches_from_a_project_file(tmp_path):
    """`mix-assets init`, `validate`, `dagster definitions validate`, then `mix-assets run` (what
    `make run` calls) for the corpus stages and both searches. `.ci/run` takes the same kind of
    project file through `make materialize` and `make search`, the Dagster CLI path."""
    # the user's data: JSONL shards with an `id` column, and two target files of their own
    shards = tmp_path / "shards"
    shards.mkdir()
    docs = corpus_sample(25, seed=11)
    for i in range(2):
        part = docs.gather_every(2, offset=i).select(pl.col("doc_id").alias("id"), "text")
        part.write_ndjson(shards / f"part-{i}.jsonl")
    for name in ("mathematics", "all_domains"):
        pl.read_parquet(ROOT / "data" / "targets" / f"{name}.parquet").select("text").write_ndjson(
            tmp_path / f"{name}.jsonl"
        )
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = tmp_path / "mix_assets.yaml"
    env = {**os.environ, "DAGSTER_HOME": str(home), "MIX_ASSETS_CONFIG": str(config)}
    for k in ("MIX_ASSETS_INPUT", "MIX_ASSETS_WORK", "MIX_ASSETS_WAREHOUSE"):
        env.pop(k, None)
    cli = [sys.executable, "-m", "mix_assets.cli"]
    out = run(
        [*cli, "init", str(shards), "--out", str(config), "--search", f"math={tmp_path}/mathematics.jsonl"]
        + ["--search", f"spread={tmp_path}/all_domains.jsonl"],
        env,
    )
    assert "text column 'text', id column 'id'" in out
    # the user shrinks the searches for a quick first look, as the file's comments invite
    body = yaml.safe_load(config.read_text())
    assert body["input"] == {"path": "shards", "text_column": "text", "id_column": "id"}
    for s in body["searches"].values():
        s.update(rounds=[6], token_budget=30_000)
    body["clustering"].update(n_clusters=6, n_super_clusters=3)
    config.write_text(yaml.safe_dump(body))
    assert "valid; searches math, spread" in run([*cli, "validate"], env)
    run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "mix_assets.definitions"], env)
    dg = str(Path(sys.executable).with_name("dg"))  # Dagster's own CLI reads [tool.dg] of pyproject.toml
    assert "All definitions loaded successfully" in run([dg, "check", "defs"], env)

    # then the first command a new user runs, `make run`'s: every stage and both searches
    out = run([*cli, "run"], env)
    stages = [line.split(":")[0] for line in out.splitlines() if ": done in" in line]
    assert [s for s in stages if s.startswith("round ")] == ["round math-r0000", "round spread-r0000"]
    # each stage was a run on the project's instance, as the Dagster CLI's are: the UI shows them
    runs = DagsterInstance.from_config(str(home)).get_runs()
    assert len(runs) == 12  # 4 corpus stages, tokenizer, proxy corpus; per search: targets, round, final
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)

    con = duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True)
    scores = con.sql(
        "SELECT search, round, count(*) FROM mix.proxy_scores GROUP BY ALL ORDER BY 2"
    ).fetchall()
    # each search has its own rounds and rows, never the other's
    assert [(s, r, n) for s, r, n in scores] == [("math", "math-r0000", 8), ("spread", "spread-r0000", 8)]
    for name in ("math", "spread"):
        summary = json.loads((tmp_path / "data" / "work" / "final_mixture" / f"{name}.json").read_text())
        assert summary["search"] == name and abs(sum(summary["weights"].values()) - 1) < 1e-9
        # the run ends each search with its held-out score beside natural's and uniform's
        scores = summary["evaluation"]
        line = next(
            x for x in out.splitlines() if x.startswith(f"{name}: final mixture {summary['mixture_id']}")
        )
        assert f"scores {scores[summary['chosen']]:.3f} nats/token on the evaluation part" in line
        assert f"natural {scores['natural']:.3f}, uniform {scores['uniform']:.3f}" in line
        page = (tmp_path / "data" / "work" / "run_report" / name / "index.html").read_text()
        assert f"search <i>{name}</i>" in page and "<h2>4. Final mixture</h2>" in page
    # both searches share every corpus stage: one clustering (3 super-clusters), one mixture each
    table = con.sql(
        "SELECT search, w0 + w1 + w2 FROM mix.final_mixture WHERE kind = 'final' ORDER BY 1"
    ).fetchall()
    assert [s for s, _ in table] == ["math", "spread"] and all(abs(t - 1) < 1e-9 for _, t in table)
    con.close()
    # run again: the schedules are complete, so no round is added and no proxy trains again
    again = run([*cli, "run", "--stages", "search"], env)
    stages = [line.split(": done in")[0] for line in again.splitlines() if ": done in" in line]
    assert stages == [
        "proxy_tokenizer",
        "proxy_corpus",
        "math: search_targets",
        "math: final mixture",
        "spread: search_targets",
        "spread: final mixture",
    ]
    assert len(DagsterInstance.from_config(str(home)).get_dynamic_partitions("rounds")) == 2
    # Dagster's `dg launch` on the same project and instance: one more run, the math search's report
    run([dg, "launch", "--assets", "run_report", "--partition", "math"], env)
    last = DagsterInstance.from_config(str(home)).get_runs(limit=1)[0]
    assert last.status == DagsterRunStatus.SUCCESS and last.tags.get("dagster/partition") == "math"
