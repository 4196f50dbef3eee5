"""What the asset modules share: the partition settings of shard assets, the tables every stage
reads back (kept documents, super-clusters, a round's candidates and scores, a search's final
mixture), the checked ids, the proxy tokens, a search's frame and domains, Configs derived from
core settings, and the result helper. Asset modules import this, core, and trials (the proxy
backends), never each other; lineage is declared by key."""

import dataclasses
import time
import typing
from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult
from pydantic import create_model

from mix_assets import plots
from mix_assets.core import mixtures
from mix_assets.core.mixture import Domains, Mixture
from mix_assets.core.storage import detached, load_npy, read_json, read_npy, read_parquet, version_hash
from mix_assets.partitions import round_partitions, search_of, shard_partitions
from mix_assets.resources import SCHEMA, ProjectStorage, SearchSettings, Warehouse


def materialized(began: float, metadata: dict, **result) -> MaterializeResult:
    """The asset's result, with its wall time (`seconds`) beside what it reports; `result` passes
    on the rest (check results, a data version)."""
    return MaterializeResult(
        metadata={"seconds": round(time.perf_counter() - began, 2), **metadata}, **result
    )


def settings_config(settings: type, name: str, exclude: tuple[str, ...] = (), **extra) -> type[Config]:
    """A Dagster Config with the fields, defaults and docs of a core settings dataclass (nested
    dataclasses become nested Configs), less `exclude`, plus `extra` fields as (type, default): the
    published defaults live once, in core, and run config can still set any of them."""
    hints = typing.get_type_hints(settings)
    fields = {}
    for f in dataclasses.fields(settings):
        if f.name in exclude:
            continue
        kind = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(kind):
            sub = settings_config(kind, f"{name}{kind.__name__}", exclude)
            kept = {k: v for k, v in dataclasses.asdict(default).items() if k in sub.model_fields}
            fields[f.name] = (sub, sub() if default == kind() else sub(**kept))
        else:
            fields[f.name] = (kind, default)
    return create_model(name, __base__=Config, __doc__=settings.__doc__, **fields, **extra)


def settings_of(config: Config, settings: type, **given):
    """The core settings object a Config of settings_config() stands for; `given` fills the
    excluded fields (a seed, a search's max_epochs)."""
    hints = typing.get_type_hints(settings)
    values = {}
    for f in dataclasses.fields(settings):
        if f.name in given or f.name not in type(config).model_fields:
            continue
        v = getattr(config, f.name)
        values[f.name] = settings_of(v, hints[f.name], **given) if isinstance(v, Config) else v
    own = {k: v for k, v in given.items() if k in {f.name for f in dataclasses.fields(settings)}}
    return settings(**values, **own)


# The generator's published settings (METHODS §1): the rounds' candidates and the final step's pool
# both use it. The grid is the project's (core.mixture.GRID) and max_epochs the search's.
GeneratorConfig = settings_config(
    mixtures.GeneratorSettings, "GeneratorConfig", ("max_epochs", "grid", "max_tries")
)


# One run can take a whole range of shards (`--partition-range` on the CLI) and load models once.
ROUND_ASSET = dict(partitions_def=round_partitions, group_name="search")
SHARD_ASSET = dict(
    partitions_def=shard_partitions, backfill_policy=BackfillPolicy.single_run(), group_name="corpus"
)


def materialized_shards(
    context: AssetExecutionContext, storage: ProjectStorage, asset: str, suffix: str = ".parquet"
) -> list[str]:
    """Registered shard partitions whose `asset` artifact exists, in partition order."""
    done = set(storage.materialized(asset, suffix))
    keys = [k for k in context.instance.get_dynamic_partitions("shards") if k in done]
    if not keys:
        raise FileNotFoundError(
            f"no shard has '{asset}' yet under {storage.work_dir}; materialize the shard stages first"
        )
    return keys


ASSIGNMENTS_VERSION = "1"


