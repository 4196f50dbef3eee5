"""Small real corpora cut from the embedded corpus, and helpers that materialize through a real instance."""

import datetime
import os

# Ray started by the tests binds to loopback, as every service a test starts does (read when ray is
# imported, so before anything imports it)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
from pathlib import Path

import polars as pl
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    build_sensor_context,
    materialize,
)

from mix_assets.assets import all_assets
from mix_assets.checks import all_checks
from mix_assets.project import ClusteringSpec
from mix_assets.resources import (
    ClusteringSettings,
    EmbeddingModel,
    ProjectStorage,
    Searches,
    SearchSettings,
    Warehouse,
)
from mix_assets.runner import CLUSTER_STAGES, ROUND_STAGES, SHARD_STAGES, range_tags
from mix_assets.workers import Workers

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "corpus"
TRUE_DOMAINS = ROOT / "data" / "eval" / "true_domains.parquet"
TARGETS = {
    str(ROOT / "data" / "targets" / "mathematics.parquet"): 0.5,
    str(ROOT / "data" / "targets" / "all_domains.parquet"): 0.5,
}


def corpus_sample(per_domain: int, seed: int = 0) -> pl.DataFrame:
    """A stratified sample of the embedded corpus with its hidden domain (for evaluation only)."""
    docs = pl.read_parquet(CORPUS / "*.parquet").join(pl.read_parquet(TRUE_DOMAINS), on="doc_id")
    return (
        docs.sample(fraction=1.0, shuffle=True, seed=seed)
        .group_by("domain", maintain_order=True)
        .head(per_domain)
        .sort("doc_id")
    )


def write_shards(docs: pl.DataFrame, folder: Path, n_shards: int, prefix: str = "shard") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for i in range(n_shards):
        key = f"{prefix}-{i:02d}"
        docs.select("doc_id", "text").gather_every(n_shards, offset=i).write_parquet(
            folder / f"{key}.parquet"
        )
        keys.append(key)
    return keys


def metadata(result, asset: str) -> dict:
    """The metadata values of one asset's single materialization in a run's result."""
    [mat] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in mat.metadata.items()}


def round_scores(project: "Project", key: str = "demo-r0000") -> dict[str, float]:
    """mixture_id -> objective of a round's successful trials, as the warehouse holds them."""
    t = project.warehouse.query(
        "SELECT mixture_id, m_objective FROM mix.proxy_scores WHERE round = ? AND status = 'ok'", [key]
    )
    return dict(zip(t["mixture_id"], t["m_objective"]))


class Automation:
    """corpus_automation's conditions evaluated on a project's instance, tick after tick (one cursor),
    at `when` (default: a Wednesday noon, no weekly tick): {asset: requested partitions}. `first`
    is the first evaluation, which only records what exists."""

    def __init__(self, instance: DagsterInstance):
        self.instance, self.cursor = instance, None
        self.first = self.tick()

    def tick(self, when: datetime.datetime = datetime.datetime(2026, 12, 2, 12, 0)) -> dict[str, list]:
        from dagster import evaluate_automation_conditions

        from mix_assets.automation import CONDITIONS
        from mix_assets.definitions import defs

        result = evaluate_automation_conditions(
            defs, self.instance, AssetSelection.assets(*CONDITIONS), evaluation_time=when, cursor=self.cursor
        )
        self.cursor = result.cursor
        return {
            a: sorted(result.get_requested_partitions(AssetKey(a)), key=str)
            for a in CONDITIONS
            if result.get_num_requested(AssetKey(a))
        }


class Project:
    """One isolated project: input folder, artifact root, warehouse and a real Dagster instance, with
    one search named `demo` (its rounds: demo-r0000, ...)."""

    name = "demo"

    def __init__(self, tmp: Path, instance: DagsterInstance, **search):
        self.input, self.work = tmp / "input", tmp / "work"
        self.instance = instance
        self.storage = ProjectStorage(
            input_dir=str(self.input),
            work_dir=str(self.work),
            text_column="text",
            id_column="doc_id",
            seed=search.get("seed", 42),  # one seed for the project and its search
        )
        self.warehouse = Warehouse(database=str(tmp / "warehouse.duckdb"))
        self.search = SearchSettings(
            **{
                "targets": TARGETS,
                "rounds": [16, 8, 8],
                "first_round_per_domain": 0,  # the schedule as written: tests count its rounds
                "token_budget": 150_000,
                **search,
            }
        )
        self.targets_ready = False
        self.resources = {
            "storage": self.storage,
            "warehouse": self.warehouse,
            "embedder": EmbeddingModel(),
            "clustering": ClusteringSettings(**ClusteringSpec().model_dump()),  # the published defaults
            "searches": Searches(searches={self.name: self.search}),
            "workers": Workers(),  # the machine's cores, as a user's default
        }

    def key(self, r: int) -> str:
        return f"{self.name}-r{r:04d}"

    def run_search(self, selection: list[str], config: dict | None = None, raise_on_error: bool = True):
        """Materialize search-partitioned assets (search_targets, final_mixture, ...) of `demo`."""
        if self.name not in self.instance.get_dynamic_partitions("searches"):
            self.instance.add_dynamic_partitions("searches", [self.name])
        result = materialize(
            [*all_assets, *all_checks],
            instance=self.instance,
            resources=self.resources,
            selection=AssetSelection.assets(*selection),
            partition_key=self.name,
            run_config={"ops": config or {}},
            raise_on_error=raise_on_error,
        )
        self.targets_ready |= "search_targets" in selection and result.success
        return result

    def run_round(
        self,
        key: str,
        config: dict | None = None,
        raise_on_error: bool = True,
        stages: list[str] = ROUND_STAGES,
    ):
        if not self.targets_ready:  # this project's targets, tokenized: what every trial scores
            self.run_search(["search_targets"])
        if key not in self.instance.get_dynamic_partitions("rounds"):
            self.instance.add_dynamic_partitions("rounds", [key])
        return materialize(
            [*all_assets, *all_checks],
            instance=self.instance,
            resources=self.resources,
            selection=AssetSelection.assets(*stages),
            partition_key=key,
            run_config={"ops": config or {}},
            raise_on_error=raise_on_error,
        )

    def shard_keys(self) -> list[str]:
        return sorted(self.instance.get_dynamic_partitions("shards"))

    def add_shards(self, keys: list[str]) -> None:
        self.instance.add_dynamic_partitions("shards", keys)

    def run(
        self,
        selection: list[str],
        keys: list[str] | None = None,
        config: dict | None = None,
        raise_on_error: bool = True,
    ):
        return materialize(
            [*all_assets, *all_checks],
            instance=self.instance,
            resources=self.resources,
            selection=AssetSelection.assets(*selection),
            tags=range_tags(keys),
            run_config={"ops": config or {}},
            raise_on_error=raise_on_error,
        )

    def run_all(self, keys: list[str], config: dict | None = None) -> list:
        """The four runs of `make materialize`, in order; returns their results."""
        config = config or {}
        return [
            self.run(SHARD_STAGES, keys, {k: v for k, v in config.items() if k in SHARD_STAGES}),
            self.run(["centroids"], config={k: v for k, v in config.items() if k == "centroids"}),
            self.run(["cluster_assignments"], keys),
            self.run(CLUSTER_STAGES, config={k: v for k, v in config.items() if k in CLUSTER_STAGES}),
        ]

    def table(self, name: str) -> pl.DataFrame:
        return self.warehouse.query(f"SELECT * FROM mix.{name}")

    def tick(self, sensor):
        """One evaluation of a search sensor on this project's instance, with the project's resources."""
        from mix_assets.definitions import defs

        ctx = build_sensor_context(
            instance=self.instance,
            resources={k: self.resources[k] for k in ("searches", "storage")},
            definitions=defs,
        )
        return sensor(ctx)


