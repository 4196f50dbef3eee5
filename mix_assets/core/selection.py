"""Data selection for domain adaptation (Iter & Grangier 2021; DSIR, Xie et al. 2023; METHODS §5-6).

Each method scores every generic document for closeness to a small in-domain sample; the top
fraction (or a sample by importance) is selected.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from mix_assets.core.proxies import ngram

_TOKEN = re.compile(r"\w+|[^\w\s]")


def classifier_scores(
    generic: np.ndarray, in_domain: np.ndarray, seed: int = 0, extra_generic: np.ndarray | None = None
) -> np.ndarray:
    """In-domain logit of a logistic regression, in-domain (+1) vs generic (-1), classes weighted equally."""
    from sklearn.linear_model import LogisticRegression

    neg = generic if extra_generic is None else extra_generic
    x = np.vstack([in_domain, neg])
    y = np.concatenate([np.ones(len(in_domain)), np.zeros(len(neg))])
    model = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed).fit(x, y)
    return model.decision_function(generic)


def contrastive_scores(
    generic: list[np.ndarray], in_domain: list[np.ndarray], vocab_size: int, order: int = 3
) -> np.ndarray:
    """Moore-Lewis cross-entropy difference, length-normalised: [log p_in(x) - log p_base(x)] / |x|."""
    lm_in = ngram.KneserNey(vocab_size, order).fit(in_domain)
    lm_base = ngram.KneserNey(vocab_size, order).fit(generic)
    out = np.empty(len(generic))
    for i, seq in enumerate(generic):
        a, n = lm_in.log_prob([seq])
        b, _ = lm_base.log_prob([seq])
        out[i] = (a - b) / max(n, 1)
    return out


def hashed_ngrams(text: str, buckets: int = 10_000) -> np.ndarray:
    """Bucket ids of a document's lower-cased unigrams and bigrams (DSIR's features)."""
    words = _TOKEN.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return np.fromiter((zlib.crc32(g.encode()) % buckets for g in grams), dtype=np.int64, count=len(grams))


def dsir_scores(
    generic: list[str], target: list[str], buckets: int = 10_000, smoothing: float = 1.0
) -> np.ndarray:
    """log importance weight per document: sum over its n-gram buckets of log q_target - log q_raw."""
    feats = [hashed_ngrams(t, buckets) for t in generic]
    raw = (
        np.bincount(np.concatenate(feats), minlength=buckets) + smoothing
        if feats
        else np.full(buckets, smoothing)
    )
    tgt = (
        np.bincount(np.concatenate([hashed_ngrams(t, buckets) for t in target]), minlength=buckets)
        + smoothing
    )
    log_ratio = np.log(tgt / tgt.sum()) - np.log(raw / raw.sum())
    return np.array([log_ratio[f].sum() for f in feats])


def top_fraction(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Indices of the highest scores, ties broken by index (deterministic)."""
    k = int(round(fraction * len(scores)))
    return np.sort(np.lexsort((np.arange(len(scores)), -scores))[:k])


def gumbel_order(log_weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """A sampling order without replacement, probabilities proportional to exp(log_weights) (DSIR):
    its first k entries are a weighted sample of k."""
    g = np.random.default_rng(seed).gumbel(size=len(log_weights))
    return np.argsort(-(log_weights + g), kind="stable")


def gumbel_top_k(log_weights: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The sampled set of k (sorted indices)."""
    return np.sort(gumbel_order(log_weights, seed)[:k])
