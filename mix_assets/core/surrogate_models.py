"""The surrogate models (core/surrogate.py chooses among them and fits them): each maps mixture
weights to a predicted score with an uncertainty (METHODS §7). LightGBM is CLIMB's (core.predictor),
the GP and Bayesian ridge are scikit-learn's, the log-linear law is olmix's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from mix_assets.core import predictor as lgbm

MODELS = ("lightgbm", "gp", "quadratic", "loglinear")
CHOICES = ("auto", *MODELS, "ensemble")


@dataclass(frozen=True)
class SurrogateSettings:
    model: str = "auto"  # auto | lightgbm | gp | quadratic | loglinear | ensemble
    folds: int = 5
    bootstrap: int = 5  # refits on resampled rows: the uncertainty of lightgbm and loglinear
    gp_restarts: int = 2  # optimizer restarts up to 200 rows; none beyond, where one fit is already slow
    # L-BFGS iterations: measured on RegMix (512 rows), 100 give the Spearman of 15,000 in a sixth of the time
    gp_maxiter: int = 100
    loglinear_restarts: int = 6
    # auto picks only among models whose CV MAE is at most this times the best CV MAE (None: any):
    # a model can rank the scores well while its level is off, and proposals use its level
    max_mae_ratio: float | None = None
    lightgbm: lgbm.PredictorSettings = field(default_factory=lgbm.PredictorSettings)
    seed: int = 42

    def __post_init__(self):
        if self.model not in CHOICES:
            raise ValueError(f"surrogate model must be one of {CHOICES}, not {self.model!r}")
        if self.max_mae_ratio is not None and self.max_mae_ratio < 1:
            raise ValueError(
                f"max_mae_ratio must be at least 1 (1: the best MAE only), not {self.max_mae_ratio}"
            )


class Model:
    """predict(x) -> (mean, std) in the units of the scores. A model built with `start` (its fit on
    every row, `start()`) begins its optimisation there: the cross-validation folds do, which then
    need no restarts of their own."""

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def mean(self, x: np.ndarray) -> np.ndarray:
        return self.predict(x)[0]

    def start(self) -> np.ndarray | None:
        return None


def _z(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    mu, sd = float(y.mean()), float(y.std()) or 1.0
    return (y - mu) / sd, mu, sd


def _boot(n: int, k: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, n) for _ in range(k)]


class LightGBM(Model):
    def __init__(self, x, y, s: SurrogateSettings, start=None):
        base = lgbm.PredictorSettings(**{**s.lightgbm.__dict__, "min_rows": 2})
        self.main = lgbm.fit(x, y, base)
        self.boot = (
            [lgbm.fit(x[i], y[i], base) for i in _boot(len(y), s.bootstrap, s.seed)]
            if s.bootstrap > 1
            else []
        )

    def predict(self, x):
        mean = self.main.predict(x)
        std = np.std([b.predict(x) for b in self.boot], axis=0) if self.boot else np.zeros(len(mean))
        return mean, std

    def mean(self, x):
        return self.main.predict(x)


@dataclass(frozen=True)
class LBFGS:
    """scikit-learn's GP optimizer with an iteration cap (a class, not a closure, so the GP pickles)."""

    maxiter: int

    def __call__(self, objective, theta, bounds):
        from scipy.optimize import minimize

        r = minimize(
            objective, theta, method="L-BFGS-B", jac=True, bounds=bounds, options={"maxiter": self.maxiter}
        )
        return r.x, r.fun


class GP(Model):
    def __init__(self, x, y, s: SurrogateSettings, start: np.ndarray | None = None):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            np.full(x.shape[1], 0.3), (1e-2, 1e3), nu=2.5
        ) + WhiteKernel(0.1, (1e-6, 10.0))
        restarts = s.gp_restarts if len(y) <= 200 else 0
        if start is not None:  # a fold starts where the fit on every row ended: no restarts needed
            kernel, restarts = kernel.clone_with_theta(start), 0
        with warnings.catch_warnings():  # a length scale at its bound only means that domain hardly matters
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp = GaussianProcessRegressor(
                kernel,
                normalize_y=True,
                n_restarts_optimizer=restarts,
                random_state=s.seed,
                optimizer=LBFGS(s.gp_maxiter),
            ).fit(x, y)

    def predict(self, x):
        mean, std = self.gp.predict(np.atleast_2d(x), return_std=True)
        return mean, std

    def start(self) -> np.ndarray:
        return self.gp.kernel_.theta


