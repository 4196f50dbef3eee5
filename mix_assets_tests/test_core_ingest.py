"""Every bad-input case either raises a ShardError naming the file or lands in quarantine with its row."""

import gzip
import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mix_assets.core.ingest import ShardError, content_id, discover_shards, ingest_shard

GOOD = "A perfectly ordinary sentence about the weather and the sea."


def write_jsonl(path, lines: list[bytes]):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_jsonl_bad_rows_are_quarantined_with_row_and_reason(tmp_path):
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            json.dumps({"text": GOOD, "doc_id": "a"}).encode(),
            b'{"text": "unterminated',  # row 2: malformed JSON
            b'{"text": "caf\xe9 au lait", "doc_id": "c"}',  # row 3: latin-1 byte, invalid UTF-8
            json.dumps({"text": "   \n\t ", "doc_id": "d"}).encode(),  # row 4: whitespace only
            json.dumps({"body": GOOD}).encode(),  # row 5: no text field
            json.dumps({"text": 42, "doc_id": "f"}).encode(),  # row 6: wrong type
            json.dumps({"text": GOOD + " again", "doc_id": "a"}).encode(),  # row 7: duplicate id
            json.dumps({"text": "x" * 5000, "doc_id": "h"}).encode(),  # row 8: over max_doc_bytes
            json.dumps({"text": "\ufeffBOM\x00 and\x07 controls\r\nend", "doc_id": "i"}).encode(),
        ],
    )
    result = ingest_shard(path, max_doc_bytes=4096)
    assert result.documents["doc_id"].to_list() == ["a", "i"]
    assert result.documents["text"][1] == "BOM and controls\nend"
    bad = {r["row"]: r["reason"] for r in result.quarantine.iter_rows(named=True)}
    assert sorted(bad) == [2, 3, 4, 5, 6, 7, 8]
    assert bad[2].startswith("malformed JSON")
    assert bad[3].startswith("invalid UTF-8")
    assert bad[4] == "empty or whitespace-only text"
    assert bad[5] == "no 'text' field"
    assert bad[6] == "'text' is int, expected string"
    assert bad[7] == "duplicate id 'a' (first at row 1)"
    assert bad[8].startswith("document is 5000 bytes")
    assert set(result.quarantine["file"]) == {str(path)}
    # nothing lost: every non-blank input line is a document or a quarantine row
    assert result.documents.height + result.quarantine.height == 9


def test_gzipped_jsonl_and_content_hash_ids(tmp_path):
    path = tmp_path / "s.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"text": GOOD}) + "\n" + json.dumps({"text": GOOD + "!"}) + "\n")
    docs = ingest_shard(path, id_column=None).documents
    assert docs["doc_id"].to_list() == [content_id(GOOD), content_id(GOOD + "!")]
    assert docs["n_bytes"].to_list() == [len(GOOD), len(GOOD) + 1]


def test_parquet_with_configured_columns_and_binary_text(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(
        pa.table({"body": pa.array([GOOD.encode(), b"\xff\xfe bad"], pa.binary()), "key": [1, 2]}), path
    )
    result = ingest_shard(path, text_column="body", id_column="key")
    assert result.documents["doc_id"].to_list() == ["1"]
    assert result.quarantine["row"].to_list() == [2] and "invalid UTF-8" in result.quarantine["reason"][0]


@pytest.mark.parametrize("case", ["missing_column", "wrong_type", "zero_bytes", "truncated", "missing_file"])
def test_unusable_files_raise_errors_naming_the_file(tmp_path, case):
    path = tmp_path / "bad.parquet"
    if case == "missing_column":
        pq.write_table(pa.table({"content": [GOOD]}), path)
        match = "no column 'text' \\(columns: content\\)"
    elif case == "wrong_type":
        pq.write_table(pa.table({"text": [1, 2]}), path)
        match = "column 'text' has type int64, expected string"
    elif case == "zero_bytes":
        path.write_bytes(b"")
        match = "file is empty"
    elif case == "truncated":
        pq.write_table(pa.table({"text": [GOOD] * 100}), path)
        path.write_bytes(path.read_bytes()[:-100])
        match = "cannot read parquet"
    else:
        match = "does not exist"
    with pytest.raises(ShardError, match=match) as err:
        ingest_shard(path)
    assert str(path) in str(err.value)


def test_one_document_shard_and_discovery(tmp_path):
    pl.DataFrame({"text": [GOOD]}).write_parquet(tmp_path / "one.parquet")
    write_jsonl(tmp_path / "two.jsonl", [json.dumps({"text": GOOD}).encode()])
    (tmp_path / "notes.txt").write_text("not a shard")
    (tmp_path / ".one.parquet.123.tmp").write_text("a temp file is never a shard")
    assert list(discover_shards(tmp_path)) == ["one", "two"]
    assert ingest_shard(tmp_path / "one.parquet").documents.height == 1
    write_jsonl(tmp_path / "one.jsonl", [b"{}"])
    with pytest.raises(ShardError, match="same shard name"):
        discover_shards(tmp_path)


def test_shards_from_an_fsspec_uri():
    from upath import UPath

    root = UPath("memory://mix-assets-test/corpus")
    root.mkdir(parents=True, exist_ok=True)
    with (root / "a.parquet").open("wb") as f:
        pq.write_table(pa.table({"text": [GOOD, GOOD + "?"]}), f)
    with (root / "b.jsonl.gz").open("wb") as f:
        f.write(gzip.compress((json.dumps({"text": GOOD}) + "\n{bad\n").encode()))
    shards = discover_shards("memory://mix-assets-test/corpus")
    assert list(shards) == ["a", "b"]
    assert ingest_shard(shards["a"], id_column=None).documents.height == 2
    b = ingest_shard(shards["b"], id_column=None)
    assert b.documents.height == 1 and b.quarantine["file"][0] == "memory://mix-assets-test/corpus/b.jsonl.gz"


def test_text_is_nfc_normalised_so_one_string_has_one_id(tmp_path):
    composed, decomposed = "caf\u00e9 na\u00efve " * 10, "cafe\u0301 nai\u0308ve " * 10
    assert composed != decomposed
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"text": decomposed}) + "\n" + json.dumps({"text": "other " * 20}) + "\n")
    docs = ingest_shard(path, id_column=None).documents
    assert docs["text"][0] == composed and docs["doc_id"][0] == content_id(composed)
    assert docs["n_bytes"][0] == len(composed.encode("utf-8"))
