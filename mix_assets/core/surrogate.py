"""Surrogates of proxy quality that say what they do not know (METHODS §7).

Four models map mixture weights to a predicted score with an uncertainty:
- `lightgbm`: CLIMB's LightGBM (core.predictor); the spread of bootstrap refits is its uncertainty;
- `gp`: a Gaussian process, ARD Matern 5/2 plus white noise (scikit-learn);
- `quadratic`: Bayesian ridge on [w, sqrt(w), w_i * w_j] (olmix's observation that smooth models
  rank better than trees with a few hundred points);
- `loglinear`: olmix's default mixing law y = c + s * exp(w . t), bootstrap spread as uncertainty.
`auto` cross-validates all four and their CV-weighted average on every score so far and keeps the
best by out-of-fold Spearman (MAE breaks ties; `max_mae_ratio` can first drop the models whose
level is off). Every candidate's CV figures are returned.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from mix_assets.core import predictor as lgbm
from mix_assets.core.storage import as_path
from mix_assets.core.surrogate_models import (
    BUILD,
    CHOICES,
    GP,
    LBFGS,
    MODELS,
    Ensemble,
    LightGBM,
    LogLinear,
    Model,
    Quadratic,
    SurrogateSettings,
    quadratic_features,
)

# the models live in surrogate_models.py; predictors pickled before the split name them here
__all__ = [
    "CHOICES",
    "GP",
    "LBFGS",
    "MODELS",
    "Ensemble",
    "Fitted",
    "LightGBM",
    "LogLinear",
    "Model",
    "Quadratic",
    "SurrogateSettings",
    "cv_report",
    "fit",
    "out_of_fold",
    "quadratic_features",
    "regmix",
]


def _check(x, y, s: SurrogateSettings) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.asarray(y, dtype=np.float64)
    if len(y) < max(s.lightgbm.min_rows, s.folds, 3):
        raise lgbm.TooFewRows(
            f"the surrogate needs at least {max(s.lightgbm.min_rows, s.folds, 3)} scored mixtures, got "
            f"{len(y)}; run more proxy trials first"
        )
    if not np.isfinite(y).all():
        raise ValueError(
            f"{int((~np.isfinite(y)).sum())} scores are NaN/inf; drop or fix them before fitting"
        )
    return x, y


def out_of_fold(x, y, name: str, s: SurrogateSettings, start: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold mean predictions of one model (no bootstrap: only the mean is scored)."""
    inner = SurrogateSettings(**{**s.__dict__, "bootstrap": 0})
    order = np.random.default_rng(s.seed).permutation(len(y))
    oof = np.empty(len(y))
    for k in range(s.folds):
        test = order[k :: s.folds]
        train = np.setdiff1d(order, test)
        oof[test] = BUILD[name](x[train], y[train], inner, start).mean(x[test])
    return oof


def _score(oof: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    rho = spearmanr(oof, y).statistic
    return (float(rho) if np.isfinite(rho) else 0.0), float(np.abs(oof - y).mean())


@dataclass
class Fitted:
    model: Model
    name: str  # the chosen model
    report: list[dict]  # one row per candidate: model, cv_spearman, cv_mae, weight, chosen
    oof: np.ndarray  # the chosen model's out-of-fold predictions, in row order

    def predict(self, x):
        return self.model.predict(x)

    def mean(self, x):
        return self.model.mean(x)

    def save(self, path) -> None:
        with as_path(path).open("wb") as f:
            pickle.dump(self, f)

    @staticmethod
    def load(path) -> Fitted:
        with as_path(path).open("rb") as f:  # our own artifact, written by save()
            return pickle.load(f)


def fit(x, y, s: SurrogateSettings = SurrogateSettings()) -> Fitted:
    x, y = _check(x, y, s)
    names = list(MODELS) if s.model in ("auto", "ensemble") else [s.model]
    # each model is fitted on every row first (no bootstrap): its folds start from that fit, and the
    # ones chosen add their bootstraps from it too, so a model left out costs no bootstraps
    bare = SurrogateSettings(**{**s.__dict__, "bootstrap": 0})
    full = {n: BUILD[n](x, y, bare) for n in names}
    oof = {n: out_of_fold(x, y, n, s, full[n].start()) for n in names}
    rows = {n: _score(o, y) for n, o in oof.items()}
    weights: dict[str, float] = {}
    if len(names) > 1:  # inverse out-of-fold MSE among the models that rank at all
        inv = {n: 1 / max(float(np.mean((oof[n] - y) ** 2)), 1e-12) for n in names if rows[n][0] > 0}
        weights = {n: v / sum(inv.values()) for n, v in inv.items()} or {n: 1 / len(names) for n in names}
        oof["ensemble"] = sum((a * oof[n] for n, a in weights.items()), np.zeros_like(y))
        rows["ensemble"] = _score(oof["ensemble"], y)
    eligible = rows
    if s.max_mae_ratio is not None:
        floor = min(r[1] for r in rows.values())
        eligible = {n: r for n, r in rows.items() if r[1] <= s.max_mae_ratio * floor}
    chosen = (
        s.model
        if s.model != "auto"
        else max(eligible, key=lambda n: (round(eligible[n][0], 4), -eligible[n][1]))
    )

    def final(n: str) -> Model:
        return BUILD[n](x, y, s, full[n].start()) if s.bootstrap > 1 else full[n]

    model = Ensemble({n: final(n) for n in weights}, weights) if chosen == "ensemble" else final(chosen)
    report = [
        {
            "model": n,
            "cv_spearman": r[0],
            "cv_mae": r[1],
            "weight": weights.get(n, float(n == "ensemble")) if weights else 1.0,
            "chosen": n == chosen,
        }
        for n, r in rows.items()
    ]
    return Fitted(model, chosen, report, oof[chosen])


def regmix(x, y, seed: int = 42) -> LightGBM:
    """LightGBM with RegMix's settings on every score, no bootstrap: the model whose top-k mean is
    RegMix's answer. Its piecewise-constant fit spreads the top-k over a wider region than a smooth
    surrogate does, so the final short list carries it as a second hedge (docs/DECISIONS.md). No
    cross-validation: nothing is chosen between models here."""
    s = SurrogateSettings(
        "lightgbm", bootstrap=0, lightgbm=lgbm.PredictorSettings.regmix(seed=seed), seed=seed
    )
    return LightGBM(*_check(x, y, s), s)


def cv_report(fitted: Fitted) -> dict:
    row = next(r for r in fitted.report if r["chosen"])
    return {"model": fitted.name, "spearman": row["cv_spearman"], "mae": row["cv_mae"]}
