"""Results produced elsewhere, looked up by mixture id: one table (`mixture_id` or w0..wN weight
columns + one column per target), or an olmix-style pair, ratios.csv (run id + one weight column
per super-cluster, in order) beside metrics.csv. A mixture that was never run is `missing`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mix_assets.core.domains import is_weight_column, mixture_id, to_grid, weight_columns
from mix_assets.core.proxies.backends.base import Backend


@dataclass(frozen=True)
class ImportSettings:
    results: str | None = None  # the results table, or metrics.csv of an olmix-style pair
    mixtures: str | None = None  # the pair's ratios.csv


class NotInResults(KeyError):
    """The mixture was never run elsewhere (status 'missing', not 'failed')."""


@lru_cache(maxsize=4)
def _results_by_id(results_path: str, mixtures_path: str | None, n_domains: int, stamp: float) -> dict:
    """mixture id -> metrics; `stamp` (the file's mtime) reloads a rewritten table."""
    import polars as pl

    from mix_assets.core import results

    if mixtures_path:
        r = results.load(mixtures_path, results_path)
        if len(r.domains) != n_domains:
            raise ValueError(
                f"{mixtures_path}: {len(r.domains)} weight columns for {n_domains} super-clusters"
            )
        ids = [mixture_id(w) for w in to_grid(r.weights)]
        return {i: row for i, row in zip(ids, r.metrics.iter_rows(named=True))}
    table = results.read_table(results_path)
    if "mixture_id" not in table.columns:
        wcols = weight_columns(n_domains)
        if not set(wcols) <= set(table.columns):
            raise ValueError(
                f"{results_path}: needs a mixture_id column or weight columns {wcols[0]}..{wcols[-1]}"
            )
        ids = [mixture_id(w) for w in to_grid(table.select(wcols).to_numpy())]
        table = table.with_columns(pl.Series("mixture_id", ids))
    skip = {"mixture_id", "round", "kind"}
    metric_cols = [c for c in table.columns if c not in skip and not is_weight_column(c)]
    return {r["mixture_id"]: {c: r[c] for c in metric_cols} for r in table.iter_rows(named=True)}


def run(job: dict, s: ImportSettings) -> tuple[dict, dict | None]:
    from mix_assets.core.proxies.corpus import add_objectives

    if not s.results:
        raise ValueError("backend=import needs the search's imported.results")
    stamp = Path(s.results).stat().st_mtime if Path(s.results).exists() else 0.0
    table = _results_by_id(s.results, s.mixtures, len(job["weights"]), stamp)
    if job["mixture_id"] not in table:
        raise NotInResults(f"{job['mixture_id']} not in {s.results}")
    metrics = {k: float(v) if v is not None else float("nan") for k, v in table[job["mixture_id"]].items()}
    targets = job["targets"]
    absent = [t for t in targets if t not in metrics] if "objective" not in metrics else []
    if absent:
        raise ValueError(f"{s.results} has no column for targets {absent} (and no 'objective')")
    if "objective" not in metrics:
        add_objectives(metrics, targets)
    return metrics, None


BACKEND = Backend("import", ImportSettings, "imported", run, summary="a results table made elsewhere")
