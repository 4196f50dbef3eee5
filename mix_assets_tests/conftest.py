"""Small real corpora cut from the embedded corpus, and helpers that materialize through a real instance."""
import os
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetSelection, DagsterInstance, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mix_assets.assets import all_assets
from mix_assets.checks import all_checks
from mix_assets.resources import EmbeddingModel, ProjectStorage, Warehouse

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "corpus"
TRUE_DOMAINS = ROOT / "data" / "eval" / "true_domains.parquet"
SHARD_STAGES = ["raw_shards", "quality_signals", "embeddings"]
CLUSTER_STAGES = ["cluster_stats", "pruned_clusters", "merged_clusters"]


def corpus_sample(per_domain: int, seed: int = 0) -> pl.DataFrame:
    """A stratified sample of the embedded corpus with its hidden domain (for evaluation only)."""
    docs = pl.read_parquet(CORPUS / "*.parquet").join(pl.read_parquet(TRUE_DOMAINS), on="doc_id")
    return docs.sample(fraction=1.0, shuffle=True, seed=seed).group_by("domain", maintain_order=True).head(per_domain).sort("doc_id")


def write_shards(docs: pl.DataFrame, folder: Path, n_shards: int, prefix: str = "shard") -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for i in range(n_shards):
        key = f"{prefix}-{i:02d}"
        docs.select("doc_id", "text").gather_every(n_shards, offset=i).write_parquet(folder / f"{key}.parquet")
        keys.append(key)
    return keys


class Project:
    """One isolated project: input folder, artifact root, warehouse and a real Dagster instance."""

    def __init__(self, tmp: Path, instance: DagsterInstance):
        self.input, self.work = tmp / "input", tmp / "work"
        self.instance = instance
        self.storage = ProjectStorage(input_dir=str(self.input), work_dir=str(self.work))
        self.warehouse = Warehouse(database=str(tmp / "warehouse.duckdb"))
        self.resources = {"storage": self.storage, "warehouse": self.warehouse, "embedder": EmbeddingModel()}

    def add_shards(self, keys: list[str]) -> None:
        self.instance.add_dynamic_partitions("shards", keys)

    def run(self, selection: list[str], keys: list[str] | None = None, config: dict | None = None, raise_on_error: bool = True):
        tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]} if keys else None
        return materialize(
            [*all_assets, *all_checks], instance=self.instance, resources=self.resources,
            selection=AssetSelection.assets(*selection),
            tags=tags, run_config={"ops": config or {}}, raise_on_error=raise_on_error,
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


@pytest.fixture
def project(tmp_path):
    from dagster import instance_for_test

    with instance_for_test() as instance:
        yield Project(tmp_path, instance)
