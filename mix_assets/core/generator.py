"""The CLIMB / RegMix mixture generator and predictor-guided proposals (METHODS §1.5); the mixture
type, its id and grid are in core/domains.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mix_assets.core.domains import GRID, mixture_id, to_grid  # noqa: F401 - re-exported


class MixtureShortfall(RuntimeError):
    """The generator could not produce the requested number of distinct mixtures."""


class RunTooLarge(MixtureShortfall):
    """No mixture at all respects the bound: the corpus cannot fill the run at max_epochs."""


@dataclass(frozen=True)
class GeneratorSettings:
    temperature: float = 0.5  # prior <- prior ** temperature, renormalised
    min_strength: float = 0.1
    max_strength: float = 5.0
    n_strengths: int = 15  # log-spaced Dirichlet concentrations in [min, max]
    max_epochs: float = 15.0  # no domain repeated more than this many times at the token budget
    min_weight: float = 2e-4  # smaller weights are zeroed
    grid: float = GRID  # weights are rounded to this grid (only tests change it)
    dedup_l1: float = 1e-5  # mixtures closer than this (L1) are the same
    max_tries: int = 200  # batches drawn before declaring a shortfall


def prior_from_tokens(tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens, dtype=np.float64)
    if tokens.ndim != 1 or len(tokens) == 0 or (tokens < 0).any() or tokens.sum() <= 0:
        raise ValueError(
            f"token counts must be a non-empty, non-negative vector with a positive sum, got {tokens}"
        )
    return tokens / tokens.sum()


def upper_bounds(tokens: np.ndarray, target_tokens: float, max_epochs: float) -> np.ndarray:
    """Largest weight per domain: weight * target_tokens may not exceed max_epochs passes over its tokens.

    `target_tokens` is the size of the training run the mixture is for, not a proxy's budget: a
    proxy of 1M tokens would let a tiny domain take any weight that a 1T-token run then repeats
    hundreds of times (METHODS §7)."""
    return np.minimum(max_epochs * np.asarray(tokens, dtype=np.float64) / float(target_tokens), 1.0)


def _draw(prior: np.ndarray, n: int, s: GeneratorSettings, rng: np.random.Generator) -> np.ndarray:
    strengths = np.logspace(np.log10(s.min_strength), np.log10(s.max_strength), s.n_strengths)
    alpha = prior[None, :] * rng.choice(strengths, size=n)[:, None]
    # Dirichlet via normalised gammas: numpy's dirichlet rejects zero alphas, gamma(0) is simply 0
    g = rng.standard_gamma(np.maximum(alpha, 1e-12))
    g[:, prior == 0] = 0
    w = g / np.maximum(g.sum(axis=1, keepdims=True), 1e-300)
    w[w < s.min_weight] = 0
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)


def sample_pool(
    tokens: np.ndarray, n: int, target_tokens: float, s: GeneratorSettings, seed: int, bounded: bool = True
) -> np.ndarray:
    """n bounded mixtures on the grid (duplicates allowed): the large pool later rounds predict.
    `bounded=False` lifts the max-epochs bound (to show what the bound costs, never to train on)."""
    rng = np.random.default_rng(seed)
    p0 = prior_from_tokens(tokens)
    prior = p0**s.temperature
    prior /= prior.sum()
    bound = upper_bounds(tokens, target_tokens, s.max_epochs) if bounded else np.ones(len(p0))
    if bound.sum() < 1 - 1e-9:
        raise RunTooLarge(
            f"the corpus ({float(np.sum(tokens)):,.0f} tokens) cannot fill a run of {target_tokens:,.0f} "
            f"tokens with at "
            f"most max_epochs={s.max_epochs} passes over any domain; lower target_tokens or raise max_epochs"
        )
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
        f"raise max_epochs ({s.max_epochs}) or lower target_tokens ({target_tokens:g}): bounds are "
        f"{np.round(bound, 4).tolist()}"
    )


def generate(
    tokens: np.ndarray,
    n: int,
    target_tokens: float,
    s: GeneratorSettings = GeneratorSettings(),
    seed: int = 42,
    exclude: set[str] | frozenset = frozenset(),
) -> np.ndarray:
    """n distinct bounded mixtures (round 0 of CLIMB, the whole of RegMix), none of whose ids is in
    `exclude`."""
    rng_seed = seed
    kept: list[np.ndarray] = []
    ids = set(exclude)
    for attempt in range(s.max_tries):
        try:
            pool = sample_pool(tokens, max(4 * n, 64), target_tokens, s, rng_seed + attempt * 7919)
        except RunTooLarge:
            raise
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
        "ask for fewer, or loosen the grid / bounds"
    )


Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # mixtures -> (mean, std)


@dataclass(frozen=True)
class ProposalSettings:
    """Round k > 1. `climb`: CLIMB as published (best max(m^2, 128) predicted means, m at random).
    `lcb` (default): rank the pool by a confidence bound, spread the picks over that top set by
    k-means (one per cluster, as NVIDIA's recipe), and add local steps around the best measured."""

    proposal: str = "lcb"  # or "climb"
    pool_size: int = 100_000  # CLIMB's simulated pool
    kappa: float = 1.0  # acquisition = mean - kappa * std (mean + kappa * std when maximising)
    local_share: float = 0.125  # this share of the picks (at least one) are local steps
    local_concentration: float = 200.0  # Dirichlet(c * w_best): a step of a few points of weight
    local_draws: int = 256  # local steps drawn; the best by acquisition are kept
    # round 0 of a reuse search: Dirichlet(c x earlier mixture) in the frame's coordinates, a spread
    # of some ten points of weight; the earlier trials already cover the simplex (bench/README.md).
    # 0 draws around the token prior, as a search from scratch does
    reuse_concentration: float = 30.0

    def __post_init__(self):
        if self.proposal not in ("lcb", "climb"):
            raise ValueError(f"proposal must be 'lcb' or 'climb', not {self.proposal!r}")
        if self.reuse_concentration < 0:
            raise ValueError(f"reuse_concentration must be 0 or more, got {self.reuse_concentration}")


def round_schedule(proxies_per_round: list[int], n_domains: int, first_round_per_domain: int) -> list[int]:
    """The schedule a search runs: round 0 gets at least `first_round_per_domain` trials per domain,
    taken from the last rounds first (the total stays); 0 keeps the schedule as written.

    Guided rounds only help once the surrogate has seen enough of the simplex. With 18 domains and 52
    spread-out trials, RegMix's single round of 112 beat the default on all three objectives of the
    finer cut; one spread-out round of 89 (5 per domain) met or beat it on all three, and with 6
    domains the guided rounds won (docs/DECISIONS.md). A round left with fewer than 2 trials joins
    round 0."""
    rounds = [int(m) for m in proxies_per_round]
    want = first_round_per_domain * n_domains
    if first_round_per_domain <= 0 or rounds[0] >= want:
        return rounds
    need, later = want - rounds[0], rounds[1:]
    for i in reversed(range(len(later))):
        take = min(need, later[i])
        later[i], need = later[i] - take, need - take
    later = [m for m in later if m >= 2]
    return [sum(rounds) - sum(later), *later]


def round_kappa(kappa: float, r: int, n_rounds: int) -> float:
    """From optimism to caution: +kappa in round 1 (explore where the surrogate may be wrong in our
    favour), -kappa in the last round, whose trials only feed the final choice (rank by mean + kappa
    x std: exploit where the surrogate is both good and sure), linear in between.

    Measured on the demo corpus, round 2 of 3 from the round-1 surrogate: kappa +1 / 0 / -1 picked
    mixtures whose proxy losses had medians 4.79 / 4.55 / 4.20 (best measured so far: 4.20); at
    kappa >= 0 the picks sat where the surrogates disagreed most (std ~1 nat), far from any data."""
    if n_rounds <= 2 or r >= n_rounds - 1:
        return -kappa
    return kappa * (1 - 2 * (r - 1) / (n_rounds - 2))


def acquisition(mean: np.ndarray, std: np.ndarray, kappa: float, minimize: bool) -> np.ndarray:
    """Lower is better: the optimistic end of the surrogate's interval (a lower confidence bound on
    a loss; an upper one on a maximised metric, negated)."""
    return mean - kappa * std if minimize else -(mean + kappa * std)


def local_steps(
    best: np.ndarray,
    tokens: np.ndarray,
    n: int,
    target_tokens: float,
    s: GeneratorSettings,
    concentration: float,
    seed: int,
) -> np.ndarray:
    """Up to n bounded grid mixtures drawn around `best` (a domain at zero weight can come back)."""
    rng = np.random.default_rng(seed)
    bound = upper_bounds(tokens, target_tokens, s.max_epochs)
    alpha = concentration * (0.95 * np.asarray(best, dtype=np.float64) + 0.05 / len(best))
    w = rng.dirichlet(alpha, size=n)
    w[w < s.min_weight] = 0
    w = to_grid(w / w.sum(axis=1, keepdims=True), s.grid)
    return w[(w <= bound[None, :] + 1e-12).all(axis=1)]


def _one_per_cluster(points: np.ndarray, score: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Indices of the best-scoring point of each of k k-means clusters of `points`."""
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(points)
    picks = [
        np.flatnonzero(labels == c)[np.argmin(score[labels == c])] for c in range(k) if (labels == c).any()
    ]
    return np.array(picks, dtype=np.int64)


def propose(
    predict: Predict,
    tokens: np.ndarray,
    m: int,
    target_tokens: float,
    s: GeneratorSettings = GeneratorSettings(),
    seed: int = 42,
    p: ProposalSettings = ProposalSettings(),
    minimize: bool = True,
    exclude: set[str] | frozenset = frozenset(),
    best_measured: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """m new mixtures for the next round: (weights, predicted mean, predicted std, kind of each pick).

    Mixtures already tried (`exclude`) are skipped."""
    pool = np.unique(sample_pool(tokens, p.pool_size, target_tokens, s, seed), axis=0)
    pool = pool[[mixture_id(w, s.grid) not in exclude for w in pool]]
    mean, std = (np.asarray(a, dtype=np.float64) for a in predict(pool))
    n_top = max(m * m, 128)
    if p.proposal == "climb":
        top = np.argsort(mean if minimize else -mean, kind="stable")[:n_top]
        if len(top) < m:
            raise MixtureShortfall(
                f"only {len(top)} untried mixtures in a pool of {p.pool_size}; cannot pick {m}"
            )
        pick = np.random.default_rng(seed + 1).choice(top, size=m, replace=False)
        out, kinds = pool[pick], ["predicted"] * m
        mu, sd = mean[pick], std[pick]
    else:
        n_local = (
            min(max(1, int(round(p.local_share * m))), m - 1) if best_measured is not None and m > 1 else 0
        )
        acq = acquisition(mean, std, p.kappa, minimize)
        top = np.argsort(acq, kind="stable")[:n_top]
        if len(top) < m - n_local:
            raise MixtureShortfall(
                f"only {len(top)} untried mixtures in a pool of {p.pool_size}; cannot pick {m}"
            )
        pick = top[_one_per_cluster(pool[top], acq[top], m - n_local, seed + 1)]
        out, kinds, mu, sd = pool[pick], ["lcb"] * len(pick), mean[pick], std[pick]
        if n_local:
            assert best_measured is not None  # n_local > 0 only with a best measured mixture
            taken = set(exclude) | {mixture_id(w, s.grid) for w in out}
            near = local_steps(
                best_measured, tokens, p.local_draws, target_tokens, s, p.local_concentration, seed + 2
            )
            near = np.unique(near, axis=0)
            near = near[[mixture_id(w, s.grid) not in taken for w in near]]
            if len(near):
                n_mean, n_std = (np.asarray(a, dtype=np.float64) for a in predict(near))
                keep = np.argsort(acquisition(n_mean, n_std, p.kappa, minimize), kind="stable")[:n_local]
                out, mu, sd = (
                    np.vstack([out, near[keep]]),
                    np.append(mu, n_mean[keep]),
                    np.append(sd, n_std[keep]),
                )
                kinds += ["local"] * len(keep)
        if (
            len(out) < m
        ):  # too few untried local steps survived the bound: the next best of the top set fill in
            taken = {mixture_id(w, s.grid) for w in out}
            extra = [i for i in top if mixture_id(pool[i], s.grid) not in taken][: m - len(out)]
            out, mu, sd = np.vstack([out, pool[extra]]), np.append(mu, mean[extra]), np.append(sd, std[extra])
            kinds += ["lcb"] * len(extra)
    order = np.argsort(mu if minimize else -mu, kind="stable")
    return out[order], mu[order], sd[order], [kinds[i] for i in order]


def best_mixture(
    predict: Callable[[np.ndarray], np.ndarray],
    tokens: np.ndarray,
    target_tokens: float,
    s: GeneratorSettings = GeneratorSettings(),
    seed: int = 42,
    pool_size: int = 100_000,
    minimize: bool = True,
    method: str = "argmax",
    top_k: int = 128,
    bounded: bool = True,
) -> np.ndarray:
    """The surrogate's optimum over a pool: the predicted best (CLIMB) or the mean of the top-k
    (RegMix). `predict` returns predicted means."""
    if method not in ("argmax", "topk_mean"):
        raise ValueError(f"final mixture method must be 'argmax' or 'topk_mean', not {method!r}")
    pool = np.unique(sample_pool(tokens, pool_size, target_tokens, s, seed, bounded), axis=0)
    pred = np.asarray(predict(pool), dtype=np.float64)
    order = np.argsort(pred if minimize else -pred, kind="stable")
    if method == "argmax":
        w = pool[order[0]]
    else:
        w = pool[order[:top_k]].mean(axis=0)  # a convex combination of bounded mixtures stays bounded
    return to_grid(w[None, :], s.grid)[0]