def assignment_version(centroids: str | None, embeddings: str | None) -> str:
    """What a shard's assignments are made from: the centroids' stamp and that shard's embeddings' stamp."""
    return version_hash("cluster_assignments", ASSIGNMENTS_VERSION, centroids, embeddings)


def duplicate_ids(storage: ProjectStorage, warehouse: Warehouse, keys: list[str]) -> pl.DataFrame:
    """shard, doc_id of every copy of an id that another shard keeps. Refuses to go on while a shard
    is unchecked, so shards ingested in parallel cannot race past the check."""
    stamp = storage.path("unique_ids", "all", ".json")
    checked = read_json(stamp) if stamp.exists() else {}
    unchecked = [k for k in keys if checked.get(k) != storage.version("raw_shards", k)]
    if unchecked:
        raise RuntimeError(
            f"the ids of shards {unchecked[:5]}{'...' if len(unchecked) > 5 else ''} are not checked "
            "against the other shards' yet; materialize unique_ids first"
        )
    return warehouse.query(f"SELECT shard, doc_id FROM {SCHEMA}.duplicate_ids")


def own_documents(
    storage: ProjectStorage,
    warehouse: Warehouse,
    keys: list[str],
    raw: tuple[str, ...] = (),
    quality: bool = False,
) -> Iterator[pl.DataFrame]:
    """One shard at a time: doc_id, shard, cluster, distance (and the raw_shards columns `raw`, and
    quality) of every assigned document whose id is its own (unique_ids). Whole-corpus stages fold
    over these, so their memory follows the shard, not the corpus."""
    dups = duplicate_ids(storage, warehouse, keys)
    for key in keys:
        docs = read_parquet(storage.path("cluster_assignments", key)).with_columns(pl.lit(key).alias("shard"))
        if raw:
            docs = docs.join(read_parquet(storage.path("raw_shards", key), ["doc_id", *raw]), on="doc_id")
        if quality:
            docs = docs.join(
                read_parquet(storage.path("quality_signals", key), ["doc_id", "quality"]), on="doc_id"
            )
        yield docs.join(dups.filter(pl.col("shard") == key), on=["shard", "doc_id"], how="anti")


def seeded_sample(
    frames: Iterable[pl.DataFrame], n: int, seed: int, group: str | None = None
) -> pl.DataFrame:
    """At most `n` rows (per `group`) drawn uniformly from all `frames`, holding one frame at a time:
    each row keeps a seeded hash of its doc_id and the smallest hashes win, so the draw does not
    depend on how the rows are cut into frames or in which order they come. (polars' hash is stable
    for one polars version: another version may draw another sample.)"""
    keys = [group] if group else []
    picked = None
    for frame in frames:
        frame = frame.with_columns(pl.col("doc_id").hash(seed).alias("_priority"))
        both = (frame if picked is None else pl.concat([picked, frame], how="vertical_relaxed")).sort(
            ["_priority", "doc_id"]
        )
        picked = detached(  # what is kept of this frame must not hold on to all of it
            both.group_by(keys, maintain_order=True).head(n).select(frame.columns) if keys else both.head(n)
        )
    if picked is None:
        raise ValueError("nothing to sample from")
    return picked.drop("_priority")


def sample_texts(storage: ProjectStorage, picked: pl.DataFrame, group: str) -> pl.DataFrame:
    """doc_id, `group` and text of the `picked` documents, read one shard at a time."""
    texts = [
        detached(
            read_parquet(storage.path("raw_shards", k), columns=["doc_id", "text"]).join(
                part.select("doc_id", group), on="doc_id"
            )
        )
        for (k,), part in picked.group_by("shard")
    ]
    return pl.concat(texts).sort("doc_id")


def super_cluster_of(warehouse: Warehouse) -> pl.DataFrame:
    """cluster -> super_cluster of every kept cluster."""
    return warehouse.query(f"SELECT cluster, super_cluster FROM {SCHEMA}.cluster_mapping ORDER BY cluster")


