"""The verified final choice (METHODS §7): measure a short list with replicate trials and return the
best measured mean, never a surrogate's optimum on trust.

The best measured mean on the search part is an optimistic pick: the search part is a sample of the
target's documents, and the short list is chosen on that same sample. So by default the choice
follows the standard-error rule of Breiman et al. (CART, 1984) with a margin of two: the simplest
candidate whose gap to the best is within 2 standard errors wins, first the best baseline, then the
better measured of the two top-k means (the surrogate's, and LightGBM's as RegMix takes it). The
standard error comes from the target's documents (paired, per document, when the proxy reports
per-document losses) or else from the replicates. The margin of 2 rather than Breiman's 1: up to 7
candidates are compared on the same documents, and on the embedded corpus 2 did better than 1 on
held-out text for four of six objectives and within 0.010 nats on the other two. That was with a
3-sample judge; with 60 the margins 0, 1 and 2 are within noise of one another (docs/DECISIONS.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mix_assets.core import generator

# The names of the short list's candidates: what put each on the list (core/final_choice.py).
SURROGATE_ARGMAX = "surrogate_argmax"
SURROGATE_TOPK = "surrogate_topk_mean"
LIGHTGBM_TOPK = "lightgbm_topk_mean"
BASELINES = ("natural", "uniform")
HEDGES = (SURROGATE_TOPK, LIGHTGBM_TOPK)  # the standard-error rule's fallbacks after a baseline
PREVIOUS = "previous"  # a reuse search: the earlier search's final mixture in the new domains
REUSE_HEDGES = (PREVIOUS, *HEDGES)  # a reuse search's fallbacks after a baseline


def measured_name(i: int) -> str:
    """The i-th best measured mixture of the search (0-based) on the short list."""
    return f"measured_{i + 1}"


@dataclass(frozen=True)
class Candidate:
    name: str  # what put it on the list: one of the names above, or measured_name(i)
    weights: np.ndarray

    @property
    def mixture_id(self) -> str:
        return generator.mixture_id(self.weights)


def shortlist(
    optima: dict[str, np.ndarray],
    measured: np.ndarray,
    scores: np.ndarray,
    n_measured: int,
    minimize: bool,
    baselines: dict[str, np.ndarray],
) -> list[Candidate]:
    """The baselines, the surrogate's optima and the n best measured mixtures of the search. A mixture
    that two reasons name is measured once, under the first: a baseline keeps its name (natural is
    often among the best measured, and is still reported as natural)."""
    order = np.argsort(scores if minimize else -np.asarray(scores), kind="stable")[:n_measured]
    named = [
        *baselines.items(),
        *optima.items(),
        *((measured_name(i), measured[j]) for i, j in enumerate(order)),
    ]
    out, seen = [], set()
    for name, w in named:
        c = Candidate(name, np.asarray(w, dtype=np.float64))
        if c.mixture_id not in seen:
            seen.add(c.mixture_id)
            out.append(c)
    return out


@dataclass(frozen=True)
class Preference:
    """Which candidates the standard-error rule prefers when they are within `z` standard errors of
    the best measured: the best of `baselines`, then the `hedges` in the order of their measured
    means. A candidate that measured worse than the best baseline is never chosen. `target_weights`
    is how the objective weighs the targets whose per-document losses the trials report."""

    target_weights: dict[str, float]
    baselines: tuple[str, ...] = BASELINES
    hedges: tuple[str, ...] = HEDGES
    z: float = 2.0


def paired_gap(
    a: list[dict], b: list[dict], objective: str, target_weights: dict[str, float]
) -> tuple[float, float]:
    """(mean objective of a - that of b, its standard error), paired by replicate.

    With per-document losses (each run's `documents`: target -> {"nll": nats per document, "tokens":
    tokens per document}) the error is over the target's documents, a ratio estimator's linearised
    variance: which documents the target holds is the larger source of noise, and the one that
    decides whether a gain carries over to held-out text. Otherwise it is over the replicates."""
    if a and b and all(t in (r.get("documents") or {}) for r in a + b for t in target_weights):
        total_w, gap, var = sum(target_weights.values()), 0.0, 0.0
        for t, w in target_weights.items():
            delta = np.mean([r["documents"][t]["nll"] for r in a], axis=0) - np.mean(
                [r["documents"][t]["nll"] for r in b], axis=0
            )
            n = np.asarray(a[0]["documents"][t]["tokens"], dtype=np.float64)
            g = delta.sum() / n.sum()
            k = len(n)
            v = k / (k - 1) * np.sum((delta - g * n) ** 2) / n.sum() ** 2 if k > 1 else 0.0
            gap, var = gap + w / total_w * g, var + (w / total_w) ** 2 * v
        return float(gap), float(np.sqrt(var))
    d = np.array(
        [ra.get(objective, np.nan) - rb.get(objective, np.nan) for ra, rb in zip(a, b)], dtype=np.float64
    )
    d = d[np.isfinite(d)]
    if not len(d):
        return float("nan"), float("nan")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0


@dataclass
class Verified:
    chosen: Candidate
    runs: dict[str, list[dict]]  # candidate name -> one metrics dict per replicate
    best: str = ""  # the best measured mean (the choice unless a preferred candidate is within the noise)
    gaps: dict[str, tuple[float, float]] | None = None  # candidate -> (gap to the best, standard error)

    def summary(self, metric: str) -> dict[str, tuple[float, float]]:
        """candidate -> (mean, std over replicates) of one metric (NaN where a replicate lacks it)."""
        out = {}
        for name, runs in self.runs.items():
            v = np.array([r.get(metric, np.nan) for r in runs], dtype=np.float64)
            out[name] = (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
        return out


def verify(
    candidates: list[Candidate],
    measure: Callable[[Candidate, int], dict],
    replicates: int,
    minimize: bool,
    objective: str = "objective",
    prefer: Preference | None = None,
) -> Verified:
    """Measure every candidate `replicates` times (replicate r is the same for every candidate: common
    random numbers) and choose the best mean `objective`, or with `prefer` the standard-error rule's
    choice. Baselines on the list are candidates like any other, so the choice is never worse than
    them on what was measured. `measure` returns a metrics dict, optionally with `documents`."""
    if not candidates:
        raise ValueError("nothing to verify: the short list is empty")
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    runs = {c.name: [measure(c, r) for r in range(replicates)] for c in candidates}
    means = {n: np.mean([r.get(objective, np.nan) for r in rs]) for n, rs in runs.items()}
    finite = {n: m for n, m in means.items() if np.isfinite(m)}
    if not finite:
        raise ValueError(f"no candidate of {list(means)} has a finite {objective}; see the trials' reasons")
    sign = 1.0 if minimize else -1.0
    best = min(finite, key=lambda n: sign * finite[n])
    weights = (
        prefer.target_weights if prefer and minimize else {}
    )  # per-document losses only for a minimised loss
    gaps = {n: paired_gap(runs[n], runs[best], objective, weights) for n in finite}
    chosen = best
    if prefer:
        base = sorted((n for n in prefer.baselines if n in finite), key=lambda n: sign * finite[n])[:1]
        hedges = sorted((h for h in prefer.hedges if h in finite), key=lambda n: sign * finite[n])
        for name in [*base, *hedges]:
            if base and sign * (finite[name] - finite[base[0]]) > 0:
                continue  # never worse than a baseline on what was measured
            gap, se = gaps[name]
            if sign * gap <= prefer.z * se:
                chosen = name
                break
    return Verified(next(c for c in candidates if c.name == chosen), runs, best, gaps)
