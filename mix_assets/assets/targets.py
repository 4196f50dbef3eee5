"""Per search: its target texts, split into a search part and an evaluation part, in proxy tokens;
and its frame of the corpus, fixed here for all its rounds: which document of which shard belongs to
which super-cluster, with its proxy tokens (documents.parquet), and the domains' labels and tokens."""

import json
import time

import numpy as np
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from mix_assets import plots
from mix_assets.assets import search_frame
from mix_assets.assets.documents import duplicate_ids, super_cluster_of, super_clusters
from mix_assets.assets.shared import load_tokenizer, materialized, proxy_lengths
from mix_assets.core import targets
from mix_assets.core.ingest import ingest_shard
from mix_assets.core.proxies import bpe
from mix_assets.core.storage import atomic_path, read_parquet, write_npy, write_parquet
from mix_assets.partitions import search_partitions
from mix_assets.resources import ProjectStorage, Searches, Warehouse


def corpus_index(storage: ProjectStorage, warehouse: Warehouse) -> tuple[list[str], pl.DataFrame]:
    """(shards, one row per kept document of its own id: doc_id, shard index, row in the shard,
    super-cluster, proxy tokens), read one shard at a time."""
    keys = storage.materialized("cluster_assignments")
    mapping, dups = super_cluster_of(warehouse), duplicate_ids(storage, warehouse, keys)
    frames = []
    for i, key in enumerate(keys):
        lengths = proxy_lengths(storage, key)
        docs = read_parquet(storage.path("raw_shards", key), ["doc_id"]).with_row_index("row")
        frames.append(
            docs.hstack(read_parquet(storage.path("cluster_assignments", key), ["cluster"]))
            .with_columns(pl.lit(key).alias("shard"), pl.Series("n_tokens", lengths, dtype=pl.Int64))
            .join(dups, on=["shard", "doc_id"], how="anti")
            .join(mapping, on="cluster", maintain_order="left")
            .select(
                "doc_id",
                pl.lit(i, pl.Int32).alias("shard"),
                pl.col("row").cast(pl.Int32),
                "super_cluster",
                "n_tokens",
            )
        )
    return keys, pl.concat(frames)


domain_map_check_spec = AssetCheckSpec(
    "domain_map",
    asset="search_targets",
    description="A search that reuses an earlier one: the overlap table of its domains with the earlier "
    "search's, each domain unchanged / merged / split / new, and how many earlier trials carry over. Warns "
    "when the two fits share no document.",
)


