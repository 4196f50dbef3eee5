"""Read proxy results produced elsewhere: a mixtures table joined by id to a results table.

Accepted: one CSV/parquet with id, weight and metric columns; a mixtures file plus a results file
sharing an id column (RegMix's `index`); olmix-style `ratios.csv` + `metrics.csv` (`run` id).
Rows are always joined by id, never by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from mix_assets.core.storage import as_path, read_parquet

ID_CANDIDATES = ("mixture_id", "index", "run", "id", "run_id", "name")


@dataclass(frozen=True)
class Results:
    ids: list[str]
    domains: list[str]
    weights: np.ndarray  # rows x domains, each row summing to 1 within 1e-2
    metrics: pl.DataFrame  # one row per id, metric columns only


def read_table(path: str | Path) -> pl.DataFrame:
    file = as_path(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: results file does not exist")
    if file.suffix == ".parquet":
        return read_parquet(file)
    with file.open("rb") as f:
        return pl.read_csv(f, infer_schema_length=10_000)


def find_id(df: pl.DataFrame, path, id_column: str | None) -> str:
    if id_column:
        if id_column not in df.columns:
            raise ValueError(f"{path}: no id column '{id_column}' (columns: {', '.join(df.columns[:20])})")
        return id_column
    for c in ID_CANDIDATES:
        if c in df.columns:
            return c
    raise ValueError(f"{path}: no id column; name one of {ID_CANDIDATES} or pass --id-column")


def load(
    mixtures: str | Path,
    results: str | Path | None = None,
    id_column: str | None = None,
    domain_prefix: str | None = None,
) -> Results:
    """Mixture weights (columns starting with `domain_prefix`, default: every non-metric numeric column)."""
    mix = read_table(mixtures)
    mid = find_id(mix, mixtures, id_column)
    if results is not None:
        res = read_table(results)
        rid = find_id(res, results, id_column)
        res = res.rename({rid: mid}) if rid != mid else res
        metric_cols = [c for c in res.columns if c != mid]
        mix = mix.with_columns(pl.col(mid).cast(pl.Utf8))
        res = res.with_columns(pl.col(mid).cast(pl.Utf8))
        unknown = res.join(mix, on=mid, how="anti")[mid].to_list()
        if unknown:
            raise ValueError(
                f"{results}: {len(unknown)} result rows have ids not in {mixtures} (first: {unknown[:5]})"
            )
        dup = res.filter(pl.col(mid).is_duplicated())[mid].unique().to_list()
        if dup:
            raise ValueError(f"{results}: ids {dup[:5]} appear more than once")
        table = mix.join(res, on=mid, how="inner", maintain_order="left")  # rows in the mixtures file order
        domain_cols = [
            c for c in mix.columns if c != mid and (domain_prefix is None or c.startswith(domain_prefix))
        ]
    else:
        table = mix.with_columns(pl.col(mid).cast(pl.Utf8))
        domain_cols = [
            c
            for c in mix.columns
            if c != mid and (c.startswith(domain_prefix) if domain_prefix else not c.startswith("metric"))
        ]
        metric_cols = [c for c in mix.columns if c != mid and c not in domain_cols]
    w = table.select(domain_cols).to_numpy().astype(np.float64)
    sums = w.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > 1e-2)
    if len(off):
        raise ValueError(
            f"{mixtures}: {len(off)} mixtures do not sum to 1 (first id {table[mid][int(off[0])]}: sum "
            f"{sums[off[0]]:.4f})"
        )
    # kept as given, not renormalised: these are the weights the trainer used, rounding included
    return Results(table[mid].to_list(), domain_cols, w, table.select(metric_cols))


def finite_rows(r: Results, metric: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(weights, values, dropped ids) keeping rows whose metric is a finite number."""
    if metric not in r.metrics.columns:
        raise ValueError(f"no metric '{metric}'; available: {', '.join(r.metrics.columns)}")
    y = r.metrics[metric].cast(pl.Float64, strict=False).to_numpy()
    ok = np.isfinite(y)
    return r.weights[ok], y[ok], [i for i, good in zip(r.ids, ok) if not good]
