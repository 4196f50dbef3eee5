"""Where artifacts live, the DuckDB warehouse, the embedding model, and the project file's clustering
and searches: every default comes from the project file (environment.project())."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from dagster import Config, ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from mix_assets import environment, schemas
from mix_assets import project as project_file
from mix_assets.core import embed, generator
from mix_assets.core.ingest import discover_shards
from mix_assets.core.proxies import backends
from mix_assets.core.storage import as_path, read_parquet, write_text

SCHEMA = "mix"  # the file is warehouse.duckdb (catalog "warehouse"): the schema must differ


class ProjectStorage(ConfigurableResource):
    """Input shards (a folder or any fsspec URI) and the artifact root:
    `<work_dir>/<asset>/<partition>.<ext>`."""

    input_dir: str = Field(default_factory=environment.input_dir)
    work_dir: str = Field(default_factory=environment.work_dir)
    text_column: str = Field(default_factory=lambda: environment.project().input.text_column)
    id_column: str | None = Field(
        default_factory=lambda: environment.project().input.id_column,
        description="None: a document's id is a hash of its text",
    )
    seed: int = Field(
        default_factory=lambda: environment.project().seed,
        description="the project's seed: k-means, samples and labels follow it (a search has its own)",
    )

    def path(self, asset: str, partition: str = "all", suffix: str = ".parquet") -> Path:
        return as_path(self.work_dir) / asset / f"{partition}{suffix}"

    def folder(self, asset: str) -> Path:
        """For assets made of several files (proxy_corpus, proxy_trials/<round>/)."""
        return as_path(self.work_dir) / asset

    def is_current(self, asset: str, key: str, suffix: str, version: str) -> bool:
        """True when `asset`'s artifact for `key` exists and was made from exactly `version`'s inputs,
        so a rerun (after a crash, or of a whole range) can skip it."""
        return self.version(asset, key) == version and self.path(asset, key, suffix).exists()

    def version(self, asset: str, key: str = "all") -> str | None:
        stamp = self.path(asset, key, ".version")
        return stamp.read_text().strip() if stamp.exists() else None

    def mark_current(self, asset: str, key: str, version: str) -> None:
        """Written after the artifact: a crash between the two leaves it to be redone, never trusted."""
        write_text(version, self.path(asset, key, ".version"))

    def shard_files(self) -> dict[str, Path]:
        return discover_shards(self.input_dir)

    def shard_file(self, key: str) -> Path:
        files = self.shard_files()
        if key not in files:
            raise FileNotFoundError(
                f"shard partition '{key}' has no file in {self.input_dir} (found: "
                f"{', '.join(files) or 'none'})"
            )
        return files[key]

    def materialized(self, asset: str, suffix: str = ".parquet") -> list[str]:
        """Partition keys that have a complete artifact for `asset` (temp files are hidden)."""
        folder = as_path(self.work_dir) / asset
        if not folder.is_dir():
            return []
        return sorted(
            p.name[: -len(suffix)]
            for p in folder.iterdir()
            if p.name.endswith(suffix) and not p.name.startswith(".")
        )

    def read_all(
        self, asset: str, keys: list[str] | None = None, columns: list[str] | None = None
    ) -> pl.DataFrame:
        keys = self.materialized(asset) if keys is None else keys
        if not keys:
            raise FileNotFoundError(
                f"no materialized partition of '{asset}' under {self.work_dir}; materialize it first"
            )
        frames = [
            read_parquet(self.path(asset, k), columns=columns).with_columns(pl.lit(k).alias("shard"))
            for k in keys
        ]
        return pl.concat(frames)


class Warehouse(DuckDBResource):
    """The DuckDB file with the small tables; connections are short so concurrent runs interleave.

    DuckDBResource.get_connection retries with backoff while another process holds the file lock.
    """

    database: str = Field(default_factory=environment.warehouse)

    def replace(self, table: str, df: pl.DataFrame, where: dict[str, str] | None = None) -> None:
        """Idempotent write: the whole table, or only the rows matching `where` (e.g. one shard, or a
        list of shards in one transaction)."""
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        arrow = df.to_arrow()  # noqa: F841 - referenced by name in the SQL below
        name = f"{SCHEMA}.{table}"
        with self.get_connection() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            con.execute("BEGIN TRANSACTION")
            if where is None:
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM arrow")
            else:
                con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM arrow LIMIT 0")
                have = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
                for col, typ in con.execute(
                    "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM arrow)"
                ).fetchall():
                    if col not in have:  # a newer version of the asset adds a column: older rows get NULL
                        con.execute(f'ALTER TABLE {name} ADD COLUMN "{col}" {typ}')
                values = {k: v if isinstance(v, list | tuple) else [v] for k, v in where.items()}
                cond = " AND ".join(f"{k} IN ({', '.join('?' * len(v))})" for k, v in values.items())
                con.execute(f"DELETE FROM {name} WHERE {cond}", [x for v in values.values() for x in v])
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM arrow")
            con.execute("COMMIT")

    def has_table(self, table: str) -> bool:
        if not Path(self.database).exists():
            return False
        found = self.query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [SCHEMA, table],
        )
        return bool(found["n"][0])

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self.get_connection() as con:
            return con.execute(sql, params or []).pl()


class ClusteringSettings(ConfigurableResource):
    """The project file's clustering section; an asset's own config, when set, wins for that run."""

    n_clusters: int | None = Field(default_factory=lambda: environment.project().clustering.n_clusters)
    docs_per_cluster: int = Field(default_factory=lambda: environment.project().clustering.docs_per_cluster)
    min_mean_quality: float = Field(default_factory=lambda: environment.project().clustering.min_mean_quality)
    merge: str = Field(default_factory=lambda: environment.project().clustering.merge)
    merge_distance: float = Field(default_factory=lambda: environment.project().clustering.merge_distance)
    n_super_clusters: int | None = Field(
        default_factory=lambda: environment.project().clustering.n_super_clusters
    )
    drift_threshold: float = Field(default_factory=lambda: environment.project().clustering.drift_threshold)


class SearchMethods(Config):
    """What the search assets ask of a search (the fields are project_file.SearchSpec's)."""

    @property
    def minimize(self) -> bool:
        return self.direction == "minimize"

    @property
    def proxy(self) -> backends.Backend:
        return backends.get(self.backend)

    def proxy_settings(self) -> Any:
        """The settings of the search's own backend, from its block (`ngram:`, `gpt:`, ...)."""
        return self.proxy.settings_of(getattr(self, self.proxy.block).model_dump())

    def schedule(self, n_domains: int) -> list[int]:
        """The trials of each round this search runs over `n_domains` domains."""
        return generator.round_schedule(self.rounds, n_domains, self.first_round_per_domain)

    def target_names(self) -> list[str]:
        """Targets are named by file stem (mathematics.parquet -> mathematics)."""
        names = [Path(p).name.split(".")[0] for p in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"two targets share a file name: {list(self.targets)}; rename one")
        return names

    def weights_by_name(self) -> dict[str, float]:
        return dict(zip(self.target_names(), self.targets.values()))

    def run_tokens(self, corpus_tokens: float) -> float:
        """The size of the run the mixture is for: target_tokens, or the kept corpus (one pass)."""
        return float(self.target_tokens or corpus_tokens)

    def proxy_pool_share(self, corpus_tokens: float) -> float:
        """The share of each domain a proxy draws from. A run of T tokens repeats a domain of D tokens
        at weight w w*T/D times; a proxy of B tokens over all of it repeats it only w*B/D times, and
        would rank a mixture that leans on a small domain above what the run makes of it
        (docs/DECISIONS.md, "Repetition at the run's budget"). Drawing from B/T of each domain makes
        the proxy repeat as the run does."""
        if not self.repeat_as_run:
            return 1.0
        return min(1.0, self.token_budget / self.run_tokens(corpus_tokens))

    def proxy_max_epochs(self, corpus_tokens: float) -> float:
        """The repetition a proxy may make: the run's bound scaled to the proxy's budget, so a proxy
        larger than the run it stands for is not refused what the bound allowed."""
        return self.max_epochs * max(1.0, self.token_budget / self.run_tokens(corpus_tokens))


# One named search, as the Dagster resource holds it: the project file's fields, its seed resolved.
SearchSettings = schemas.from_model(
    project_file.SearchSpec,
    "SearchSettings",
    SearchMethods,
    nested=Config,
    seed=(int, Field(42, description="the search's seed")),
)


def search_settings(spec: project_file.SearchFields, project_seed: int = 42) -> Any:
    return SearchSettings(**{**spec.model_dump(), "seed": project_seed if spec.seed is None else spec.seed})


class Searches(ConfigurableResource):
    """Every named search of the project file. Searches share the corpus stages and nothing else:
    each has its own rounds (partition keys `<search>-r0000`), rows, final mixture and report."""

    searches: dict[str, SearchSettings] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {
            n: search_settings(s, environment.project().seed)
            for n, s in environment.project().searches.items()
        }
    )

    def get(self, name: str) -> SearchSettings:
        update = self.update_of(name)
        if update is not None:
            base, n = update
            return self.searches[base].model_copy(
                update={
                    "reuse": base if n == 1 else update_name(base, n - 1),
                    **project_file.reuse_defaults(),
                }
            )
        if name not in self.searches:
            raise KeyError(
                f"no search named {name!r} in the project file (searches: {', '.join(self.searches)}); "
                f"add it under `searches:` in {environment.config_path()}"
            )
        return self.searches[name]

    def names(self) -> list[str]:
        return sorted(self.searches)

    def update_of(self, name: str) -> tuple[str, int] | None:
        """(search, n) for `<search>_u<n>`, the n-th update the corpus sensor started of a search
        of the project file; None for any other name."""
        base, _, n = name.rpartition("_u")
        if base in self.searches and n.isdigit() and name not in self.searches:
            return base, int(n)
        return None


