"""Read one raw shard (parquet or JSONL, optionally gzipped) into normalized documents.

Paths are local or any fsspec URI (s3://, gs://, memory://, ...) through universal-pathlib.

Every input row ends in exactly one of two outputs: a document, or a quarantine row that says
which file, which row and what was wrong. File-level problems (unreadable file, missing or
mistyped text column) raise `ShardError` instead, because no row of such a file can be trusted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

SHARD_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
# C0/C1 controls other than tab and newline carry no meaning in text and break tokenizers.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ShardError(ValueError):
    """A whole shard is unusable; the message names the file and how to fix it."""


@dataclass(frozen=True)
class IngestResult:
    documents: pl.DataFrame  # doc_id, text, n_bytes, row
    quarantine: pl.DataFrame  # file, row, reason, raw


QUARANTINE_SCHEMA = {"file": pl.Utf8, "row": pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8}
DOCUMENT_SCHEMA = {"doc_id": pl.Utf8, "text": pl.Utf8, "n_bytes": pl.Int64, "row": pl.Int64}


def shard_key(path: Path | UPath) -> str:
    """Partition key of a shard file: its name without the shard suffix."""
    name = path.name
    for suffix in sorted(SHARD_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ShardError(f"{path}: not a shard file (expected one of {', '.join(SHARD_SUFFIXES)})")


def discover_shards(folder: str | Path) -> dict[str, UPath]:
    """Partition key -> shard file for every shard directly inside `folder` (a path or URI)."""
    root = UPath(folder)
    if not root.is_dir():
        raise ShardError(f"{root}: input folder does not exist")
    found: dict[str, UPath] = {}
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.name.endswith(SHARD_SUFFIXES):
            continue
        key = shard_key(path)
        if key in found:
            raise ShardError(f"{path}: same shard name as {found[key]}; rename one of them")
        found[key] = path
    return found


def read_columns(path: str | Path, sample_rows: int = 100) -> list[str]:
    """The columns of a shard: the parquet schema, or the keys of its first JSONL lines."""
    file = UPath(path)
    if file.name.endswith(".parquet"):
        with file.open("rb") as f:
            return pq.read_schema(f).names
    gz = file.name.endswith(".gz")
    keys: dict[str, None] = {}
    with file.open("rb") as raw_file, gzip.open(raw_file, "rb") if gz else raw_file as f:
        for _, line in zip(range(sample_rows), f):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                keys.update(dict.fromkeys(obj))
    return list(keys)


def file_fingerprint(path: str | Path) -> dict:
    """size, modification time and sha256 of a shard file: its data version."""
    file = UPath(path)
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    st = file.stat()
    return {
        "file_size": int(st.st_size),
        "file_mtime": float(getattr(st, "st_mtime", 0.0) or 0.0),
        "file_sha256": digest.hexdigest(),
    }


def content_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def normalize_text(text: str) -> str:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def _jsonl_rows(
    path: UPath, text_column: str, id_column: str | None
) -> Iterator[tuple[int, object, object, str | None]]:
    """(row, text, id, problem) per line; row is 1-based, as editors number lines."""
    gz = path.name.endswith(".gz")
    try:
        with path.open("rb") as raw_file, gzip.open(raw_file, "rb") if gz else raw_file as f:
            for row, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield row, raw[:200].decode("utf-8", "replace"), None, f"invalid UTF-8 at byte {e.start}"
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    yield row, line[:200], None, f"malformed JSON: {e.msg} at column {e.colno}"
                    continue
                if not isinstance(obj, dict) or text_column not in obj:
                    yield row, line[:200], None, f"no '{text_column}' field"
                    continue
                yield row, obj[text_column], obj.get(id_column) if id_column else None, None
    except (OSError, EOFError) as e:
        raise ShardError(
            f"{path}: cannot read ({e}); the file is truncated or not {'gzip' if gz else 'text'}"
        ) from e


def _parquet_rows(
    path: UPath, text_column: str, id_column: str | None
) -> Iterator[tuple[int, object, object, str | None]]:
    try:
        with path.open("rb") as f:
            table = pq.read_table(f)
    except (pa.ArrowException, OSError) as e:
        raise ShardError(f"{path}: cannot read parquet ({e}); the file is truncated or not parquet") from e
    if text_column not in table.column_names:
        raise ShardError(
            f"{path}: no column '{text_column}' (columns: {', '.join(table.column_names)}); "
            "set input.text_column in the project file (a target's: its search's text_column)"
        )
    ttype = table.schema.field(text_column).type
    if not (
        pa.types.is_string(ttype)
        or pa.types.is_large_string(ttype)
        or pa.types.is_binary(ttype)
        or pa.types.is_large_binary(ttype)
    ):
        raise ShardError(f"{path}: column '{text_column}' has type {ttype}, expected string")
    ids = (
        table.column(id_column).to_pylist()
        if id_column and id_column in table.column_names
        else [None] * table.num_rows
    )
    for row, (text, doc_id) in enumerate(zip(table.column(text_column).to_pylist(), ids), start=1):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                yield row, text[:200].decode("utf-8", "replace"), None, f"invalid UTF-8 at byte {e.start}"
                continue
        yield row, text, doc_id, None


def ingest_shard(
    path: str | Path,
    text_column: str = "text",
    id_column: str | None = "doc_id",
    max_doc_bytes: int = 1_000_000,
) -> IngestResult:
    file = UPath(path)
    if not file.exists():
        raise ShardError(f"{file}: shard file does not exist")
    if file.stat().st_size == 0:
        raise ShardError(f"{file}: file is empty (0 bytes); remove it or replace it with a valid shard")
    rows = _parquet_rows if file.name.endswith(".parquet") else _jsonl_rows
    docs: dict[str, list] = {k: [] for k in DOCUMENT_SCHEMA}
    bad: dict[str, list] = {k: [] for k in QUARANTINE_SCHEMA}
    first_row: dict[str, int] = {}

    def refuse(row: int, reason: str, raw: object) -> None:
        bad["file"].append(str(file))
        bad["row"].append(row)
        bad["reason"].append(reason)
        bad["raw"].append(str(raw)[:200])

    for row, text, doc_id, problem in rows(file, text_column, id_column):
        if problem:
            refuse(row, problem, text)
            continue
        if not isinstance(text, str):
            refuse(row, f"'{text_column}' is {type(text).__name__}, expected string", text)
            continue
        text = normalize_text(text)
        n_bytes = len(text.encode("utf-8"))
        if not text.strip():
            refuse(row, "empty or whitespace-only text", text)
            continue
        if n_bytes > max_doc_bytes:
            refuse(row, f"document is {n_bytes} bytes, over max_doc_bytes={max_doc_bytes}", text)
            continue
        doc_id = content_id(text) if doc_id is None else str(doc_id)
        if doc_id in first_row:
            refuse(row, f"duplicate id '{doc_id}' (first at row {first_row[doc_id]})", text)
            continue
        first_row[doc_id] = row
        for k, v in zip(DOCUMENT_SCHEMA, (doc_id, text, n_bytes, row)):
            docs[k].append(v)
    return IngestResult(
        pl.DataFrame(docs, schema=DOCUMENT_SCHEMA), pl.DataFrame(bad, schema=QUARANTINE_SCHEMA)
    )
