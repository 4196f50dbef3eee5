"""Mixture quality on the embedded corpus: CLIMB (3 rounds) vs natural, uniform, best-of-N random and
a one-round RegMix-style search at the same number of proxies; and proxies per minute per backend.

Needs `make run` first (it reads data/work/proxy_corpus). Each target file is split in two: the
search optimises the first half, the final mixtures are judged on the second half by a stronger
model (4-gram, twice the proxy token budget, mean of 3 samples).
    python bench/bench_search.py [--seeds 0 1 2] [--schedule 64 32 16]
"""
import argparse
import json
import time

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from mix_assets.core import mixtures, predictor
from mix_assets.core.proxies import bpe, ngram
from mix_assets.core.proxies.corpus import ProxyCorpus, trial_seed
from mix_assets.core.proxies.gpt import GPTSettings, gpt_trial

WORK = "data/work/proxy_corpus"
BUDGET, MAX_EPOCHS = 1_000_000, 15.0


def halves(tok, name: str) -> tuple[list, list]:
    texts = pl.read_parquet(f"data/targets/{name}.parquet")["text"].to_list()
    seqs = bpe.split(*bpe.encode(tok, texts))
    return seqs[0::2], seqs[1::2]


def score(corpus, w, target, seed, budget=BUDGET, order=3):
    train = corpus.sample(w, budget, seed, MAX_EPOCHS)
    return ngram.cross_entropy(train, {"t": target}, corpus.vocab_size, order)["t"]


def search(corpus, tokens, target, schedule, seed, final_method):
    gen = mixtures.GeneratorSettings()
    xs, ys, model = [], [], None
    for r, m in enumerate(schedule):
        tried = {mixtures.mixture_id(x) for x in xs}
        if r == 0:
            cands = mixtures.generate(tokens, m, BUDGET, gen, seed + 1000 * r, tried)
        else:
            cands, _ = mixtures.propose(model.predict, tokens, m, BUDGET, gen, seed + 1000 * r, 100_000, True, tried)
        for w in cands:
            xs.append(w)
            ys.append(score(corpus, w, target, trial_seed(mixtures.mixture_id(w), seed)))
        model = predictor.fit(np.array(xs), np.array(ys), predictor.PredictorSettings(seed=seed))
    best = mixtures.best_mixture(model.predict, tokens, BUDGET, gen, seed + 7, 100_000, True, final_method)
    return best, np.array(xs), np.array(ys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--schedule", type=int, nargs="+", default=[64, 32, 16])
    ap.add_argument("--targets", nargs="+", default=["mathematics", "all_domains"])
    args = ap.parse_args()
    corpus = ProxyCorpus.load(WORK)
    tok = Tokenizer.from_file(f"{WORK}/tokenizer.json")
    n = len(json.load(open(f"{WORK}/meta.json"))["domain_tokens"])
    tokens = corpus.domain_tokens(n)
    total = sum(args.schedule)
    rows = []
    for name in args.targets:
        search_half, eval_half = halves(tok, name)

        def judge(w):
            return float(np.mean([score(corpus, w, eval_half, 10_000 + i, 2 * BUDGET, order=4) for i in range(3)]))

        for seed in args.seeds:
            start = time.perf_counter()
            climb, _, _ = search(corpus, tokens, search_half, args.schedule, seed, "argmax")
            regmix, _, _ = search(corpus, tokens, search_half, [total], seed, "topk_mean")
            rand = mixtures.generate(tokens, total, BUDGET, mixtures.GeneratorSettings(), seed + 555)
            rand_scores = [score(corpus, w, search_half, trial_seed(mixtures.mixture_id(w), seed)) for w in rand]
            finals = {"natural": tokens / tokens.sum(), "uniform": np.full(n, 1 / n), "random_best_of_n": rand[int(np.argmin(rand_scores))],
                      "regmix_1_round": regmix, "climb_3_rounds": climb}
            for method, w in finals.items():
                rows.append({"target": name, "seed": seed, "method": method, "eval_loss": judge(w)})
            print(f"{name} seed {seed}: {time.perf_counter() - start:.0f}s " + ", ".join(f"{r['method']}={r['eval_loss']:.4f}" for r in rows[-5:]), flush=True)
    table = pl.DataFrame(rows).group_by("target", "method").agg(pl.col("eval_loss").mean().alias("mean"), pl.col("eval_loss").std().alias("std")).sort("target", "mean")
    print(table)
    # throughput of each backend on this machine, at the default proxy budget
    w = tokens / tokens.sum()
    start = time.perf_counter()
    for i in range(10):
        score(corpus, w, search_half, i)
    ngram_s = (time.perf_counter() - start) / 10
    start = time.perf_counter()
    gpt_trial(corpus.sample(w, BUDGET, 0, MAX_EPOCHS), {"t": search_half}, corpus.vocab_size, BUDGET, GPTSettings(), 0)
    gpt_s = time.perf_counter() - start
    print(json.dumps({"ngram_proxies_per_minute": round(60 / ngram_s, 1), "gpt_proxies_per_minute": round(60 / gpt_s, 2),
                      "gpt_tokens_per_second": round(BUDGET / gpt_s), "proxy_token_budget": BUDGET}))


if __name__ == "__main__":
    main()