def super_clusters(warehouse: Warehouse) -> pl.DataFrame:
    return warehouse.query(f"SELECT * FROM {SCHEMA}.super_clusters ORDER BY super_cluster")


def cluster_map(pruned: pl.DataFrame, mapping: pl.DataFrame, supers: pl.DataFrame, cents: np.ndarray):
    """Every cluster placed by a PCA of the centroids, sized by tokens, coloured by super-cluster."""
    from sklearn.decomposition import PCA

    table = (
        pruned.join(mapping, on="cluster", how="left")
        .with_columns(pl.col("super_cluster").fill_null(-1))
        .sort("cluster")
    )
    xy = PCA(n_components=2, random_state=0).fit_transform(
        np.asarray(cents, dtype=np.float64)[table["cluster"].to_numpy()]
    )
    names = {-1: "pruned", **{s: f"{s}: {lab}" for s, lab in zip(supers["super_cluster"], supers["label"])}}
    return plots.cluster_map(
        xy,
        table["n_tokens"].to_numpy(),
        table["super_cluster"].to_list(),
        names,
        f"{table.height} clusters, PCA of the centroids (area = tokens)",
    )


def kept_documents(
    storage: ProjectStorage, warehouse: Warehouse, columns: list[str], keys: list[str] | None = None
) -> Iterator[pl.DataFrame]:
    """One shard at a time: every document of a kept cluster, doc_id, shard, cluster, super_cluster
    and `columns` of raw_shards, in doc_id order within the shard."""
    mapping = super_cluster_of(warehouse)
    keys = storage.materialized("cluster_assignments") if keys is None else keys
    for docs in own_documents(storage, warehouse, keys, tuple(columns)):
        yield (
            docs.join(mapping, on="cluster")
            .select("doc_id", "shard", "cluster", "super_cluster", *columns)
            .sort("doc_id")
        )


def shard_documents(
    storage: ProjectStorage, key: str, mapping: pl.DataFrame, duplicates: pl.DataFrame, text: bool = True
) -> tuple[pl.DataFrame, np.ndarray]:
    """One shard's own documents (doc_id, shard, row, cluster, super_cluster, text; duplicate ids left
    out) and their embeddings, in shard order: what the selection methods read one shard at a time.
    `row` is the document's row in the shard's files; `text=False` leaves the texts unread."""
    docs = (
        read_parquet(storage.path("raw_shards", key), columns=["doc_id", "text"] if text else ["doc_id"])
        .with_row_index("row")
        .with_columns(pl.lit(key).alias("shard"))
        .hstack(read_parquet(storage.path("cluster_assignments", key), columns=["cluster"]))
    )
    emb = np.asarray(read_npy(storage.path("embeddings", key, ".npy")), dtype=np.float32)
    lost = set(duplicates.filter(pl.col("shard") == key)["doc_id"])
    own = ~docs["doc_id"].is_in(list(lost)).to_numpy() if lost else np.ones(docs.height, bool)
    docs = docs.filter(own).join(mapping, on="cluster", how="left", maintain_order="left")
    return docs, emb[own]


PROXY_CORPUS_VERSION = "4"


def load_tokenizer(storage: ProjectStorage):
    from tokenizers import Tokenizer

    path = storage.folder("proxy_tokenizer") / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no proxy vocabulary; materialize proxy_tokenizer first")
    return Tokenizer.from_str(path.read_text())  # a URI too, not only a local file


def proxy_lengths(storage: ProjectStorage, key: str) -> np.ndarray:
    """Proxy tokens per document of a shard; refuses a token file older than the vocabulary."""
    want = version_hash(
        "proxy_corpus",
        PROXY_CORPUS_VERSION,
        storage.version("proxy_tokenizer"),
        storage.version("raw_shards", key),
    )
    if not storage.is_current("proxy_corpus", key, ".npy", want):
        raise FileNotFoundError(
            f"shard {key} has no proxy tokens for the current vocabulary and documents; "
            f"materialize proxy_corpus --partition {key}"
        )
    return np.diff(load_npy(storage.path("proxy_corpus", key, ".offsets.npy")))


