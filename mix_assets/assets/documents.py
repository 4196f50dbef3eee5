"""The kept corpus as the stages after clustering read it, one shard at a time: each document under
its own id (unique_ids), its cluster and super-cluster, seeded samples that do not depend on how
the corpus is cut into shards, and the cluster map."""

from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl

from mix_assets import plots
from mix_assets.core.storage import detached, read_json, read_npy, read_parquet
from mix_assets.resources import SCHEMA, ProjectStorage, Warehouse


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
