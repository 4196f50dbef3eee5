"""The verified final choice (METHODS §7): measure a short list with replicate trials and return the
best measured mean, never a surrogate's optimum on trust."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mix_assets.core import mixtures


@dataclass(frozen=True)
class Candidate:
    name: str  # what put it on the list: surrogate_argmax, surrogate_topk_mean, measured_1, natural, ...
    weights: np.ndarray

    @property
    def mixture_id(self) -> str:
        return mixtures.mixture_id(self.weights)


def shortlist(optima: dict[str, np.ndarray], measured: np.ndarray, scores: np.ndarray, n_measured: int, minimize: bool,
              baselines: dict[str, np.ndarray]) -> list[Candidate]:
    """The baselines, the surrogate's optima and the n best measured mixtures of the search. A mixture
    that two reasons name is measured once, under the first: a baseline keeps its name (natural is
    often among the best measured, and is still reported as natural)."""
    order = np.argsort(scores if minimize else -np.asarray(scores), kind="stable")[:n_measured]
    named = [*baselines.items(), *optima.items(), *((f"measured_{i + 1}", measured[j]) for i, j in enumerate(order))]
    out, seen = [], set()
    for name, w in named:
        c = Candidate(name, np.asarray(w, dtype=np.float64))
        if c.mixture_id not in seen:
            seen.add(c.mixture_id)
            out.append(c)
    return out


@dataclass
class Verified:
    chosen: Candidate
    runs: dict[str, list[dict[str, float]]]  # candidate name -> one metrics dict per replicate

    def summary(self, metric: str) -> dict[str, tuple[float, float]]:
        """candidate -> (mean, std over replicates) of one metric (NaN where a replicate lacks it)."""
        out = {}
        for name, runs in self.runs.items():
            v = np.array([r.get(metric, np.nan) for r in runs], dtype=np.float64)
            out[name] = (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
        return out


def verify(candidates: list[Candidate], measure: Callable[[Candidate, int], dict[str, float]], replicates: int,
           minimize: bool, objective: str = "objective") -> Verified:
    """Measure every candidate `replicates` times (replicate r is the same for every candidate: common
    random numbers) and choose the best mean `objective`. Baselines on the list are candidates like
    any other, so the choice is never worse than them on what was measured."""
    if not candidates:
        raise ValueError("nothing to verify: the short list is empty")
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    runs = {c.name: [measure(c, r) for r in range(replicates)] for c in candidates}
    means = {n: np.mean([r.get(objective, np.nan) for r in rs]) for n, rs in runs.items()}
    finite = {n: m for n, m in means.items() if np.isfinite(m)}
    if not finite:
        raise ValueError(f"no candidate of {list(means)} has a finite {objective}; see the trials' reasons")
    best = min(finite, key=lambda n: finite[n] if minimize else -finite[n])
    return Verified(next(c for c in candidates if c.name == best), runs)
