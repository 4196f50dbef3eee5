"""Domain adaptation on the embedded corpus: an evaluation model trained on equal token budgets of
random, classifier-, contrastive- and DSIR-selected data, the CLIMB mixture, and ClusterClip vs
uniform sampling of that mixture; and SMART's time and memory at 10k and 100k examples.

Needs `make run` first. The in-domain sample is the first half of data/targets/mathematics.parquet,
the evaluation text its second half.
    python bench/bench_selection.py [--budget 500000]
"""

import argparse
import glob
import json
import time
import tracemalloc

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from mix_assets.assets.search_state import domains, final_mixture_of
from mix_assets.core import clusterclip, domain_selection, smart
from mix_assets.core.embed import encode
from mix_assets.core.proxies import bpe, ngram
from mix_assets.core.proxies.corpus import ProxyCorpus
from mix_assets.core.proxies.sampling import draw
from mix_assets.resources import ProjectStorage, Warehouse

WORK = "data/work"


def take_until(order: np.ndarray, lengths: np.ndarray, budget: int) -> np.ndarray:
    return order[: int(np.searchsorted(np.cumsum(lengths[order]), budget)) + 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=500_000)
    args = ap.parse_args()
    corpus = ProxyCorpus.load(f"{WORK}/proxy_corpus", f"{WORK}/search_targets/demo")
    tok = Tokenizer.from_file(f"{WORK}/proxy_tokenizer/tokenizer.json")
    docs = pl.read_parquet(
        f"{WORK}/search_targets/demo/documents.parquet", columns=["doc_id", "super_cluster"]
    )
    seqs, lengths = corpus.documents(), corpus.lengths
    texts = pl.read_parquet(f"{WORK}/raw_shards/*.parquet", columns=["doc_id", "text"])
    docs = docs.join(texts, on="doc_id", how="left", maintain_order="left")
    clusters = docs.join(
        pl.read_parquet(f"{WORK}/cluster_assignments/*.parquet", columns=["doc_id", "cluster"]),
        on="doc_id",
        how="left",
        maintain_order="left",
    )["cluster"].to_numpy()
    target = pl.read_parquet("data/targets/mathematics.parquet")["text"].to_list()
    sample_txt, eval_txt = target[0::2], target[1::2]
    sample_seq, eval_seq = bpe.split(*bpe.encode(tok, sample_txt)), bpe.split(*bpe.encode(tok, eval_txt))

    def judge(rows: np.ndarray) -> float:
        return ngram.cross_entropy([seqs[r] for r in rows], {"t": eval_seq}, corpus.vocab_size, order=4)["t"]

    emb = {}
    for f in sorted(glob.glob(f"{WORK}/embeddings/*.npy")):
        key = f.split("/")[-1][:-4]
        ids = pl.read_parquet(f"{WORK}/raw_shards/{key}.parquet", columns=["doc_id"])["doc_id"].to_list()
        emb.update(zip(ids, np.load(f)))
    x = np.stack([emb[d] for d in docs["doc_id"]])
    rows = {}
    rng = np.random.default_rng(0)
    rows["random"] = take_until(rng.permutation(len(seqs)), lengths, args.budget)
    start = time.perf_counter()
    s = domain_selection.classifier_scores(x, encode(sample_txt))
    rows["classifier"] = take_until(np.argsort(-s, kind="stable"), lengths, args.budget)
    t_cls = time.perf_counter() - start
    start = time.perf_counter()
    s = domain_selection.contrastive_scores(seqs, sample_seq, corpus.vocab_size)
    rows["contrastive"] = take_until(np.argsort(-s, kind="stable"), lengths, args.budget)
    t_con = time.perf_counter() - start
    start = time.perf_counter()
    s = domain_selection.dsir_scores(docs["text"].to_list(), sample_txt)
    rows["dsir"] = take_until(domain_selection.gumbel_order(s, seed=0), lengths, args.budget)
    t_dsir = time.perf_counter() - start
    storage = ProjectStorage(work_dir=WORK)
    w = final_mixture_of(
        Warehouse(database="data/warehouse.duckdb"), "demo", domains(storage, "demo")
    ).weights
    rows["climb_mixture_uniform"] = draw(corpus.domains, lengths, w, args.budget, 0, 15.0)
    clip_rows = []
    for d, wd in enumerate(w):
        members = np.flatnonzero(corpus.domains == d)
        want = int(round(wd * args.budget))
        if want:
            clip_rows.append(
                members[clusterclip.schedule(clusters[members], lengths[members], want, clip=2, seed=d)]
            )
    rows["climb_mixture_clusterclip"] = np.concatenate(clip_rows)
    truth = docs.join(
        pl.read_parquet("data/eval/true_domains.parquet"), on="doc_id", how="left", maintain_order="left"
    )["domain"].to_numpy()
    out = {
        name: {
            "eval_ce": round(judge(r), 4),
            "tokens": int(lengths[r].sum()),
            "documents": len(r),
            "unique": int(len(np.unique(r))),
            "math_share": round(float((truth[r] == "mathematics").mean()), 3),
        }
        for name, r in rows.items()
    }
    print(
        json.dumps(
            {
                "budget_tokens": args.budget,
                "selection_seconds": {
                    "classifier": round(t_cls, 1),
                    "contrastive": round(t_con, 1),
                    "dsir": round(t_dsir, 1),
                },
                "results": out,
            },
            indent=1,
        )
    )

    for n in (10_000, 100_000):
        rng = np.random.default_rng(1)
        big = np.repeat(x, -(-n // len(x)), axis=0)[:n] + 0.02 * rng.standard_normal((n, x.shape[1])).astype(
            np.float32
        )
        tasks = np.repeat(clusters, -(-n // len(x)))[:n]
        tracemalloc.start()
        start = time.perf_counter()
        res = smart.smart(tasks, big, total=n // 100, chunk=2048)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            json.dumps(
                {
                    "smart_examples": n,
                    "tasks": int(len(np.unique(tasks))),
                    "budget": n // 100,
                    "selected": len(res["rows"]),
                    "seconds": round(seconds, 2),
                    "peak_traced_MB": round(peak / 2**20, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
