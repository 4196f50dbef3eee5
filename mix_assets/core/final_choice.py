"""The final choice of a search (METHODS §7): the short list, the replicate trials that measure it,
and the choice among them. The replicate seeds are defined here and the candidates' names beside
it, in core/verify.py; the `final_mixture` asset and the search benches both call these functions.

The short list: the baselines (natural, uniform), the surrogate's optimum over a pool (its argmax
and its top-k mean), LightGBM's top-k mean fitted on the search's trials (RegMix's recipe), and
the best measured mixtures of the search. Each is trained `replicates` times on fresh samples;
the choice is core.verify's: the best measured mean, or with the standard-error rule the best
baseline, then the better measured top-k mean, when within `se_multiplier` standard errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mix_assets.core import generator, surrogate, verify
from mix_assets.core.frame import Frame
from mix_assets.core.verify import (
    BASELINES,
    HEDGES,
    LIGHTGBM_TOPK,
    SURROGATE_ARGMAX,
    SURROGATE_TOPK,
    Candidate,
)

CHOICES = ("se_rule", "best")
OPTIMUM_SEED = 7  # the optima's pool is drawn at the search's seed + this


@dataclass(frozen=True)
class FinalSettings:
    """A short list measured with replicate trials (METHODS §7). `choice`: "se_rule" takes the best
    baseline, else the better measured top-k mean, when within `se_multiplier` standard errors of
    the best measured (core.verify); "best" takes the best measured mean."""

    top_k: int = 128  # the top-k mean's k (RegMix)
    pool_size: int = 100_000
    n_measured: int = 2  # best measured mixtures of the search on the short list
    replicates: int = 3  # trials per candidate, each on a fresh sample
    # a reuse search's: its trainings go to a guided round instead (project.REUSE_ROUNDS); the
    # paired per-document SE still ranks the list
    reuse_replicates: int = 1
    # replicate r trains at seed + offset + r: samples the search never saw
    replicate_seed_offset: int = 99_991
    choice: str = "se_rule"  # se_rule | best
    se_multiplier: float = 2.0

    def __post_init__(self):
        if self.choice not in CHOICES:
            raise ValueError(f"final_mixture choice must be one of {CHOICES}, not {self.choice!r}")
        if self.replicates < 1:
            raise ValueError(f"replicates must be at least 1, got {self.replicates}")


def replicate_seeds(seed: int, s: FinalSettings) -> list[int]:
    """The seed of each replicate: the same for every candidate (common random numbers)."""
    return [seed + s.replicate_seed_offset + r for r in range(s.replicates)]


def optimum(
    predict: Callable[[np.ndarray], np.ndarray],
    tokens: np.ndarray,
    run_tokens: float,
    gen: generator.GeneratorSettings,
    seed: int,
    minimize: bool,
    s: FinalSettings,
    method: str = "argmax",
    bounded: bool = True,
    frame: Frame | None = None,
) -> np.ndarray:
    """The surrogate's optimum over a pool, in the frame's coordinates when there is one."""
    fr = Frame.in_effect(frame)
    if fr is not None and fr.k < 2:  # nothing left to choose: the frame's one mixture
        return fr.expand(np.ones((1, fr.k)))[0]
    best = generator.best_mixture(
        predict if fr is None else (lambda c: predict(fr.expand(c))),
        tokens if fr is None else fr.tokens(tokens),
        run_tokens,
        gen,
        seed + OPTIMUM_SEED,
        s.pool_size,
        minimize,
        method,
        s.top_k,
        bounded,
    )
    return best if fr is None else fr.expand(best)[0]


def short_list(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    tokens: np.ndarray,
    run_tokens: float,
    gen: generator.GeneratorSettings,
    seed: int,
    minimize: bool,
    baselines: dict[str, np.ndarray],
    s: FinalSettings = FinalSettings(),
    frame: Frame | None = None,
    own: np.ndarray | None = None,
    first: dict[str, np.ndarray] | None = None,
) -> list[Candidate]:
    """The candidates to measure, from the scored trials (`x` mixtures, `y` objectives), the
    surrogate's mean `predict` and the baselines that respect the bound (rounds.baselines). With a
    `frame` the optima lie in it; `own` marks the trials this search trained (the others are prior
    evidence: they fit LightGBM but are not on the list); `first` goes on the list before the optima
    (an earlier search's mixture, translated)."""
    own = np.ones(len(y), dtype=bool) if own is None else np.asarray(own, dtype=bool)
    optima = {
        **(first or {}),
        SURROGATE_ARGMAX: optimum(predict, tokens, run_tokens, gen, seed, minimize, s, "argmax", frame=frame),
        SURROGATE_TOPK: optimum(
            predict, tokens, run_tokens, gen, seed, minimize, s, "topk_mean", frame=frame
        ),
    }
    if len(y) >= 2:
        optima[LIGHTGBM_TOPK] = optimum(
            surrogate.regmix(x, y, seed).mean,
            tokens,
            run_tokens,
            gen,
            seed,
            minimize,
            s,
            "topk_mean",
            frame=frame,
        )
    return verify.shortlist(optima, x[own], y[own], s.n_measured, minimize, baselines)


def preference(
    target_weights: dict[str, float], s: FinalSettings, hedges: tuple[str, ...] = HEDGES
) -> verify.Preference | None:
    """What the standard-error rule prefers; None for choice="best"."""
    if s.choice == "best":
        return None
    return verify.Preference(target_weights, BASELINES, hedges, s.se_multiplier)


def choose(
    short: list[Candidate],
    measure: Callable[[Candidate, int], dict],
    minimize: bool,
    target_weights: dict[str, float],
    s: FinalSettings = FinalSettings(),
    hedges: tuple[str, ...] = HEDGES,
) -> verify.Verified:
    """The choice among the measured short list; `measure(candidate, r)` is replicate r's metrics
    (at replicate_seeds(...)[r])."""
    return verify.verify(short, measure, s.replicates, minimize, prefer=preference(target_weights, s, hedges))
