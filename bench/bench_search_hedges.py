"""Which hedge should the final short list carry? Judged as bench_search judges (the evaluation
parts, a word-level 4-gram, same cuts, seeds and objectives). Needs `make run` first.

For each cut, seed and objective the default rounds (52/24/13 + natural and uniform) run once. Then:
- judge_<hedge>: each hedge candidate judged directly: the surrogate's argmax and top-128 mean,
  LightGBM's top-128 mean (RegMix preset, on every trial), and a pessimistic top-128 mean (ranked
  by mean + std of the surrogate);
- <list>_<rule>: the whole final step with one short list and one choice rule, judged on its pick.
  Lists: `v0` the surrogate's two optima + 3 measured (the default before 2026-11-23), `v1` + LightGBM's
  top-128 mean (3 measured: up to 8 candidates, 115 trials), `v1b` the same with 2 measured (the
  default since), `v3` the pessimistic top-k mean in place of the surrogate's. Rules: `rule` (the
  pipeline's standard-error rule: the best baseline, then the better measured hedge, when within 2
  standard errors of the best), `hedgefirst` (the hedges before the baselines), `best` (the best
  measured mean).
    python bench/bench_search_hedges.py [--seeds 0 1 2 3 4] [--out bench/results/search-hedges.csv]
"""

import argparse
from concurrent.futures import ProcessPoolExecutor

import bench_search as bs
import numpy as np
import polars as pl

from mix_assets.core import generator, surrogate, verify


def pessimistic_topk(model, tokens, total, gen, seed, kappa=1.0, k=128) -> np.ndarray:
    pool = np.unique(generator.sample_pool(tokens, bs.POOL, total, gen, seed), axis=0)
    mean, std = model.predict(pool)
    w = pool[np.argsort(mean + kappa * std, kind="stable")[:k]].mean(axis=0)
    return generator.to_grid(w[None], gen.grid)[0]


def hedge_first(short, runs, gaps, hedges, z=2.0):
    """Hedges (in the given order), then the baselines, each if within z SE of the best and not
    worse than the best baseline; else the best measured."""
    means = {n: np.mean([r["objective"] for r in rs]) for n, rs in runs.items()}
    bases = sorted((k for k in ("natural", "uniform") if k in means), key=means.get)
    for name in [*hedges, *bases]:
        if bases and means[name] > means[bases[0]]:
            continue
        if gaps[name][0] <= z * gaps[name][1]:
            return next(c for c in short if c.name == name)
    return next(c for c in short if c.name == min(means, key=means.get))


def task(args) -> list[tuple]:
    cut, seed = args
    b = bs.Bench(cut, 18)
    rows = []
    base = {"natural": b.tokens / b.tokens.sum(), "uniform": np.full(b.n, 1 / b.n)}
    for name, obj in bs.OBJECTIVES.items():
        model, xs, ys, gen, total = bs.run_rounds(
            b, obj, seed, [52, 24, 13], surrogate.SurrogateSettings(seed=seed), "lcb", True
        )

        def topk(m, how, total=total, gen=gen):
            return generator.best_mixture(m.mean, b.tokens, total, gen, seed + 7, bs.POOL, True, how, 128)

        hedges = {
            "surrogate_argmax": topk(model, "argmax"),
            "surrogate_topk_mean": topk(model, "topk_mean"),
            "lightgbm_topk_mean": topk(surrogate.regmix(xs, ys, seed), "topk_mean"),
            "pessimistic_topk_mean": pessimistic_topk(model, b.tokens, total, gen, seed + 7),
        }
        for k, w in hedges.items():
            rows.append((cut, name, seed, f"judge_{k}", bs.objective(b.judge(w), obj), ""))
        bound = generator.upper_bounds(b.tokens, total, bs.MAX_EPOCHS)
        allowed = {
            k: v for k, v in base.items() if (generator.to_grid(v[None], gen.grid)[0] <= bound + 1e-12).all()
        }
        pick2 = ("surrogate_argmax", "surrogate_topk_mean")
        pick3 = (*pick2, "lightgbm_topk_mean")
        lists = {
            "v0": ({k: hedges[k] for k in pick2}, 3, ("surrogate_topk_mean",)),
            "v1": ({k: hedges[k] for k in pick3}, 3, pick3[1:]),
            "v1b": ({k: hedges[k] for k in pick3}, 2, pick3[1:]),
            "v3": (
                {
                    "surrogate_argmax": hedges["surrogate_argmax"],
                    "surrogate_topk_mean": hedges["pessimistic_topk_mean"],
                },
                3,
                ("surrogate_topk_mean",),
            ),
        }

        measure = bs.proxy_measure(b, obj, seed)

        for label, (optima, n_measured, hedge_names) in lists.items():
            short = verify.shortlist(optima, xs, ys, n_measured, True, allowed)
            plain = verify.verify(short, measure, bs.REPLICATES, True)
            means = {n: np.mean([r["objective"] for r in rs]) for n, rs in plain.runs.items()}
            picks = {  # the trials are cached: choosing again costs none
                "rule": verify.verify(
                    short,
                    measure,
                    bs.REPLICATES,
                    True,
                    prefer=verify.Preference(obj, hedges=hedge_names, z=bs.Z),
                ).chosen,
                "hedgefirst": hedge_first(short, plain.runs, plain.gaps, sorted(hedge_names, key=means.get)),
                "best": plain.chosen,
            }
            for rule, c in picks.items():
                rows.append(
                    (cut, name, seed, f"{label}_{rule}", bs.objective(b.judge(c.weights), obj), c.name)
                )
            rows.append((cut, name, seed, f"{label}_trials", float(len(xs) + len(short) * bs.REPLICATES), ""))
    print(cut, seed, "done", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--cuts", nargs="+", default=["fine", "demo"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="bench/results/search-hedges.csv")
    args = ap.parse_args()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [r for rs in pool.map(task, [(c, s) for c in args.cuts for s in args.seeds]) for r in rs]
    table = pl.DataFrame(rows, schema=["cut", "target", "seed", "method", "eval", "pick"], orient="row")
    table.write_csv(args.out)
    with pl.Config(tbl_rows=200):
        print(
            table.filter(~pl.col("method").str.ends_with("_trials"))
            .group_by("cut", "target", "method")
            .agg(pl.col("eval").mean().alias("mean"), (pl.col("eval").std() / pl.len().sqrt()).alias("se"))
            .sort("cut", "target", "mean")
        )


if __name__ == "__main__":
    main()
