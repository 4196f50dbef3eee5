"""Interpolated Kneser-Ney n-gram language model over token ids, counted with numpy.

Fast enough for CLIMB's inner loop on a CPU: a million training tokens are counted and a target is
scored in well under a second. Documents never share an n-gram: each starts with n-1 BOS ids.
"""

from __future__ import annotations

import numpy as np


def _grams(seqs: list[np.ndarray], order: int, base: int) -> np.ndarray:
    """Every `order`-gram of every sequence (BOS-padded) as one int64 key in base `base`."""
    bos = base - 1
    padded = [np.concatenate([np.full(order - 1, bos, np.int64), s.astype(np.int64)]) for s in seqs if len(s)]
    if not padded:
        return np.zeros(0, np.int64)
    keys = []
    for p in padded:
        k = np.zeros(len(p) - order + 1, np.int64)
        for j in range(order):
            k = k * base + p[j : len(p) - order + 1 + j]
        keys.append(k)
    return np.concatenate(keys)


class KneserNey:
    """P(w | h) with absolute discount `discount` at every order and continuation counts below the top."""

    def __init__(self, vocab_size: int, order: int = 3, discount: float = 0.75):
        if order < 1 or (vocab_size + 1) ** order >= 2**62:
            raise ValueError(f"order {order} with vocabulary {vocab_size} does not fit int64 keys")
        self.v, self.order, self.d, self.base = vocab_size, order, discount, vocab_size + 1

    def fit(self, seqs: list[np.ndarray]) -> KneserNey:
        n, b = self.order, self.base
        top = _grams(seqs, n, b)
        self.tables = {}
        keys, counts = np.unique(top, return_counts=True)
        for k in range(n, 0, -1):
            # one table per order: sorted n-gram keys with (continuation) counts, and per context:
            # total count and number of distinct followers
            ctx = keys // b
            ukeys_ctx, starts = np.unique(ctx, return_index=True)
            totals = np.add.reduceat(counts, starts) if len(counts) else counts
            followers = np.diff(np.append(starts, len(keys)))
            self.tables[k] = (
                keys,
                counts.astype(np.float64),
                ukeys_ctx,
                totals.astype(np.float64),
                followers.astype(np.float64),
            )
            if k > 1:  # continuation counts: distinct left extensions of each shorter gram
                keys, counts = np.unique(keys % (b ** (k - 1)), return_counts=True)
        return self

    @staticmethod
    def _lookup(sorted_keys: np.ndarray, values: np.ndarray, q: np.ndarray) -> np.ndarray:
        if len(sorted_keys) == 0:
            return np.zeros(len(q))
        i = np.minimum(np.searchsorted(sorted_keys, q), len(sorted_keys) - 1)
        return np.where(sorted_keys[i] == q, values[i], 0.0)

    def log_prob(self, seqs: list[np.ndarray]) -> tuple[float, int]:
        """(sum of natural-log probabilities, number of predicted tokens) over `seqs`."""
        lp, n = self.document_log_probs(seqs)
        return float(lp.sum()), int(n.sum())

    def document_log_probs(self, seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per sequence: (sum of natural-log probabilities, number of predicted tokens)."""
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        # each distinct gram is looked up once: text repeats its n-grams, and sorted queries walk
        # the sorted tables in order (4x faster on the demo corpus, the same values)
        grams, inverse = np.unique(_grams(seqs, self.order, self.base), return_inverse=True)
        logp = self._log_p(grams)[inverse]
        starts = np.concatenate(
            [[0], np.cumsum(lengths)[:-1]]
        )  # one gram per token: an empty sequence has none
        sums = np.add.reduceat(logp, starts[lengths > 0]) if len(logp) else np.zeros(0)
        out = np.zeros(len(seqs))
        out[lengths > 0] = sums
        return out, lengths

    def _log_p(self, grams: np.ndarray) -> np.ndarray:
        n, b = self.order, self.base
        if len(grams) == 0:
            return np.zeros(0)
        p = np.full(len(grams), 1.0 / self.v)  # order 0: uniform over the vocabulary
        for k in range(1, n + 1):
            keys, counts, ctx_keys, totals, followers = self.tables[k]
            q = grams % (b**k)
            c = self._lookup(keys, counts, q)
            tot = self._lookup(ctx_keys, totals, q // b)
            fol = self._lookup(ctx_keys, followers, q // b)
            seen = tot > 0
            safe = np.where(seen, tot, 1.0)
            p = np.where(seen, np.maximum(c - self.d, 0) / safe + self.d * fol / safe * p, p)
        return np.log(p)


def document_losses(
    train: list[np.ndarray],
    targets: dict[str, list[np.ndarray]],
    vocab_size: int,
    order: int = 3,
    discount: float = 0.75,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per target, per document: (nats, tokens) under a KN model trained on `train`."""
    lm = KneserNey(vocab_size, order, discount).fit(train)
    out = {}
    for name, seqs in targets.items():
        lp, n = lm.document_log_probs(seqs)
        if n.sum() == 0:
            raise ValueError(f"target '{name}' has no tokens")
        out[name] = (-lp, n)
    return out


def cross_entropy(
    train: list[np.ndarray],
    targets: dict[str, list[np.ndarray]],
    vocab_size: int,
    order: int = 3,
    discount: float = 0.75,
) -> dict[str, float]:
    """Per-token cross-entropy (nats) of each target under a KN model trained on `train`."""
    return {
        k: float(nll.sum() / n.sum())
        for k, (nll, n) in document_losses(train, targets, vocab_size, order, discount).items()
    }
