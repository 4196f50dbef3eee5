"""raw_shards on bad input, through a real Dagster instance: refused rows quarantined and counted, an
unreadable or corrupt shard failing only itself with the file named."""

import json

import polars as pl

from mix_assets_tests.conftest import corpus_sample, metadata, write_shards


def test_bad_rows_are_quarantined_and_counted_in_metadata(project):
    project.input.mkdir(parents=True)
    lines = [json.dumps({"text": t, "doc_id": f"d{i}"}) for i, t in enumerate(corpus_sample(3)["text"])]
    lines += [
        "{not json",
        json.dumps({"text": "  ", "doc_id": "blank"}),
        json.dumps({"text": "dup", "doc_id": "d0"}),
    ]
    (project.input / "messy.jsonl").write_text("\n".join(lines) + "\n")
    project.add_shards(["messy"])
    result = project.run(["raw_shards"], ["messy"])
    meta = metadata(result, "raw_shards")
    assert meta["documents"] == 24 and meta["quarantined"] == 3
    assert meta["quarantine_reasons"] == {
        "malformed JSON: Expecting property name enclosed in double quotes at column 2": 1,
        "empty or whitespace-only text": 1,
        "duplicate id": 1,
    }
    quarantine = pl.read_parquet(project.storage.path("raw_shards_quarantine", "messy"))
    assert quarantine["row"].to_list() == [25, 26, 27]


def test_unreadable_shard_fails_its_run_with_the_file_named(project):
    project.input.mkdir(parents=True)
    (project.input / "empty.parquet").write_bytes(b"")
    project.add_shards(["empty"])
    result = project.run(["raw_shards"], ["empty"], raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error.cause
    # every shard of the range is tried; the step then fails naming each bad one and its cause
    assert error.cls_name == "ShardsFailed" and "1 of 1 shards failed" in error.message
    assert "ShardError" in error.message and "empty.parquet: file is empty (0 bytes)" in error.message


def test_a_corrupt_shard_fails_only_itself_and_the_step_names_it(project):
    keys = write_shards(corpus_sample(6, seed=2), project.input, 3)
    (project.input / "shard-01.parquet").write_bytes(b"PAR1 this is not parquet")
    project.add_shards(keys)
    result = project.run(["raw_shards"], keys, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error.cause
    assert error.cls_name == "ShardsFailed" and "1 of 3 shards failed" in error.message
    assert "shard-01" in error.message and "shard-00:" not in error.message
    # the good shards ran on the worker pool and are kept, with their rows in the warehouse
    assert sorted(p.stem for p in (project.work / "raw_shards").glob("*.parquet")) == ["shard-00", "shard-02"]
    assert sorted(project.table("shard_summaries")["shard"]) == ["shard-00", "shard-02"]
    # fixed, the range runs again: the good shards are reused, only the bad one is done
    write_shards(corpus_sample(6, seed=2), project.input, 3)
    m = metadata(project.run(["raw_shards"], ["shard-01"]), "raw_shards")
    assert (m["shards"], m["reused_shards"]) == (1, 0)
    again = project.run(["raw_shards"], keys).asset_materializations_for_node("raw_shards")[0].metadata
    assert again["reused_shards"].value == 3
