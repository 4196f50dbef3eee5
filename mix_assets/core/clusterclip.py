"""ClusterClip sampling (Shao et al., 2024; METHODS §3): balanced over clusters, with a repetition clip.

Pick an active cluster uniformly, then one of its active documents uniformly; a document drawn
`clip` times retires, and a cluster with no active document retires. Rare clusters are up-weighted
early; as they are exhausted the draw drifts back to the natural distribution, and the clip stops
rare documents from being repeated into over-fitting. The output order is the training order.
"""

from __future__ import annotations

import numpy as np


class BudgetExceedsClip(ValueError):
    """The requested tokens need more repetitions than the clip allows."""


def schedule(
    clusters: np.ndarray, lengths: np.ndarray, token_budget: int, clip: int = 2, seed: int = 0
) -> np.ndarray:
    """Document indices in training order, until `token_budget` tokens are drawn."""
    clusters, lengths = np.asarray(clusters), np.asarray(lengths, dtype=np.int64)
    if clip < 1:
        raise ValueError(f"clip must be at least 1, got {clip}")
    capacity = int(lengths.sum()) * clip
    if token_budget > capacity:
        raise BudgetExceedsClip(
            f"{token_budget} tokens need more than clip={clip} passes over {int(lengths.sum())} tokens; "
            "raise the clip or lower the budget"
        )
    rng = np.random.default_rng(seed)
    # per cluster, its active documents; a retired one is swapped out to keep draws O(1)
    pools = {c: list(np.flatnonzero(clusters == c)) for c in np.unique(clusters)}
    active = [c for c in pools if pools[c]]
    drawn = np.zeros(len(lengths), dtype=np.int64)
    order, tokens = [], 0
    while tokens < token_budget:
        ci = int(rng.integers(len(active)))
        pool = pools[active[ci]]
        di = int(rng.integers(len(pool)))
        doc = pool[di]
        order.append(doc)
        tokens += int(lengths[doc])
        drawn[doc] += 1
        if drawn[doc] == clip:
            pool[di] = pool[-1]
            pool.pop()
            if not pool:
                active[ci] = active[-1]
                active.pop()
    return np.asarray(order, dtype=np.int64)


def uniform_schedule(
    clusters: np.ndarray,
    lengths: np.ndarray,
    weights: dict[int, float],
    token_budget: int,
    max_epochs: float,
    seed: int = 0,
) -> np.ndarray:
    """The plain alternative: each cluster's share of tokens, documents uniformly at random within it."""
    from mix_assets.core.proxies.sampling import draw

    ids = sorted(weights)
    index = {c: i for i, c in enumerate(ids)}
    dense = np.array([index.get(c, -1) for c in np.asarray(clusters)])
    order = draw(dense, lengths, np.array([weights[c] for c in ids]), token_budget, seed, max_epochs)
    return np.random.default_rng(seed + 1).permutation(order)
