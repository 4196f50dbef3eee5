"""The proxies' view of the corpus: BPE token ids per kept document (in per-shard files), its
super-cluster, and one search's targets.

Each target is held as two parts (core.targets.split): the search part, which every trial scores and
the search optimises, and the evaluation part, which only verification trials score, for reporting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mix_assets.core.proxies import bpe, ngram, sampling
from mix_assets.core.storage import AnyPath, as_path, load_npy, local_file, read_json, read_parquet

EVAL_PREFIX = "eval_"  # metric name of a target's evaluation part: eval_<target>


class TokenFile:
    """One shard's token ids (a .npy file), read a document at a time with pread. Not memory-mapped:
    the kernel maps the pages around each page a mapping touches, so a sample spread over a large
    corpus made a trial's resident memory grow with the corpus (0.9 GB of token pages at 1M
    documents for 16 trials of 200k tokens). A read takes only the bytes asked for."""

    def __init__(self, path: AnyPath):
        self.path = str(local_file(path))
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            _, _, self.dtype = (
                np.lib.format.read_array_header_1_0(f)
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0(f)
            )
            self.start = f.tell()

    def read(self, spans: list[tuple[int, int]]) -> list[np.ndarray]:
        """Token ids [lo, hi) of each span, one open file for all of them."""
        item = self.dtype.itemsize
        with open(self.path, "rb", buffering=0) as f:
            fd = f.fileno()
            return [
                np.frombuffer(os.pread(fd, (hi - lo) * item, self.start + lo * item), dtype=self.dtype)
                for lo, hi in spans
            ]


@dataclass
class ProxyCorpus:
    """One search's documents in proxy tokens. The token ids stay in their per-shard files: a trial
    reads only the documents it samples, so its memory follows its budget."""

    shards: list[tuple[TokenFile, np.ndarray]]  # per shard: token ids (uint16), offsets
    doc_shard: np.ndarray  # per document of the search: its shard's index, its row there
    doc_row: np.ndarray
    domains: np.ndarray  # super-cluster per document
    lengths: np.ndarray  # proxy tokens per document
    targets: dict[str, list[np.ndarray]]  # search parts
    target_weights: dict[str, float]
    vocab_size: int
    eval_targets: dict[str, list[np.ndarray]] | None = None  # evaluation parts

    def domain_tokens(self, n_domains: int) -> np.ndarray:
        return np.bincount(self.domains, weights=self.lengths, minlength=n_domains)

    def documents(self, rows: np.ndarray | None = None) -> list[np.ndarray]:
        """Token ids of the search's documents `rows` (default: all of them)."""
        rows = np.arange(len(self.domains)) if rows is None else np.asarray(rows)
        out: list[np.ndarray] = [np.zeros(0, np.uint16)] * len(rows)
        shard, row = self.doc_shard[rows], self.doc_row[rows]
        for s in np.unique(shard):
            at = np.flatnonzero(shard == s)
            tokens, offsets = self.shards[s]
            spans = [(int(offsets[r]), int(offsets[r + 1])) for r in row[at]]
            for i, doc in zip(at, tokens.read(spans)):
                out[i] = doc
        return out

    def sample(
        self, weights: np.ndarray, token_budget: int, seed: int, max_epochs: float, pool_share: float = 1.0
    ) -> list[np.ndarray]:
        return self.documents(
            sampling.draw(self.domains, self.lengths, weights, token_budget, seed, max_epochs, pool_share)
        )

    def scored_targets(self, evaluate: bool = False) -> dict[str, list[np.ndarray]]:
        """What a trial scores: the search parts, plus the evaluation parts (eval_<name>) when asked."""
        if not evaluate:
            return self.targets
        if not self.eval_targets:
            raise ValueError("this search has no evaluation parts; rematerialize its search_targets")
        return {**self.targets, **{EVAL_PREFIX + k: v for k, v in self.eval_targets.items()}}

    @classmethod
    def load(cls, folder: str | Path, targets: str | Path) -> ProxyCorpus:
        """The per-shard token files in `folder` (proxy_corpus), framed by one search's
        search_targets folder: its documents, their super-clusters, and its tokenized targets."""
        root, tfolder = as_path(folder), as_path(targets)
        tmeta = read_json(tfolder / "meta.json")
        parts: dict[str, dict[str, list[np.ndarray]]] = {}
        for part in ("target", "eval"):
            parts[part] = {}
            for name in tmeta["target_weights"]:
                if (tfolder / f"{part}-{name}.npy").exists():
                    flat, off = (
                        load_npy(tfolder / f"{part}-{name}.npy"),
                        load_npy(tfolder / f"{part}-{name}.offsets.npy"),
                    )
                    parts[part][name] = bpe.split(flat, off)
        shards = [
            (TokenFile(root / f"{k}.npy"), load_npy(root / f"{k}.offsets.npy")) for k in tmeta["shards"]
        ]
        docs = read_parquet(tfolder / "documents.parquet", ["shard", "row", "super_cluster", "n_tokens"])
        return cls(
            shards,
            docs["shard"].to_numpy(),
            docs["row"].to_numpy(),
            docs["super_cluster"].to_numpy(),
            docs["n_tokens"].to_numpy(),
            parts["target"],
            tmeta["target_weights"],
            tmeta["vocab_size"],
            parts["eval"] or None,
        )


def objective(metrics: dict[str, float], target_weights: dict[str, float], prefix: str = "") -> float:
    """Weighted mean of the target metrics: the single number the search optimises (prefix
    `eval_`: the same over the evaluation parts)."""
    total = sum(target_weights.values())
    return sum(metrics[prefix + name] * w for name, w in target_weights.items()) / total


def add_objectives(metrics: dict[str, float], target_weights: dict[str, float]) -> dict[str, float]:
    metrics["objective"] = objective(metrics, target_weights)
    if all(EVAL_PREFIX + n in metrics for n in target_weights):
        metrics["eval_objective"] = objective(metrics, target_weights, EVAL_PREFIX)
    return metrics


def ngram_trial(
    corpus: ProxyCorpus,
    weights: np.ndarray,
    token_budget: int,
    seed: int,
    max_epochs: float,
    order: int = 3,
    discount: float = 0.75,
    evaluate: bool = False,
    pool_share: float = 1.0,
) -> dict[str, float]:
    """One proxy: a Kneser-Ney model on the mixture's sample, scored on the targets. `seed` is the
    replicate seed, shared by every mixture of a round (common random numbers)."""
    return ngram_trial_documents(
        corpus, weights, token_budget, seed, max_epochs, order, discount, evaluate, pool_share
    )[0]


def ngram_trial_documents(
    corpus: ProxyCorpus,
    weights: np.ndarray,
    token_budget: int,
    seed: int,
    max_epochs: float,
    order: int = 3,
    discount: float = 0.75,
    evaluate: bool = False,
    pool_share: float = 1.0,
) -> tuple[dict[str, float], dict[str, dict]]:
    """ngram_trial, and each search part's per-document losses: target -> {"nll": nats, "tokens": n}
    per document, what the verified choice needs to tell a real gain from the target's sampling."""
    train = corpus.sample(weights, token_budget, seed, max_epochs, pool_share)
    docs = ngram.document_losses(train, corpus.scored_targets(evaluate), corpus.vocab_size, order, discount)
    metrics = add_objectives(
        {k: float(nll.sum() / n.sum()) for k, (nll, n) in docs.items()}, corpus.target_weights
    )
    return metrics, {
        k: {"nll": nll.tolist(), "tokens": n.tolist()} for k, (nll, n) in docs.items() if k in corpus.targets
    }
