"""A search's final mixture as tables and a summary: the short list as measured, what the search
cost, and final_mixture/<search>.json."""

import numpy as np
import polars as pl

from mix_assets.core import final_choice, surrogate
from mix_assets.core.domains import Domains
from mix_assets.core.verify import Candidate, Verified
from mix_assets.partitions import parse_round
from mix_assets.resources import Warehouse


def search_cost(warehouse: Warehouse, last: str | None) -> pl.DataFrame:
    if last is None:
        return pl.DataFrame(
            schema={"round": pl.Utf8, "trials": pl.Int64, "ok": pl.Int64, "seconds": pl.Float64}
        )
    return warehouse.query(
        "SELECT round, count(*) AS trials, sum(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS ok, "
        "round(sum(seconds), 2) AS seconds FROM mix.proxy_scores WHERE search = ? AND round <= ? "
        "GROUP BY round ORDER BY round",
        [parse_round(last)[0], last],
    )


CANDIDATE_COLUMNS = (
    "candidate",
    "chosen",
    "predicted",
    "search_mean",
    "search_std",
    "gap_to_best",
    "gap_se",
    "eval_mean",
    "eval_std",
)


def candidate_table(
    doms: Domains, name: str, short: list[Candidate], result: Verified, model: surrogate.Fitted | None
) -> pl.DataFrame:
    """The short list as measured: predicted, measured on both parts, gap to the best."""
    on_search, on_eval = result.summary("objective"), result.summary("eval_objective")
    weights = np.stack([c.weights for c in short])
    nan = np.full(len(short), np.nan)
    predicted_mean, predicted_std = (a.tolist() for a in (model.predict(weights) if model else (nan, nan)))
    gaps = [(result.gaps or {}).get(c.name, (None, None)) for c in short]
    return doms.table(
        weights,
        search=name,
        candidate=[c.name for c in short],
        chosen=[c.name == result.chosen.name for c in short],
        predicted=predicted_mean,
        predicted_std=predicted_std,
        search_mean=[on_search[c.name][0] for c in short],
        search_std=[on_search[c.name][1] for c in short],
        eval_mean=[on_eval[c.name][0] for c in short],
        eval_std=[on_eval[c.name][1] for c in short],
        gap_to_best=pl.Series([g[0] for g in gaps], dtype=pl.Float64),
        gap_se=pl.Series([g[1] for g in gaps], dtype=pl.Float64),
    )


def mixture_summary(
    name: str,
    last: str | None,
    model: surrogate.Fitted | None,
    result: Verified,
    settings: final_choice.FinalSettings,
    total: float,
    bound: np.ndarray,
    unbounded: np.ndarray,
    binds: bool,
    doms: Domains,
    cost: pl.DataFrame,
    verification: dict,
) -> dict:
    """final_mixture/<search>.json: the choice, what every candidate measured, and what it cost."""
    on_search, on_eval = result.summary("objective"), result.summary("eval_objective")
    best = result.chosen.weights

    def predicted(w: np.ndarray) -> float:
        return float(model.mean(w[None, :])[0]) if model else float("nan")

    return {
        "search": name,
        "round": last,
        "surrogate": model.name if model else "none (no round ran)",
        "chosen": result.chosen.name,
        "best_measured": result.best,
        "choice": settings.choice,
        "se_multiplier": settings.se_multiplier,
        "mixture_id": result.chosen.mixture_id,
        "predicted": predicted(best),
        "replicates": settings.replicates,
        "measured": {k: v[0] for k, v in on_search.items()},
        "measured_std": {k: v[1] for k, v in on_search.items()},
        "evaluation": {k: v[0] for k, v in on_eval.items()},
        "evaluation_std": {k: v[1] for k, v in on_eval.items()},
        "trial_noise": float(np.median([s for _, s in on_search.values()])),
        "target_tokens": total,
        "bound_binds": binds,
        "unbounded_optimum": {
            "weights": unbounded.tolist(),
            "predicted": predicted(unbounded),
        },
        "cost": {
            "trials_per_round": dict(zip(cost["round"], cost["trials"])),
            "round_seconds": float(cost["seconds"].sum()),
            **verification,
        },
        "weights": {str(i): float(w) for i, w in enumerate(best)},
        "labels": list(doms.labels),
        "max_weight": bound.tolist(),
    }