def update_name(search: str, n: int) -> str:
    """The n-th update of a search: a reuse search of the one before (the search itself for n=1)."""
    return f"{search}_u{n}"


class EmbeddingModel(ConfigurableResource):
    """A sentence-transformers model: the bundled all-MiniLM-L6-v2, a local path or a model name."""

    model: str = embed.DEFAULT_MODEL
    device: str = Field(default="auto", description="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    precision: str = Field(default="auto", description="auto (bf16 where the hardware has it), fp32, bf16")
    batch_size: int | None = Field(
        default=None, description="documents per forward pass; None: 256 on CUDA, 64 on a CPU"
    )
    max_seq_length: int = 256
    backend: str = Field(
        default="auto",
        description="torch, openvino or onnx (CPU runtimes); auto: torch on a GPU, and on a CPU "
        "OpenVINO where it measures faster on this machine (measured once, recorded in the cache)",
    )

    def encode(
        self, texts: list[str], on_progress: Callable[[int, int, float], None] | None = None
    ) -> np.ndarray:
        return embed.encode(
            texts,
            self.model,
            self.device,
            self.precision,
            self.batch_size,
            self.max_seq_length,
            on_progress=on_progress,
            backend=self.resolved_backend(texts),
        )

    def resolved_device(self) -> str:
        return embed.resolve_device(self.device)

    def resolved_backend(self, sample: list[str] | None = None) -> str:
        return embed.resolve_backend(
            self.backend,
            self.resolved_device(),
            self.model,
            self.max_seq_length,
            self.precision,
            sample,
            environment.cache_dir() / "embed_backend.json",
        )
