"""Does the proxy rank final mixtures as the judge does? With and without repetition at the run's
budget (SearchSettings.repeat_as_run).

For every final mixture in a bench_search CSV (natural, uniform, random, regmix, default; 5 seeds),
the proxy's objective on the search part is measured twice, mean of 3 replicate seeds: drawing
from all of each domain (the old proxy), and from BUDGET / JUDGE_TOKENS of it (the proxy repeats a
domain as the judge's 2M-token run does). Each is set beside the judge's evaluation-part loss from
the CSV: Spearman over the 25 mixtures of each cut and objective, and the methods' order by mean.
    python bench/bench_proxy_ranking.py [--csv bench/results/search.csv]   (after `make run`)
"""

import argparse

import bench_search as bs
import numpy as np
import polars as pl
from scipy.stats import spearmanr

from mix_assets.core.proxies import ngram

METHODS = ["natural", "uniform", "random", "regmix", "default"]


def proxy_objective(b: bs.Bench, w: np.ndarray, obj: dict, share: float) -> float:
    values = []
    for rep in range(3):
        train = b.corpus.sample(w, bs.BUDGET, 7000 + rep, np.inf, share)
        docs = ngram.document_losses(train, b.corpus.targets, b.corpus.vocab_size, 3)
        values.append(bs.objective({k: float(nll.sum() / n.sum()) for k, (nll, n) in docs.items()}, obj))
    return float(np.mean(values))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default="bench/results/search.csv")
    args = ap.parse_args()
    table = pl.read_csv(args.csv).filter(pl.col("method").is_in(METHODS))
    rows = []
    for cut in ("demo", "fine"):
        b = bs.Bench(cut, 18)
        for r in table.filter(pl.col("cut").str.starts_with(cut)).iter_rows(named=True):
            w = np.array([float(x) for x in r["weights"].split()])
            w, obj = w / w.sum(), bs.OBJECTIVES[r["target"]]
            rows.append(
                {
                    **{k: r[k] for k in ("cut", "target", "seed", "method")},
                    "proxy_whole": proxy_objective(b, w, obj, 1.0),
                    "proxy_as_run": proxy_objective(b, w, obj, bs.BUDGET / bs.JUDGE_TOKENS),
                    "judge": r["eval_loss"],
                }
            )
        print(cut, "done", flush=True)
    out = pl.DataFrame(rows)
    print(
        "| cut | target | Spearman proxy (whole domains) vs judge | Spearman proxy (as the run) vs judge "
        "| methods by judge | by proxy (whole) | by proxy (as the run) |"
    )
    print("|---|---|---|---|---|---|---|")
    for (cut, target), g in out.group_by("cut", "target", maintain_order=True):
        means = g.group_by("method").agg(pl.col("proxy_whole", "proxy_as_run", "judge").mean())

        order = {
            c: " < ".join(means.sort(c)["method"].to_list()) for c in ("judge", "proxy_whole", "proxy_as_run")
        }
        print(
            f"| {cut} | {target} | {spearmanr(g['proxy_whole'], g['judge'])[0]:.2f} "
            f"| {spearmanr(g['proxy_as_run'], g['judge'])[0]:.2f} | {order['judge']} "
            f"| {order['proxy_whole']} | {order['proxy_as_run']} |"
        )


if __name__ == "__main__":
    main()
