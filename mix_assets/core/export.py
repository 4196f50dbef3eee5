"""Mixture weights in the formats real trainers read."""

from __future__ import annotations

import json

import polars as pl


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    kept = {k: float(v) for k, v in weights.items() if v > 0}
    total = sum(kept.values())
    if total <= 0:
        raise ValueError("a mixture needs at least one positive weight")
    return {k: v / total for k, v in kept.items()}


def megatron_blend(weights: dict[str, float]) -> str:
    """Megatron-LM / NeMo `--data-path` value: weight-prefix pairs, `w1 path1 w2 path2 ...`."""
    return " ".join(f"{w:.6g} {path}" for path, w in _normalised(weights).items())


def hf_interleave(weights: dict[str, float], seed: int = 42) -> dict:
    """Arguments for `datasets.interleave_datasets(datasets, probabilities=..., seed=...)`."""
    w = _normalised(weights)
    return {
        "datasets": list(w),
        "probabilities": list(w.values()),
        "seed": seed,
        "stopping_strategy": "all_exhausted",
    }


def olmix_tables(
    scores: pl.DataFrame, weight_columns: list[str], domain_names: list[str], metric_columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """olmix-style `ratios.csv` (run id + one column per domain) and `metrics.csv` (run id + metrics)."""
    runs = scores.with_columns(pl.col("mixture_id").alias("run"))
    ratios = runs.select("run", *[pl.col(c).alias(d) for c, d in zip(weight_columns, domain_names)])
    metrics = runs.select("run", *[pl.col(c).alias(c.removeprefix("m_")) for c in metric_columns])
    return ratios, metrics


def to_json(obj) -> str:
    return json.dumps(obj, indent=1)
