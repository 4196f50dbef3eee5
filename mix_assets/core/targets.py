"""Target texts: a deterministic search / evaluation split, and the n-gram overlap check that keeps
evaluation text out of the corpus (METHODS §7)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

WORD = re.compile(r"\w+")


def split(texts: list[str], eval_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(search rows, evaluation rows) of a target's documents.

    Rows are ranked by a hash of their text and the seed, not by their position in the file, so the
    same documents land on the same side however the file is ordered. Each side gets at least one.
    """
    if not 0 < eval_fraction < 1:
        raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction}")
    n = len(texts)
    if n < 2:
        raise ValueError(
            f"a target needs at least 2 documents to split into search and evaluation parts, got {n}"
        )
    keys = [hashlib.sha256(f"{seed}\0{t}".encode()).digest() for t in texts]
    order = np.array(sorted(range(n), key=keys.__getitem__), dtype=np.int64)
    n_eval = min(max(int(round(n * eval_fraction)), 1), n - 1)
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def ngrams(text: str, n: int = 13) -> set[int]:
    """Hashes of the lower-cased word n-grams of a text (a text shorter than n words: the whole text)."""
    words = WORD.findall(text.lower())
    if len(words) < n:
        return {hash(" ".join(words))} if words else set()
    return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


def overlap_counts(texts: Iterable[str], reference: list[str], n: int = 13) -> np.ndarray:
    """For each of `reference`, how many of `texts` share at least one word n-gram with it."""
    owner: dict[int, list[int]] = {}
    for j, t in enumerate(reference):
        for g in ngrams(t, n):
            owner.setdefault(g, []).append(j)
    counts = np.zeros(len(reference), dtype=np.int64)
    for t in texts:
        hit = {j for g in ngrams(t, n) for j in owner.get(g, ())}
        counts[list(hit)] += 1
    return counts


def shares_ngram(texts: Iterable[str], reference: list[str], n: int = 13) -> np.ndarray:
    """Boolean mask over `texts`: True where a text shares a word n-gram with any reference text."""
    ref = set().union(*(ngrams(t, n) for t in reference)) if reference else set()
    return np.array([not ref.isdisjoint(ngrams(t, n)) for t in texts], dtype=bool)
