"""Which surrogate, fitted on which trials, gives the best final mixture for the default search's
trials? Judged as bench_search judges (the evaluation parts, a word-level 4-gram, same cuts and
seeds); no verification trials, each candidate is judged directly.

For each cut, seed and objective, the default rounds (52/24/13 + natural and uniform, the surrogate
chosen by CV, LCB proposals) run once; then each surrogate below is fitted and its optimum taken:
- ens_all: the round's own surrogate (CV-chosen), on every trial (what final_mixture uses);
- lgb_all: LightGBM with RegMix's settings, on every trial;
- lgb_r0, ens_r0: the same two on round 0 only (the spread-out Dirichlet draws);
each as the argmax and as the top-128 mean of a 100k pool; and the best trial measured once.
    python bench/bench_search_variants.py [--workers 1]   (after `make run`; about 50 min)
Results: bench/results/search-variants.csv.

`--schedule 75 14 [--cuts fine]` instead runs the whole default (rounds, short list, verification,
the standard-error rule) with another round schedule, and judges its pick.
"""

import argparse
from concurrent.futures import ProcessPoolExecutor

import bench_search as bs
import numpy as np
import polars as pl

from mix_assets.core import generator, predictor, surrogate


def task(args) -> list[tuple]:
    cut, seed = args
    b = bs.Bench(cut, 18)
    rows = []
    for name, obj in bs.OBJECTIVES.items():
        model, xs, ys, gen, total = bs.run_rounds(
            b, obj, seed, [52, 24, 13], surrogate.SurrogateSettings(seed=seed), "lcb", True
        )
        lgb = surrogate.SurrogateSettings(
            "lightgbm", bootstrap=0, lightgbm=predictor.PredictorSettings.regmix(seed=seed), seed=seed
        )
        n0 = len(xs) - 24 - 13  # round 0: the draws and the baselines that fit the bound
        fits = {
            "ens_all": model,
            "lgb_all": surrogate.fit(xs, ys, lgb),
            "lgb_r0": surrogate.fit(xs[:n0], ys[:n0], lgb),
            "ens_r0": surrogate.fit(xs[:n0], ys[:n0], surrogate.SurrogateSettings(seed=seed)),
        }
        for k, m in fits.items():
            for how in ("topk_mean", "argmax"):
                w = generator.best_mixture(m.mean, b.tokens, total, gen, seed + 7, bs.POOL, True, how, 128)
                rows.append((cut, name, seed, f"{k}_{how}", bs.objective(b.judge(w), obj)))
        best = xs[int(np.argmin(ys))]
        rows.append((cut, name, seed, "best_measured_once", bs.objective(b.judge(best), obj)))
    print(cut, seed, "done", flush=True)
    return rows


def schedule_task(args) -> list[tuple]:
    cut, seed, schedule = args
    b = bs.Bench(cut, 18)
    rows = []
    baselines = {"natural": b.tokens / b.tokens.sum(), "uniform": np.full(b.n, 1 / b.n)}
    for name, obj in bs.OBJECTIVES.items():
        b.used = 0
        short = bs.default_shortlist(b, obj, seed, baselines, tuple(schedule))
        pick = bs.measured_best(b, obj, short, seed, bs.verify.Preference(obj, z=bs.Z))
        label = "default_" + "_".join(map(str, schedule))
        rows.append((cut, name, seed, label, bs.objective(b.judge(pick.weights), obj), b.used, pick.name))
    print(cut, seed, schedule, "done", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cuts", nargs="+", default=["demo", "fine"])
    ap.add_argument("--schedule", type=int, nargs="+", help="run the whole default with these rounds")
    ap.add_argument("--out", default="bench/results/search-variants.csv")
    args = ap.parse_args()
    schema = ["cut", "target", "seed", "method", "eval"]
    if args.schedule:
        fn, schema = schedule_task, [*schema, "trials", "pick"]
        jobs = [(c, s, args.schedule) for c in args.cuts for s in args.seeds]
    else:
        fn, jobs = task, [(c, s) for c in args.cuts for s in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [r for rs in pool.map(fn, jobs) for r in rs]
    t = pl.DataFrame(rows, schema=schema, orient="row")
    t.write_csv(args.out)
    with pl.Config(tbl_rows=100):
        print(
            t.group_by("cut", "target", "method")
            .agg(pl.col("eval").mean().alias("mean"), (pl.col("eval").std() / pl.len().sqrt()).alias("se"))
            .sort("cut", "target", "mean")
        )


if __name__ == "__main__":
    main()