def load_meta(storage: ProjectStorage, search: str) -> dict:
    """A search's frame of the corpus, fixed when its targets were made: its domains (labels, proxy
    tokens), the shards it samples, the vocabulary and its targets."""
    path = storage.folder("search_targets") / search / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing there; materialize search_targets --partition {search}")
    return read_json(path)


def domains(storage: ProjectStorage, search: str) -> Domains:
    """The domains a search mixes: the super-clusters, their labels and proxy tokens."""
    meta = load_meta(storage, search)
    return Domains.of(meta["labels"], meta["domain_tokens"])


def run_tokens(meta: dict, search: SearchSettings) -> float:
    """The run the mixture is for: every weight bound is computed against it."""
    return search.run_tokens(float(sum(meta["domain_tokens"])))


def round_candidates(warehouse: Warehouse, key: str) -> pl.DataFrame:
    """A round's candidates (mixture_candidates), in the order they were proposed."""
    if not warehouse.has_table("mixture_candidates"):
        raise FileNotFoundError(f"round {key}: no candidates yet; materialize mixture_candidates first")
    return warehouse.query(
        "SELECT * EXCLUDE (position) FROM mix.mixture_candidates WHERE round = ? ORDER BY position", [key]
    )


def scored_rows(warehouse: Warehouse, upto_round: str) -> pl.DataFrame:
    """Every successful trial of this and earlier rounds of the same search (empty before the first
    round is scored)."""
    if not warehouse.has_table("proxy_scores"):
        return pl.DataFrame()
    return warehouse.query(
        "SELECT * FROM mix.proxy_scores WHERE search = ? AND round <= ? AND status = 'ok'",
        [search_of(upto_round), upto_round],
    )


def generator_settings(config: Config, search: SearchSettings) -> mixtures.GeneratorSettings:
    return settings_of(config, mixtures.GeneratorSettings, max_epochs=search.max_epochs)


def baseline_mixtures(domains: Domains, bound: np.ndarray, log=None) -> dict[str, np.ndarray]:
    """Natural and uniform on the grid, each only where it respects the max-epochs bound."""
    out = {}
    for kind, mixture in (("natural", domains.natural()), ("uniform", domains.uniform())):
        if (mixture.weights <= bound + 1e-12).all():
            out[kind] = mixture.weights
        elif log is not None:
            log.warning(
                f"{kind} baseline skipped: it breaks the max-epochs bound {np.round(bound, 4).tolist()}"
            )
    return out


def weights_by_round(warehouse: Warehouse, domains: Domains, upto: str):
    """Mean candidate weight per super-cluster for every round so far: how the search narrows."""
    cols = domains.columns
    means = warehouse.query(
        f"SELECT round, {', '.join(f'avg({c}) AS {c}' for c in cols)} FROM mix.mixture_candidates "
        "WHERE search = ? AND round <= ? GROUP BY round ORDER BY round",
        [search_of(upto), upto],
    )
    return plots.heatmap(
        means["round"].to_list(),
        [str(i) for i in range(len(domains))],
        domains.weights(means),
        "Mean candidate weight: round x super-cluster",
    )


def final_mixtures(warehouse: Warehouse, name: str) -> pl.DataFrame:
    """A search's final_mixture rows (kind: final, natural, uniform, unbounded_optimum), a mixture table."""
    final = (
        warehouse.query("SELECT * FROM mix.final_mixture WHERE search = ? ORDER BY kind", [name])
        if warehouse.has_table("final_mixture")
        else pl.DataFrame()
    )
    if final.height == 0:
        raise FileNotFoundError(
            f"search {name}: no final mixture yet; materialize final_mixture --partition {name}"
        )
    return final


def final_mixture_of(warehouse: Warehouse, name: str, domains: Domains) -> Mixture:
    final = final_mixtures(warehouse, name).filter(pl.col("kind") == "final")
    return domains.mixtures(final, f"mix.final_mixture (search {name})")[0]
