"""Atomic writes: a reader never sees a half-written artifact, a crash leaves only a temp file."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_parquet(df: pl.DataFrame, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        df.write_parquet(tmp, compression="zstd")
    return Path(path)


def write_csv(df: pl.DataFrame, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        df.write_csv(tmp)
    return Path(path)


def write_npy(arr: np.ndarray, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr)
    return Path(path)


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """Memory-mapped: downstream stages stream over embeddings without holding them all."""
    return np.load(path, mmap_mode="r")
