"""The proxies' view of the corpus: BPE token ids per kept document, its super-cluster, the targets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mix_assets.core.proxies import bpe, ngram, sampling
from mix_assets.core.storage import as_path, load_npy, read_json, read_npy, read_parquet


@dataclass
class ProxyCorpus:
    tokens: np.ndarray  # uint16, every kept document's ids concatenated (memory-mapped)
    offsets: np.ndarray  # int64, len(docs) + 1
    domains: np.ndarray  # super-cluster per document
    targets: dict[str, list[np.ndarray]]
    target_weights: dict[str, float]
    vocab_size: int

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def domain_tokens(self, n_domains: int) -> np.ndarray:
        return np.bincount(self.domains, weights=self.lengths, minlength=n_domains)

    def sample(self, weights: np.ndarray, token_budget: int, seed: int, max_epochs: float) -> list[np.ndarray]:
        rows = sampling.draw(self.domains, self.lengths, weights, token_budget, seed, max_epochs)
        return bpe.split(self.tokens, self.offsets, rows)

    @classmethod
    def load(cls, folder: str | Path) -> "ProxyCorpus":
        folder = as_path(folder)
        meta = read_json(folder / "meta.json")
        targets = {}
        for name in meta["target_weights"]:
            flat, off = load_npy(folder / f"target-{name}.npy"), load_npy(folder / f"target-{name}.offsets.npy")
            targets[name] = bpe.split(flat, off)
        docs = read_parquet(folder / "docs.parquet")
        return cls(read_npy(folder / "tokens.npy"), load_npy(folder / "offsets.npy"),
                   docs["super_cluster"].to_numpy(), targets, meta["target_weights"], meta["vocab_size"])


def objective(metrics: dict[str, float], target_weights: dict[str, float]) -> float:
    """Weighted mean of the target metrics: the single number the search optimises."""
    total = sum(target_weights.values())
    return sum(metrics[name] * w for name, w in target_weights.items()) / total


def trial_seed(mixture_id: str, seed: int) -> int:
    """A trial's seed depends on its mixture and the search seed only, not on run order."""
    return (int(mixture_id[:8], 16) ^ seed) & 0x7FFFFFFF


def ngram_trial(corpus: ProxyCorpus, weights: np.ndarray, token_budget: int, seed: int, max_epochs: float,
                order: int = 3, discount: float = 0.75) -> dict[str, float]:
    train = corpus.sample(weights, token_budget, seed, max_epochs)
    metrics = ngram.cross_entropy(train, corpus.targets, corpus.vocab_size, order, discount)
    metrics["objective"] = objective(metrics, corpus.target_weights)
    return metrics
