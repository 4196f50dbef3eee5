"""A large table written as numbered parts, readable only once complete (the mixed dataset).

`write_from_shards` joins each row to its document's text one shard at a time, so memory follows
one shard and one part, never the corpus or the whole dataset: pass 1 reads each shard once,
keeps the chosen documents' text, and buckets it by part, one row group per part in a local
temporary file; pass 2 assembles each part from its row groups, in position order.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from mix_assets.core.storage import as_path, is_local, read_json, read_parquet, write_json, write_parquet


def write_from_shards(
    folder,
    rows: pl.DataFrame,
    texts_of: Callable[[str], pl.DataFrame],
    columns: list[str],
    rows_per_part: int,
    version: str,
    log: Callable[[str], None] | None = None,
) -> int:
    """Write `rows` (one per position, with `position`, `shard` and `doc_id`) plus each document's
    text (`texts_of(shard)` -> doc_id, text) as parts of `rows_per_part` rows; returns the parts."""
    if rows_per_part < 1:
        raise ValueError(f"rows per part must be at least 1, got {rows_per_part}")
    rows = rows.with_columns((pl.col("position") // rows_per_part).alias("part"))
    n_parts = int(rows.select(pl.col("part").max()).item()) + 1 if rows.height else 0
    groups: dict[int, list[tuple[Path, int]]] = {p: [] for p in range(n_parts)}
    with tempfile.TemporaryDirectory(prefix="mix-assets-parts-") as tmp:
        for i, ((shard,), chosen) in enumerate(rows.group_by("shard", maintain_order=True)):
            texts = texts_of(shard).join(chosen.select("doc_id").unique(), on="doc_id", how="semi")
            table = chosen.join(texts, on="doc_id", how="left").sort("position").select(*columns, "part")
            path = Path(tmp) / f"{i}.parquet"
            blocks = table.partition_by("part", maintain_order=True, as_dict=True, include_key=False)
            with pq.ParquetWriter(path, next(iter(blocks.values())).to_arrow().schema) as writer:
                for j, ((p,), block) in enumerate(blocks.items()):
                    writer.write_table(block.to_arrow(), row_group_size=block.height)
                    groups[int(p)].append((path, j))
            if log:
                log(f"{shard}: {chosen.height} rows of the dataset read ({i + 1} shards)")
        names = []
        for p in range(n_parts):
            blocks_of_part = [pl.DataFrame(pq.ParquetFile(f).read_row_group(j)) for f, j in groups[p]]
            part = pl.concat(blocks_of_part).sort("position")
            names.append(f"v-{version}/part-{p:05d}.parquet")
            write_parquet(part, as_path(folder) / names[-1])
    publish(folder, version, names, rows.height)
    return n_parts


def publish(folder, version: str, names: list[str], n_rows: int) -> None:
    """manifest.json names the new parts in one atomic write, then older sets are removed: a run
    killed before this leaves the previous set (or none) readable, never a partial one."""
    folder = as_path(folder)
    write_json({"version": version, "parts": names, "rows": n_rows}, folder / "manifest.json")
    for old in folder.iterdir():
        if old.name.startswith("v-") and old.name != f"v-{version}":
            if is_local(old):
                shutil.rmtree(old)
            else:
                old.fs.rm(old.path, recursive=True)


def read_parts(folder) -> pl.DataFrame:
    """The complete set that manifest.json names."""
    manifest = as_path(folder) / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: no complete mixed dataset yet; materialize mixed_dataset")
    return pl.concat([read_parquet(as_path(folder) / part) for part in read_json(manifest)["parts"]])