def quadratic_features(x: np.ndarray) -> np.ndarray:
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    i, j = np.triu_indices(x.shape[1])
    return np.hstack([x, np.sqrt(np.maximum(x, 0)), x[:, i] * x[:, j]])


class Quadratic(Model):
    def __init__(self, x, y, s: SurrogateSettings, start=None):
        from sklearn.linear_model import BayesianRidge

        f = quadratic_features(x)
        self.mu, self.sd = f.mean(axis=0), f.std(axis=0) + 1e-12
        z, self.ymu, self.ysd = _z(y)
        self.ridge = BayesianRidge().fit((f - self.mu) / self.sd, z)

    def predict(self, x):
        mean, std = self.ridge.predict((quadratic_features(x) - self.mu) / self.sd, return_std=True)
        return mean * self.ysd + self.ymu, std * self.ysd


def _loglinear_fit(
    x: np.ndarray, z: np.ndarray, restarts: int, seed: int, start: np.ndarray | None = None
) -> np.ndarray:
    """Parameters [c, s, t_1..t_d] of z = c + s * exp(x . t): the best of several starts and both
    signs, or one descent from `start` (a fit on more rows of the same data)."""
    rng, d, best = np.random.default_rng(seed), x.shape[1], None

    def residuals(sign):
        def resid(p):
            return p[0] + sign * np.exp(np.clip(x @ p[1:], -30, 30)) - z

        def jac(p):  # exact, so each step costs one evaluation instead of d + 1
            u = x @ p[1:]
            e = sign * np.exp(np.clip(u, -30, 30)) * ((u > -30) & (u < 30))
            return np.hstack([np.ones((len(z), 1)), e[:, None] * x])

        return resid, jac

    starts = (
        [(float(start[1]), np.concatenate([[start[0]], start[2:]]))]
        if start is not None
        else [
            (sign, np.concatenate([[c0], rng.normal(0, 0.5, d)]))
            for sign in (1.0, -1.0)
            for c0 in np.linspace(z.min() - 1, z.max(), restarts)
        ]
    )
    for sign, p0 in starts:
        resid, jac = residuals(sign)
        fit = least_squares(resid, p0, jac=jac, loss="huber", f_scale=0.1, max_nfev=200 * (d + 1))
        if best is None or fit.cost < best[0]:
            best = (fit.cost, np.concatenate([[fit.x[0], sign], fit.x[1:]]))
    assert best is not None  # at least one start
    return best[1]


class LogLinear(Model):
    def __init__(self, x, y, s: SurrogateSettings, start: np.ndarray | None = None):
        z, self.mu, self.sd = _z(y)
        self.params = _loglinear_fit(x, z, s.loglinear_restarts, s.seed, start)
        self.boot = (
            [
                _loglinear_fit(x[i], z[i], 2, s.seed + k, self.params)
                for k, i in enumerate(_boot(len(y), s.bootstrap, s.seed))
            ]
            if s.bootstrap > 1
            else []
        )

    def start(self) -> np.ndarray:
        return self.params

    @staticmethod
    def _f(p, x):
        return p[0] + p[1] * np.exp(np.clip(np.atleast_2d(x) @ p[2:], -30, 30))

    def predict(self, x):
        mean = self._f(self.params, x) * self.sd + self.mu
        std = (
            np.std([self._f(p, x) for p in self.boot], axis=0) * self.sd if self.boot else np.zeros(len(mean))
        )
        return mean, std

    def mean(self, x):
        return self._f(self.params, x) * self.sd + self.mu


class Ensemble(Model):
    """A weighted average; its variance is the mixture's: sum a_i (std_i^2 + mean_i^2) - mean^2."""

    def __init__(self, members: dict[str, Model], weights: dict[str, float]):
        self.members, self.weights = members, weights

    def predict(self, x):
        parts = [(a, *self.members[k].predict(x)) for k, a in self.weights.items() if a > 0]
        mean = sum(a * m for a, m, _ in parts)
        second = sum(a * (s**2 + m**2) for a, m, s in parts)
        return mean, np.sqrt(np.maximum(second - mean**2, 0))

    def mean(self, x):
        return sum(a * self.members[k].mean(x) for k, a in self.weights.items() if a > 0)


BUILD = {"lightgbm": LightGBM, "gp": GP, "quadratic": Quadratic, "loglinear": LogLinear}