@asset(
    group_name="search",
    partitions_def=search_partitions,
    deps=["proxy_corpus", "merged_clusters"],
    code_version="3",
    check_specs=[domain_map_check_spec],
    description="One search's target files, each split by document into a search part (what its proxies "
    "score) and an evaluation part (what every reported comparison uses), tokenized with the proxies' BPE; "
    "its frame (pinned weights; for a reuse search the domain map, the frozen block, the earlier trials).",
)
def search_targets(
    context: AssetExecutionContext, storage: ProjectStorage, warehouse: Warehouse, searches: Searches
) -> MaterializeResult:
    began = time.perf_counter()
    name = context.partition_key
    search = searches.get(name)
    tok = load_tokenizer(storage)
    folder = storage.folder("search_targets") / name
    keys, index = corpus_index(storage, warehouse)
    supers = super_clusters(warehouse)
    write_parquet(index, folder / "documents.parquet")
    per_domain = np.bincount(
        index["super_cluster"].to_numpy(), weights=index["n_tokens"].to_numpy(), minlength=supers.height
    ).astype(np.int64)
    weights, split_sizes = {}, {}
    for (path, weight), target in zip(search.targets.items(), search.target_names()):
        result = ingest_shard(path, search.text_column, id_column=None)
        if result.documents.height < 2:
            raise ValueError(
                f"{path}: target has {result.documents.height} usable documents "
                f"({result.quarantine.height} rows refused); it needs at least 2 in a "
                f"'{search.text_column}' column, to hold some out for evaluation"
            )
        texts = result.documents["text"].to_list()
        search_rows, eval_rows = targets.split(texts, search.eval_fraction, search.seed)
        for part, rows in (("target", search_rows), ("eval", eval_rows)):
            flat, offsets = bpe.encode(tok, [texts[i] for i in rows])
            write_npy(flat, folder / f"{part}-{target}.npy")
            write_npy(offsets, folder / f"{part}-{target}.offsets.npy")
        weights[target] = weight
        split_sizes[target] = {"search_docs": len(search_rows), "eval_docs": len(eval_rows)}
    tokenizer = storage.version("proxy_tokenizer")
    framed = search_frame.build(
        storage,
        warehouse,
        search,
        index,
        per_domain.astype(np.float64),
        search.run_tokens(float(per_domain.sum())),
        tokenizer,
    )
    check = reuse_tables(warehouse, name, framed)
    if framed.reuse:
        context.log.info(
            f"search {name} reuses {search.reuse}: domains {framed.reuse['statuses']}, removed "
            f"{framed.reuse['removed_domains']}, {framed.frame.k} coordinates to search, "
            f"{framed.reuse['prior_evidence']} earlier trials as prior evidence"
        )
    with atomic_path(folder / "meta.json") as tmp:  # written last: its presence means complete
        tmp.write_text(
            json.dumps(
                {
                    "target_weights": weights,
                    "target_split": split_sizes,
                    "shards": keys,
                    "vocab_size": tok.get_vocab_size(),
                    "tokenizer": tokenizer,
                    "domain_tokens": per_domain.tolist(),
                    "labels": supers["label"].to_list(),
                    "frame": None if framed.frame.is_identity else framed.frame.to_json(),
                    "reuse": framed.reuse or None,
                }
            )
        )
    context.log.info(f"search {name}: targets {split_sizes}; {index.height} documents in {len(keys)} shards")
    return materialized(
        began,
        {
            "targets": MetadataValue.json(weights),
            "documents": index.height,
            "tokens_per_super_cluster": MetadataValue.json(per_domain.tolist()),
            "target_split": MetadataValue.json(split_sizes),
            **({"reuse": MetadataValue.json(framed.reuse)} if framed.reuse else {}),
            **({"frame": MetadataValue.json(framed.frame.to_json())} if not framed.frame.is_identity else {}),
        },
        check_results=[check],
    )


def reuse_tables(warehouse: Warehouse, name: str, framed: search_frame.SearchFrame) -> AssetCheckResult:
    """mix.domain_map and mix.reused_trials for this search (emptied for a search from scratch), and
    the domain_map check that shows them."""
    if framed.classes is None or framed.overlap is None:
        for table in ("domain_map", "reused_trials"):
            if warehouse.has_table(table):
                warehouse.replace(
                    table, warehouse.query(f"SELECT * FROM mix.{table} LIMIT 0"), where={"search": name}
                )
        return AssetCheckResult(
            check_name="domain_map", passed=True, metadata={"reuse": "none: a search from scratch"}
        )
    classes = framed.classes.with_columns(
        pl.col("old_domains").list.eval(pl.element().cast(pl.Utf8)).list.join(",")
    )
    warehouse.replace(
        "domain_map", classes.with_columns(pl.lit(name).alias("search")), where={"search": name}
    )
    if framed.reused is not None:
        warehouse.replace(
            "reused_trials", framed.reused.with_columns(pl.lit(name).alias("search")), where={"search": name}
        )
    shared = int(framed.overlap.filter(pl.col("old_domain").is_not_null())["docs"].sum())
    return AssetCheckResult(
        check_name="domain_map",
        passed=shared > 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "reused_search": framed.reuse["search"],
            "shared_documents": shared,
            **{f"domains_{k}": v for k, v in framed.reuse["statuses"].items()},
            "removed_domains": str(framed.reuse["removed_domains"]),
            "coordinates_searched": framed.frame.k,
            "prior_evidence": framed.reuse["prior_evidence"],
            "domain_map": plots.md_table(classes),
            "overlap": plots.md_table(framed.overlap),
        },
    )
