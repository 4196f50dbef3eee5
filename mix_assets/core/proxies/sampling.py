"""Training samples for proxies: documents drawn per domain until each domain's token share is met."""

from __future__ import annotations

import numpy as np


def domain_order(docs: np.ndarray, epochs: int, seed: int, domain: int) -> np.ndarray:
    """`docs` in the order a replicate reads them: one seeded permutation per epoch.

    The order depends on (seed, domain) alone, never on the mixture: at one replicate seed every
    mixture reads the same documents of a domain in the same order and only stops earlier or later
    (common random numbers, METHODS §7), so score differences between mixtures are not sampling luck.
    """
    rng = np.random.default_rng([seed, domain])
    return np.concatenate([rng.permutation(docs) for _ in range(max(epochs, 1))])


def pool(docs: np.ndarray, lengths: np.ndarray, share: float, seed: int, domain: int) -> np.ndarray:
    """A seeded subset of `docs` holding `share` of their tokens (at least one document)."""
    perm = np.random.default_rng([seed, domain, 1]).permutation(docs)
    cum = np.cumsum(lengths[perm])
    return np.sort(perm[: int(np.searchsorted(cum, share * cum[-1])) + 1])


def draw(
    domains: np.ndarray,
    lengths: np.ndarray,
    weights: np.ndarray,
    token_budget: int,
    seed: int,
    max_epochs: float = np.inf,
    pool_share: float = 1.0,
) -> np.ndarray:
    """Document indices whose tokens follow `weights` over `domains` at `token_budget` tokens.

    Each domain's documents are read in `domain_order`, cycling again (a new epoch) when the domain
    runs out; more than `max_epochs` passes is refused, not silently allowed.

    `pool_share` < 1 reads only that share of each domain's tokens (a seeded subset per replicate
    and domain, the same for every mixture): a proxy of budget B standing in for a run of T tokens
    takes pool_share = B / T, so it repeats each domain as often as that run would.
    """
    domains, lengths = np.asarray(domains), np.asarray(lengths, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    picked = []
    for d, w in enumerate(weights):
        want = int(round(w * token_budget))
        if want <= 0:
            continue
        docs = np.flatnonzero(domains == d)
        if pool_share < 1.0 and len(docs):
            docs = pool(docs, lengths, pool_share, seed, d)
        have = int(lengths[docs].sum())
        if have == 0:
            raise ValueError(f"domain {d} has weight {w:.4f} but no tokens")
        epochs = want / have
        if epochs > max_epochs + 1e-9:
            raise ValueError(
                f"domain {d} would be repeated {epochs:.1f} times (weight {w:.4f} x {token_budget} tokens "
                f"over its {have} tokens), over max_epochs={max_epochs}"
            )
        order = domain_order(docs, int(np.ceil(epochs)), seed, d)
        cum = np.cumsum(lengths[order])
        picked.append(order[: int(np.searchsorted(cum, want)) + 1])
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
