"""The warehouse's idempotent writes, including a table that gains a column in a newer version."""

import polars as pl

from mix_assets.resources import Warehouse


def test_replace_is_idempotent_and_adds_new_columns(tmp_path):
    w = Warehouse(database=str(tmp_path / "w.duckdb"))
    assert not w.has_table("t")
    w.replace("t", pl.DataFrame({"shard": ["a"], "n": [1]}), where={"shard": "a"})
    w.replace(
        "t", pl.DataFrame({"shard": ["a"], "n": [2]}), where={"shard": "a"}
    )  # rerun: replaced, not appended
    w.replace("t", pl.DataFrame({"shard": ["b"], "n": [3], "sha": ["x"]}), where={"shard": "b"})
    assert w.has_table("t")
    assert w.query("SELECT shard, n, sha FROM mix.t ORDER BY shard").rows() == [("a", 2, None), ("b", 3, "x")]
    w.replace(
        "t", pl.DataFrame({"shard": ["a", "b"], "n": [4, 5]}), where={"shard": ["a", "b"]}
    )  # several keys, one transaction
    assert w.query("SELECT shard, n FROM mix.t ORDER BY shard").rows() == [("a", 4), ("b", 5)]
    w.replace("t", pl.DataFrame({"shard": ["z"], "n": [0]}))  # whole-table replace
    assert w.query("SELECT * FROM mix.t").rows() == [("z", 0)]
