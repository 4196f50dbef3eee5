"""Document ids unique across the corpus: one check where every shard meets, before any stage that
reads documents from more than one shard.

Each raw_shards run records its shard's ids in the warehouse (`mix.document_ids`); this asset finds
every id held by two shards with one grouped query, O(total documents), instead of each shard
reading every other shard's ids. The copy in the first shard by key keeps the id, whatever order
the shards ran in, so shards ingested in parallel give the same answer as shards ingested one by
one. The other copies go to the quarantine with the shard that keeps the id named, and every
multi-shard reader (shared.own_documents, shared.kept_documents) leaves them out.
"""

import time

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.shared import materialized, materialized_shards
from mix_assets.automation import CONDITIONS
from mix_assets.core.ingest import QUARANTINE_SCHEMA
from mix_assets.core.storage import detached, read_parquet, write_json, write_parquet
from mix_assets.resources import SCHEMA, ProjectStorage, Warehouse

DUPLICATES_SQL = f"""
SELECT shard, doc_id, row, kept_in FROM (
    SELECT shard, doc_id, row, min(shard) OVER (PARTITION BY doc_id) AS kept_in,
           count(*) OVER (PARTITION BY doc_id) AS copies
    FROM {SCHEMA}.document_ids WHERE shard IN (SELECT unnest(?::VARCHAR[]))
) WHERE copies > 1 AND shard <> kept_in ORDER BY shard, row
"""


DOCUMENTS_SQL = (
    f"SELECT count(*) AS n FROM {SCHEMA}.document_ids WHERE shard IN (SELECT unnest(?::VARCHAR[]))"
)


@asset(
    automation_condition=CONDITIONS["unique_ids"],
    group_name="corpus",
    deps=["raw_shards"],
    code_version="1",
    description="Ids held by two shards, found with one join over every shard's ids: the copy in the "
    "first shard by key keeps the id, the others go to the quarantine (mix.duplicate_ids).",
)
def unique_ids(
    context: AssetExecutionContext, storage: ProjectStorage, warehouse: Warehouse
) -> MaterializeResult:
    began = time.perf_counter()
    keys = materialized_shards(context, storage, "raw_shards")
    recorded = (
        set(warehouse.query(f"SELECT DISTINCT shard FROM {SCHEMA}.document_ids")["shard"])
        if warehouse.has_table("document_ids")
        else set()
    )
    for key in sorted(set(keys) - recorded):  # a warehouse rebuilt since: record from the shard file
        ids = read_parquet(storage.path("raw_shards", key), ["doc_id", "row"])
        warehouse.replace(
            "document_ids", ids.select(pl.lit(key).alias("shard"), "doc_id", "row"), where={"shard": key}
        )
    dup = warehouse.query(DUPLICATES_SQL, [keys])
    warehouse.replace("duplicate_ids", dup)
    quarantine = [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
    for (key,), part in dup.group_by("shard", maintain_order=True):
        texts = read_parquet(storage.path("raw_shards", key), ["doc_id", "text"]).join(
            part, on="doc_id", how="semi"
        )
        quarantine.append(
            detached(
                part.join(texts, on="doc_id").select(
                    pl.lit(str(storage.shard_file(key))).alias("file"),
                    pl.col("row").cast(pl.Int64),
                    pl.format("duplicate id '{}' already in shard {}", "doc_id", "kept_in").alias("reason"),
                    pl.col("text").str.slice(0, 200).alias("raw"),
                )
            )
        )
    write_parquet(pl.concat(quarantine), storage.path("unique_ids_quarantine", "all"))
    # the shards this check covers, each at the raw_shards stamp it saw: readers refuse any other
    write_json(
        {k: storage.version("raw_shards", k) for k in keys}, storage.path("unique_ids", "all", ".json")
    )
    documents = int(warehouse.query(DOCUMENTS_SQL, [keys])["n"][0])
    by_shard = dup.group_by("shard").len().sort("shard")
    context.log.info(f"unique_ids: {documents} documents in {len(keys)} shards, {dup.height} duplicate ids")
    return materialized(
        began,
        {
            "documents": documents,
            "shards": len(keys),
            "duplicates": dup.height,
            "duplicates_by_shard": plots.md_table(by_shard)
            if dup.height
            else MetadataValue.md("no id is held by two shards"),
            "quarantine": MetadataValue.path(str(storage.path("unique_ids_quarantine", "all"))),
        },
    )
