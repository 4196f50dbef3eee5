"""The CLIMB / RegMix mixture generator, mixture ids, and predictor-guided proposals (METHODS §1.5)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np


class MixtureShortfall(RuntimeError):
    """The generator could not produce the requested number of distinct mixtures."""


@dataclass(frozen=True)
class GeneratorSettings:
    temperature: float = 0.5  # prior <- prior ** temperature, renormalised
    min_strength: float = 0.1
    max_strength: float = 5.0
    n_strengths: int = 15  # log-spaced Dirichlet concentrations in [min, max]
    max_epochs: float = 15.0  # no domain repeated more than this many times at the token budget
    min_weight: float = 2e-4  # smaller weights are zeroed
    grid: float = 2e-4  # weights are rounded to this grid
    dedup_l1: float = 1e-5  # mixtures closer than this (L1) are the same
    max_tries: int = 200  # batches drawn before declaring a shortfall


def prior_from_tokens(tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens, dtype=np.float64)
    if tokens.ndim != 1 or len(tokens) == 0 or (tokens < 0).any() or tokens.sum() <= 0:
        raise ValueError(f"token counts must be a non-empty, non-negative vector with a positive sum, got {tokens}")
    return tokens / tokens.sum()


def upper_bounds(tokens: np.ndarray, token_budget: float, max_epochs: float) -> np.ndarray:
    """Largest weight per domain: weight * budget may not exceed max_epochs passes over its tokens."""
    return np.minimum(max_epochs * np.asarray(tokens, dtype=np.float64) / token_budget, 1.0)


def to_grid(w: np.ndarray, grid: float) -> np.ndarray:
    """Round rows to the grid so that each still sums to exactly 1 (in grid units)."""
    units = int(round(1 / grid))
    q = np.floor(w * units + 0.5).astype(np.int64)
    diff = units - q.sum(axis=1)
    q[np.arange(len(q)), np.argmax(w, axis=1)] += diff  # the largest weight absorbs the rounding
    return q / units


def mixture_id(weights: np.ndarray, grid: float = 2e-4) -> str:
    """Stable 12-hex id of a mixture: a hash of its weights in grid units."""
    units = np.floor(np.asarray(weights, dtype=np.float64) * round(1 / grid) + 0.5).astype(np.int64)
    return hashlib.sha1(units.tobytes()).hexdigest()[:12]


def _draw(prior: np.ndarray, n: int, s: GeneratorSettings, rng: np.random.Generator) -> np.ndarray:
    strengths = np.logspace(np.log10(s.min_strength), np.log10(s.max_strength), s.n_strengths)
    alpha = prior[None, :] * rng.choice(strengths, size=n)[:, None]
    # Dirichlet via normalised gammas: numpy's dirichlet rejects zero alphas, gamma(0) is simply 0
    g = rng.standard_gamma(np.maximum(alpha, 1e-12))
    g[:, prior == 0] = 0
    w = g / np.maximum(g.sum(axis=1, keepdims=True), 1e-300)
    w[w < s.min_weight] = 0
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)


def sample_pool(tokens: np.ndarray, n: int, token_budget: float, s: GeneratorSettings, seed: int) -> np.ndarray:
    """n bounded mixtures on the grid (duplicates allowed): the large pool later rounds predict."""
    rng = np.random.default_rng(seed)
    p0 = prior_from_tokens(tokens)
    prior = p0 ** s.temperature
    prior /= prior.sum()
    bound = upper_bounds(tokens, token_budget, s.max_epochs)
    out, have = [], 0
    for _ in range(s.max_tries):
        w = to_grid(_draw(prior, max(2 * (n - have), 64), s, rng), s.grid)
        ok = w[(w <= bound[None, :] + 1e-12).all(axis=1) & (w.sum(axis=1) > 0)]
        out.append(ok[: n - have])
        have += len(out[-1])
        if have >= n:
            return np.concatenate(out)
    raise MixtureShortfall(
        f"only {have} of {n} mixtures respect the max-epochs bound after {s.max_tries} batches; "
        f"raise max_epochs ({s.max_epochs}) or lower token_budget ({token_budget:g}): bounds are {np.round(bound, 4).tolist()}")


def generate(tokens: np.ndarray, n: int, token_budget: float, s: GeneratorSettings = GeneratorSettings(), seed: int = 42,
             exclude: set[str] | frozenset = frozenset()) -> np.ndarray:
    """n distinct bounded mixtures (round 0 of CLIMB, the whole of RegMix), none of whose ids is in `exclude`."""
    rng_seed = seed
    kept: list[np.ndarray] = []
    ids = set(exclude)
    for attempt in range(s.max_tries):
        try:
            pool = sample_pool(tokens, max(4 * n, 64), token_budget, s, rng_seed + attempt * 7919)
        except MixtureShortfall:
            break
        for w in pool:
            mid = mixture_id(w, s.grid)
            if mid in ids or (kept and np.abs(np.asarray(kept) - w).sum(axis=1).min() <= s.dedup_l1):
                continue
            ids.add(mid)
            kept.append(w)
            if len(kept) == n:
                return np.stack(kept)
    raise MixtureShortfall(
        f"could produce only {len(kept)} distinct mixtures of the {n} asked for over {len(tokens)} domains; "
        "ask for fewer, or loosen the grid / bounds")


def propose(predict: Callable[[np.ndarray], np.ndarray], tokens: np.ndarray, m: int, token_budget: float,
            s: GeneratorSettings = GeneratorSettings(), seed: int = 42, pool_size: int = 100_000, minimize: bool = True,
            exclude: set[str] | frozenset = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """CLIMB round k > 1: predict a pool, keep the best max(m^2, 128), pick m of them at random.

    Returns (mixtures, their predicted scores); mixtures already tried (`exclude`) are skipped.
    """
    pool = np.unique(sample_pool(tokens, pool_size, token_budget, s, seed), axis=0)
    pool = pool[[mixture_id(w, s.grid) not in exclude for w in pool]]
    pred = np.asarray(predict(pool), dtype=np.float64)
    order = np.argsort(pred if minimize else -pred, kind="stable")
    top = order[: max(m * m, 128)]
    if len(top) < m:
        raise MixtureShortfall(f"only {len(top)} untried mixtures in a pool of {pool_size}; cannot pick {m}")
    pick = np.random.default_rng(seed + 1).choice(top, size=m, replace=False)
    pick = pick[np.argsort(pred[pick] if minimize else -pred[pick], kind="stable")]
    return pool[pick], pred[pick]


def best_mixture(predict: Callable[[np.ndarray], np.ndarray], tokens: np.ndarray, token_budget: float,
                 s: GeneratorSettings = GeneratorSettings(), seed: int = 42, pool_size: int = 100_000,
                 minimize: bool = True, method: str = "argmax", top_k: int = 128) -> np.ndarray:
    """The final mixture: the predicted best of a pool (CLIMB) or the mean of the top-k (RegMix)."""
    pool = np.unique(sample_pool(tokens, pool_size, token_budget, s, seed), axis=0)
    pred = np.asarray(predict(pool), dtype=np.float64)
    order = np.argsort(pred if minimize else -pred, kind="stable")
    if method == "argmax":
        w = pool[order[0]]
    elif method == "topk_mean":
        w = pool[order[:top_k]].mean(axis=0)  # a convex combination of bounded mixtures stays bounded
    else:
        raise ValueError(f"final mixture method must be 'argmax' or 'topk_mean', not {method!r}")
    return to_grid(w[None, :], s.grid)[0]
