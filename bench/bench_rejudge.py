"""Re-score the final mixtures of earlier bench_search runs with more judge samples, no trials run.

The judge (bench/search_cuts.py: a word-level 4-gram Kneser-Ney trained on 2M tokens of the mixture,
scored on the evaluation parts) draws its training sample at random. With the 3 draws that
bench_search used through 2026-12-02, one mixture's judged loss moves by about 0.02 nats on
all_domains from one set of draws to the next, the size of the gaps the tables decide; and natural,
the same mixture in every seed, carries that error into every seed at once. This script judges every
recorded mixture again with --samples draws and prints bench_search's tables from them. Draws 0-2
are the old ones: column eval_loss_3 reproduces a 3-draw run's eval_loss up to the rounding of the
CSV's weights (3 decimals through 2026-12-02; 6 since).
    python bench/bench_rejudge.py --tables a.csv b.csv ... [--samples 60] [--workers 2]
        [--out bench/results/search-rejudged.csv]
"""

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import bench_search
import numpy as np
import polars as pl
from search_cuts import JUDGE_SAMPLES, OBJECTIVES, Bench, objective

from mix_assets.core import generator


def judge_chunk(args) -> list[tuple[str, str, list[dict]]]:
    cut, weights, samples = args
    start = time.perf_counter()
    kind, n = cut.split(" (")
    b = Bench(kind, int(n.rstrip(")")), judge_samples=samples)
    out = []
    for text in weights:
        w = np.array([float(x) for x in text.split()])
        w /= w.sum()  # the CSV's weights are rounded to 3 decimals
        b.judge(w)
        out.append((cut, text, b.judged[generator.mixture_id(w)]))
    print(f"{cut}: {len(weights)} mixtures in {time.perf_counter() - start:.0f}s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="+", required=True, metavar="CSV")
    ap.add_argument("--samples", type=int, default=JUDGE_SAMPLES)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="bench/results/search-rejudged.csv")
    args = ap.parse_args()
    table = pl.concat([pl.read_csv(f) for f in args.tables], how="diagonal_relaxed")
    recorded = table.select("cut", "weights").unique(maintain_order=True)
    jobs = [
        (cut, list(chunk), args.samples)
        for (cut,), g in recorded.group_by("cut", maintain_order=True)
        for chunk in np.array_split(g["weights"].to_numpy(), 2 * args.workers)
    ]
    # spawned, not forked: polars has run in this process, and its thread pool does not survive a fork
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        judged = {(c, t): runs for rs in pool.map(judge_chunk, jobs) for c, t, runs in rs}

    def scores(row: dict, n: int) -> tuple[float, float]:
        v = [objective(r, OBJECTIVES[row["target"]]) for r in judged[row["cut"], row["weights"]][:n]]
        return float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v)))

    rows = []
    for r in table.iter_rows(named=True):
        (loss, se), (loss3, _) = scores(r, args.samples), scores(r, 3)
        rows.append(
            {
                **r,
                "eval_loss_recorded": r["eval_loss"],
                "eval_loss_3": loss3,
                "eval_loss": loss,
                "judge_se": se,
            }
        )
    out = pl.DataFrame(rows)
    out.write_csv(args.out)
    drift = (out["eval_loss_3"] - out["eval_loss_recorded"]).abs().max()
    print(f"{args.samples} judge samples; draws 0-2 against the recorded eval_loss: max |diff| {drift:.4f}")
    print(bench_search.markdown(out), bench_search.gaps(out), sep="\n\n")


if __name__ == "__main__":
    main()
