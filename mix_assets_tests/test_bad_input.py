"""Bad input further down the pipeline: clear errors that name the problem and the fix."""

import json

import pytest
from dagster import AssetSelection, materialize

from mix_assets.assets import all_assets
from mix_assets.core.ingest import ingest_shard


def failure_message(result) -> str:
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.cause.message


def test_a_huge_document_is_quarantined_not_loaded_downstream(tmp_path):
    path = tmp_path / "huge.jsonl"
    huge = "word " * 6_000_000  # 30 MB in one document
    path.write_text(
        json.dumps({"text": "a normal document about the sea"}) + "\n" + json.dumps({"text": huge}) + "\n"
    )
    result = ingest_shard(path)
    assert result.documents.height == 1
    assert result.quarantine["row"].to_list() == [2]
    assert result.quarantine["reason"][0] == "document is 30000000 bytes, over max_doc_bytes=1000000"
    assert len(result.quarantine["raw"][0]) == 200  # the quarantine keeps a preview, not 30 MB


def test_a_target_with_no_text_fails_search_targets_naming_the_file(searcher, tmp_path):
    empty = tmp_path / "empty_target.jsonl"
    empty.write_text(json.dumps({"text": "   "}) + "\n")
    p = searcher(targets={str(empty): 1.0})
    result = p.run_search(["search_targets"], raise_on_error=False)
    assert not result.success
    assert (
        failure_message(result).strip()
        == f"ValueError: {empty}: target has 0 usable documents (1 rows refused); it needs at least 2 in a "
        f"'text' column, to hold some out for evaluation"
    )


def test_pruning_every_cluster_stops_merging_with_a_clear_error(searcher):
    p = searcher()
    result = materialize(
        all_assets,
        instance=p.instance,
        resources=p.resources,
        selection=AssetSelection.assets("pruned_clusters", "merged_clusters"),
        run_config={"ops": {"pruned_clusters": {"config": {"min_mean_quality": 1.01}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert "pruning dropped every cluster; lower min_mean_quality" in failure_message(result)
    pruned = p.warehouse.query(
        "SELECT count(*) AS n, sum(CAST(kept AS INT)) AS kept FROM mix.pruned_clusters"
    )
    assert pruned["kept"][0] == 0 and pruned["n"][0] == 16  # the pruning itself is recorded, with reasons


@pytest.mark.parametrize("column", ["missing", "numbers"])
def test_target_files_with_a_wrong_column(searcher, tmp_path, column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "target.parquet"
    pq.write_table(pa.table({"body": ["x"]} if column == "missing" else {"text": [1, 2]}), path)
    p = searcher(targets={str(path): 1.0})
    result = p.run_search(["search_targets"], raise_on_error=False)
    msg = failure_message(result)
    assert str(path) in msg and (
        "no column 'text'" in msg if column == "missing" else "expected string" in msg
    )
