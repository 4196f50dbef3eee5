"""The embedded corpus as bench_search sees it: one clustering cut (the demo one
or a finer Ward cut) with its domains, the targets' two parts, the proxy trial (trigram Kneser-Ney
on proxy BPE, common random numbers) and the judge (a word-level 4-gram Kneser-Ney on the
evaluation part). Needs `make run` first (it reads data/work)."""

import copy
import dataclasses
import re
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from mix_assets.assets.documents import kept_documents, super_cluster_of
from mix_assets.core import generator, merge, targets
from mix_assets.core.proxies import bpe, ngram, sampling
from mix_assets.core.proxies.corpus import ProxyCorpus
from mix_assets.core.storage import load_npy, read_parquet
from mix_assets.resources import ProjectStorage, Warehouse

WORK = Path("data/work")
BUDGET, MAX_EPOCHS, POOL, REPLICATES, OFFSET = 1_000_000, 15.0, 100_000, 3, 99_991
# The run each mixture is for is the judge's: 2M tokens. It bounds the weights (target_tokens) and,
# unless --no-repeat-as-run, proxies draw from BUDGET / JUDGE_TOKENS of each domain so that they
# repeat a domain as often as the judge's run does (SearchSettings.repeat_as_run).
JUDGE_TOKENS = 2 * BUDGET
# The judge's samples of each mixture (draw i is the same for every mixture). Runs recorded before
# 2026-12-02 used 3, whose error on one mixture (0.021 nats for natural on all_domains) is the size
# of the gaps the tables decide (docs/DECISIONS.md, "The judge").
JUDGE_SAMPLES = 60
POOL_SHARE = BUDGET / JUDGE_TOKENS
OBJECTIVES = {
    "mathematics": {"mathematics": 1.0},
    "all_domains": {"all_domains": 1.0},
    "mix": {"mathematics": 0.5, "all_domains": 0.5},
}
WORDS = re.compile(r"\w+|[^\w\s]")


class Bench:
    """One clustering cut: the proxy corpus with its domains, the targets' two parts, the judge."""

    def __init__(self, cut: str, n_fine: int, judge_samples: int = JUDGE_SAMPLES):
        self.judge_samples = judge_samples
        base = ProxyCorpus.load(WORK / "proxy_corpus", WORK / "search_targets" / "demo")
        docs = read_parquet(WORK / "search_targets" / "demo" / "documents.parquet")
        warehouse = Warehouse(database=str(WORK.parent / "warehouse.duckdb"))
        kept = pl.concat(kept_documents(ProjectStorage(work_dir=str(WORK)), warehouse, ["text"])).select(
            "doc_id", "cluster", "text"
        )
        texts = pl.DataFrame({"doc_id": docs["doc_id"]}).join(
            kept, on="doc_id", how="left", maintain_order="left"
        )
        domains = docs["super_cluster"].to_numpy()
        if cut == "fine":
            mapping = super_cluster_of(warehouse)
            cents = load_npy(WORK / "centroids" / "all.npy")
            fine = merge.merge(cents[mapping["cluster"].to_numpy()], "ward", n_super=n_fine)
            domains = np.array(
                [dict(zip(mapping["cluster"], fine))[c] for c in texts["cluster"]], dtype=np.int64
            )
        self.n = int(domains.max()) + 1
        tok = Tokenizer.from_file(str(WORK / "proxy_tokenizer" / "tokenizer.json"))
        search, held = {}, {}
        for name in ("mathematics", "all_domains"):
            t = pl.read_parquet(f"data/targets/{name}.parquet")["text"].to_list()
            s_rows, e_rows = targets.split(t, 0.5, 42)
            search[name] = bpe.split(*bpe.encode(tok, [t[i] for i in s_rows]))
            held[name] = [t[i] for i in e_rows]
        self.corpus = dataclasses.replace(
            base, domains=domains, targets=search, target_weights={}, eval_targets=None
        )
        self.tokens = self.corpus.domain_tokens(self.n)
        # the judge: words, not the proxy's BPE; its own vocabulary (30k most frequent, rest unknown)
        words = [WORDS.findall(x.lower()) for x in texts["text"]]
        vocab = {w: i for i, (w, _) in enumerate(Counter(w for ws in words for w in ws).most_common(30_000))}
        unk = len(vocab)
        self.judge_docs = [np.array([vocab.get(w, unk) for w in ws], dtype=np.int64) for ws in words]
        self.judge_eval = {
            k: [np.array([vocab.get(w, unk) for w in WORDS.findall(x.lower())], dtype=np.int64) for x in v]
            for k, v in held.items()
        }
        self.judge_vocab = unk + 1
        self.absent = 0  # a last domain that no mixture weighs (see over)
        self.trials, self.judged, self.used = {}, {}, 0

    def over(self, domains: np.ndarray) -> "Bench":
        """This bench with other domains, fresh trials and judgements. A document at -1 is not in the
        corpus yet (bench_reuse's earlier corpus): it sits in a last domain that no mixture weighs."""
        b = copy.copy(self)
        b.n = int(domains.max()) + 1
        b.absent = int((domains < 0).any())
        b.corpus = dataclasses.replace(self.corpus, domains=np.where(domains >= 0, domains, b.n))
        b.tokens = b.corpus.domain_tokens(b.n + b.absent)[: b.n]
        b.trials, b.judged, b.used = {}, {}, 0
        return b

    def proxy(self, w: np.ndarray, seed: int) -> dict:
        key = (generator.mixture_id(w), seed)
        if key not in self.trials:
            w = np.append(w, np.zeros(self.absent))
            train = self.corpus.sample(w, BUDGET, seed, MAX_EPOCHS, POOL_SHARE)
            docs = ngram.document_losses(train, self.corpus.targets, self.corpus.vocab_size, 3)
            self.trials[key] = {
                **{k: float(nll.sum() / n.sum()) for k, (nll, n) in docs.items()},
                "documents": {k: {"nll": nll, "tokens": n} for k, (nll, n) in docs.items()},
            }
        self.used += 1
        return self.trials[key]

    def judge(self, w: np.ndarray) -> dict:
        key = generator.mixture_id(w)
        if key not in self.judged:
            runs, w = [], np.append(w, np.zeros(self.absent))
            for i in range(self.judge_samples):  # draw i is the same whatever judge_samples is
                rows = sampling.draw(self.corpus.domains, self.corpus.lengths, w, JUDGE_TOKENS, 10_000 + i)
                lm = ngram.KneserNey(self.judge_vocab, 4).fit([self.judge_docs[r] for r in rows])
                scored = {k: lm.log_prob(v) for k, v in self.judge_eval.items()}
                runs.append({k: -lp / n for k, (lp, n) in scored.items()})
            self.judged[key] = runs
        return {k: float(np.mean([r[k] for r in self.judged[key]])) for k in self.judge_eval}

    def judge_se(self, w: np.ndarray, obj: dict) -> float:
        """The judge's own noise: the standard error over its samples of the objective. Natural and
        uniform have no spread over search seeds, so this is the only error their rows carry."""
        self.judge(w)
        v = [objective(r, obj) for r in self.judged[generator.mixture_id(w)]]
        return float(np.std(v, ddof=1) / np.sqrt(len(v)))


def objective(metrics: dict, weights: dict) -> float:
    return sum(metrics[k] * v for k, v in weights.items()) / sum(weights.values())