@pytest.fixture
def project(tmp_path):
    from dagster import instance_for_test

    with instance_for_test() as instance:
        yield Project(tmp_path, instance)


SMALL_CLUSTERS = {
    "centroids": {"config": {"n_clusters": 12}},
    "merged_clusters": {"config": {"distance": 0.8}},
}


@pytest.fixture(scope="session")
def clustered(tmp_path_factory):
    """A small corpus taken through every foundation stage and proxy_corpus, once per test session:
    tests read it or copy it (`searcher`), never change it."""
    from dagster import instance_for_test

    base = tmp_path_factory.mktemp("clustered")
    with instance_for_test() as instance:
        p = Project(base, instance)
        # ~750 documents: on much less, every skewed mixture repeats documents and the natural one wins
        keys = write_shards(corpus_sample(100, seed=3), p.input, 2)
        p.add_shards(keys)
        p.run_all(
            keys,
            {"centroids": {"config": {"n_clusters": 16}}, "merged_clusters": {"config": {"distance": 0.8}}},
        )
        p.run(["proxy_tokenizer"])
        p.run(["proxy_corpus"], keys)
    return base


@pytest.fixture
def searcher(clustered, tmp_path):
    """A fresh instance over a copy of the clustered project's files: each search test starts clean."""
    import shutil

    from dagster import instance_for_test

    shutil.copytree(clustered / "work", tmp_path / "work")
    shutil.copy(clustered / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    shutil.copytree(clustered / "input", tmp_path / "input")
    with instance_for_test() as instance:
        keys = sorted(p.stem for p in (tmp_path / "input").iterdir())
        instance.add_dynamic_partitions("shards", keys)
        # the copied files were materialized elsewhere: tell this instance, as the round sensor reads events
        for key in keys:
            instance.report_runless_asset_event(
                AssetMaterialization(
                    "proxy_corpus", partition=key, description="copied from the session's clustered project"
                )
            )
        yield lambda **search: Project(tmp_path, instance, **search)


def project_file(project: "Project", path: Path, **search) -> Path:
    """A project file for `project`'s folders and its `demo` search (fields of SearchSettings
    overridden by `search`), as a user would write it."""
    import yaml

    s = project.search.model_copy(update=search)
    body = {
        "input": {"path": str(project.input), "text_column": "text", "id_column": "doc_id"},
        "work": str(project.work),
        "warehouse": project.warehouse.database,
        "searches": {
            project.name: {
                "targets": s.targets,
                "rounds": s.rounds,
                "first_round_per_domain": s.first_round_per_domain,
                "token_budget": s.token_budget,
                "backend": s.backend,
                "direction": s.direction,
            }
        },
    }
    path.write_text(yaml.safe_dump(body))
    return path


def cli_env(project: "Project", tmp_path: Path, search: dict | None = None, **extra: str) -> dict:
    """Environment for `dagster` / `mix-assets` subprocesses on `project`'s files: a project file for
    them (its search overridden by `search`) and a fresh instance."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = project_file(project, tmp_path / "mix_assets.yaml", **(search or {}))
    return {**os.environ, "DAGSTER_HOME": str(home), "MIX_ASSETS_CONFIG": str(config), **extra}


def shard_env(project: "Project", tmp_path: Path) -> dict:
    """cli_env with every input file already registered as a shard partition in that instance."""
    env = cli_env(project, tmp_path)
    DagsterInstance.from_config(env["DAGSTER_HOME"]).add_dynamic_partitions(
        "shards", sorted(f.stem for f in project.input.iterdir())
    )
    return env


def free_port() -> int:
    """A loopback port nothing listens on, for servers the tests start."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
