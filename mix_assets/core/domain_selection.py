"""Data selection for domain adaptation (Iter & Grangier 2021; DSIR, Xie et al. 2023; METHODS §5-6).

Each method scores every generic document for closeness to a small in-domain sample; the top
fraction (or a sample by importance) is selected. The whole-corpus functions (`classifier_scores`,
`contrastive_scores`, `dsir_scores`) suit a corpus in memory; the fit/score pairs below them let the
selection asset stream: fit on bounded samples, then score shard by shard. Models fitted on generic
documents are cross-fitted by halves (`half`), so no document is scored by a model it trained.
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
    neg = generic if extra_generic is None else extra_generic
    return fit_classifier(neg, in_domain, seed).decision_function(generic)


def contrastive_scores(
    generic: list[np.ndarray], in_domain: list[np.ndarray], vocab_size: int, order: int = 3
) -> np.ndarray:
    """Moore-Lewis cross-entropy difference, length-normalised: [log p_in(x) - log p_base(x)] / |x|."""
    return cross_entropy_difference(
        fit_ngram(in_domain, vocab_size, order), fit_ngram(generic, vocab_size, order), generic
    )


def hashed_ngrams(text: str, buckets: int = 10_000) -> np.ndarray:
    """Bucket ids of a document's lower-cased unigrams and bigrams (DSIR's features)."""
    words = _TOKEN.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return np.fromiter((zlib.crc32(g.encode()) % buckets for g in grams), dtype=np.int64, count=len(grams))


def dsir_scores(
    generic: list[str], target: list[str], buckets: int = 10_000, smoothing: float = 1.0
) -> np.ndarray:
    """log importance weight per document: sum over its n-gram buckets of log q_target - log q_raw."""
    return dsir_score(generic, dsir_log_ratio(ngram_counts(generic, buckets), target, buckets, smoothing))


def half(doc_ids: list[str]) -> np.ndarray:
    """0 or 1 per document, from its id alone: the two halves of cross-fitting."""
    return np.fromiter((zlib.crc32(d.encode()) & 1 for d in doc_ids), dtype=np.int8, count=len(doc_ids))


def fit_classifier(generic: np.ndarray, in_domain: np.ndarray, seed: int = 0):
    """Logistic regression, in-domain (1) vs generic (0), classes weighted equally."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([in_domain, generic])
    y = np.concatenate([np.ones(len(in_domain)), np.zeros(len(generic))])
    return LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed).fit(x, y)


def fit_ngram(seqs: list[np.ndarray], vocab_size: int, order: int = 3) -> ngram.KneserNey:
    return ngram.KneserNey(vocab_size, order).fit(seqs)


def cross_entropy_difference(lm_in, lm_base, seqs: list[np.ndarray]) -> np.ndarray:
    """[log p_in(x) - log p_base(x)] / |x| per sequence (Moore-Lewis, length-normalised)."""
    a, n = lm_in.document_log_probs(seqs)
    b, _ = lm_base.document_log_probs(seqs)
    return (a - b) / np.maximum(n, 1)


def ngram_counts(texts: list[str], buckets: int = 10_000) -> np.ndarray:
    """DSIR's bucket counts of a batch: sum these over shards for the raw distribution."""
    feats = [hashed_ngrams(t, buckets) for t in texts]
    return np.bincount(np.concatenate(feats), minlength=buckets) if feats else np.zeros(buckets, np.int64)


def dsir_log_ratio(raw_counts: np.ndarray, target: list[str], buckets: int = 10_000, smoothing: float = 1.0):
    """log q_target - log q_raw per bucket, both smoothed."""
    raw = raw_counts + smoothing
    tgt = ngram_counts(target, buckets) + smoothing
    return np.log(tgt / tgt.sum()) - np.log(raw / raw.sum())


def dsir_score(texts: list[str], log_ratio: np.ndarray) -> np.ndarray:
    return np.array([log_ratio[hashed_ngrams(t, len(log_ratio))].sum() for t in texts])


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
