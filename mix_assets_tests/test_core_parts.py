"""Parts joined to their texts shard by shard (core/parts.py) equal the whole join done in memory."""

import numpy as np
import polars as pl
import pytest

from mix_assets.core import parts
from mix_assets_tests.conftest import corpus_sample


def test_parts_written_shard_by_shard_equal_the_join_in_memory(tmp_path):
    docs = corpus_sample(40, seed=2).with_columns((pl.int_range(pl.len()) % 5).cast(pl.Utf8).alias("shard"))
    rng = np.random.default_rng(0)
    picks = rng.integers(0, docs.height, size=700)  # documents repeat, as a mixed dataset's may
    rows = docs[picks].select("doc_id", "shard").with_columns(pl.Series("position", np.arange(len(picks))))
    read = []

    def texts_of(shard: str) -> pl.DataFrame:
        read.append(shard)
        return docs.filter(pl.col("shard") == shard).select("doc_id", "text")

    n = parts.write_from_shards(tmp_path, rows, texts_of, ["position", "doc_id", "text"], 64, "a")
    assert n == 11 and sorted(read) == ["0", "1", "2", "3", "4"]  # each shard read once
    expected = rows.join(docs.select("doc_id", "text"), on="doc_id", maintain_order="left")
    got = parts.read_parts(tmp_path)
    assert got.equals(expected.select("position", "doc_id", "text"))
    sizes = [
        pl.read_parquet(tmp_path / p).height for p in parts.read_json(tmp_path / "manifest.json")["parts"]
    ]
    assert sizes == [64] * 10 + [60]
    # a second version replaces the first only once complete
    parts.write_from_shards(tmp_path, rows.head(10), texts_of, ["position", "doc_id", "text"], 64, "b")
    assert [d.name for d in tmp_path.glob("v-*")] == ["v-b"] and parts.read_parts(tmp_path).height == 10
    with pytest.raises(ValueError, match="at least 1"):
        parts.write_from_shards(tmp_path, rows, texts_of, ["position"], 0, "c")
