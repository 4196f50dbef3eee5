"""The warehouse's idempotent writes, and the budgets a search derives from its settings."""

import polars as pl

from mix_assets.resources import SearchSettings, Warehouse


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


def test_proxies_draw_from_their_budget_over_the_run_of_each_domain():
    search = SearchSettings(targets={"t.parquet": 1.0}, token_budget=1_000_000, target_tokens=8_000_000)
    assert search.proxy_pool_share(corpus_tokens=4e6) == 0.125  # the run named: 1M of 8M
    assert search.model_copy(update={"target_tokens": None}).proxy_pool_share(4e6) == 0.25  # one pass
    # a run smaller than the proxy: the proxy reads all of each domain and may repeat it more often
    small_run = search.model_copy(update={"target_tokens": 500_000})
    assert small_run.proxy_pool_share(4e6) == 1.0 and small_run.proxy_max_epochs(4e6) == 30.0
    assert search.model_copy(update={"repeat_as_run": False}).proxy_pool_share(4e6) == 1.0


def test_the_cache_folder_exists_on_a_fresh_machine(tmp_path, monkeypatch):
    """domain_selection makes its scratch folder inside the cache: on a machine where nothing has
    made the cache yet, that failed (a fresh CI clone, 2026-11-23)."""
    import tempfile

    from mix_assets import environment

    monkeypatch.setenv("MIX_ASSETS_CACHE", str(tmp_path / "not" / "yet"))
    with tempfile.TemporaryDirectory(dir=environment.cache_dir()) as scratch:
        assert (tmp_path / "not" / "yet").is_dir() and scratch.startswith(str(tmp_path))
