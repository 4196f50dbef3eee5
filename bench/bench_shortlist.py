"""Where does the default lose on one row: in the search (no good candidate on the short list) or in
the choice (a good one there but not picked)? For each seed, the default's rounds and short list as
bench_search runs them; every candidate's proxy mean over the verification replicates (search part)
and its judged loss (evaluation part, search_cuts.JUDGE_SAMPLES samples); which one the
standard-error rule chose; and the surrogate the rounds ended with, with its CV figures.
--max-mae-ratio R runs the same seeds again with the surrogate chosen only among the models whose CV
MAE is within R times the best (SurrogateSettings.max_mae_ratio); --local-share S with that share of
each guided round's picks drawn around the best measured mixture (ProposalSettings.local_share,
default 0.125); column `variant` says which run, --skip-default leaves out the default's.
    python bench/bench_shortlist.py [--cut demo] [--fine 18] [--target mathematics] [--seeds 0 1 2 3 4]
        [--max-mae-ratio 1.5] [--local-share 0.5] [--skip-default] [--out bench/results/shortlist.csv]
    (after `make run`; 3–4 min per seed and variant at 6 domains)
"""

import argparse

import bench_search as bs
import numpy as np
import polars as pl
from search_cuts import OBJECTIVES, REPLICATES, Bench, objective

from mix_assets.core import generator, surrogate, verify


def one_seed(b: Bench, obj: dict, seed: int, variant: str, ratio, share) -> list[dict]:
    base = {"natural": b.tokens / b.tokens.sum(), "uniform": np.full(b.n, 1 / b.n)}
    settings = surrogate.SurrogateSettings(seed=seed, max_mae_ratio=ratio)
    model, xs, ys, gen, total = bs.run_rounds(
        b, obj, seed, bs.default_schedule(b.n), settings, "lcb", True, local_share=share
    )
    short = bs.shortlist_of(b, seed, base, model, xs, ys, gen, total)
    cv = {r["model"]: (r["cv_spearman"], r["cv_mae"]) for r in model.report}
    v = verify.verify(
        short, bs.proxy_measure(b, obj, seed), REPLICATES, True, prefer=verify.Preference(obj, z=bs.Z)
    )
    means = v.summary("objective")
    print(f"seed {seed} {variant}: chose {v.chosen.name}, surrogate {model.name}", flush=True)
    return [
        {
            "seed": seed,
            "variant": variant,
            "candidate": c.name,
            "chosen": c.name == v.chosen.name,
            "proxy": means[c.name][0],
            "judge": objective(b.judge(c.weights), obj),
            "best_measured_in_rounds": float(ys.min()),
            "surrogate": model.name,
            "cv_spearman": cv[model.name][0],
            "cv_mae": cv[model.name][1],
            "lightgbm_cv_mae": cv.get("lightgbm", (np.nan, np.nan))[1],
            "weights": " ".join(f"{x:.6f}" for x in c.weights),
        }
        for c in short
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cut", default="demo")
    ap.add_argument("--fine", type=int, default=18)
    ap.add_argument("--target", default="mathematics", choices=list(OBJECTIVES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--max-mae-ratio", type=float, nargs="*", default=[])
    ap.add_argument("--local-share", type=float, nargs="*", default=[])
    ap.add_argument("--skip-default", action="store_true")
    ap.add_argument("--out", default="bench/results/shortlist.csv")
    args = ap.parse_args()
    b, obj, rows = Bench(args.cut, args.fine), OBJECTIVES[args.target], []
    share = generator.ProposalSettings.local_share
    variants = (
        ({} if args.skip_default else {"default": (None, share)})
        | {f"max_mae_ratio={r:g}": (r, share) for r in args.max_mae_ratio}
        | {f"local_share={x:g}": (None, x) for x in args.local_share}
    )
    for seed in args.seeds:
        for variant, (ratio, local) in variants.items():
            rows += one_seed(b, obj, seed, variant, ratio, local)
    table = pl.DataFrame(rows)
    table.write_csv(args.out)
    with pl.Config(tbl_rows=40):
        print(
            table.group_by("variant", "candidate")
            .agg(pl.col("proxy", "judge").mean(), pl.col("chosen").sum().alias("times_chosen"))
            .sort("judge")
        )
        searched = ~pl.col("candidate").is_in(["natural", "uniform"])
        print(
            table.group_by("variant", "seed")
            .agg(
                pl.col("judge").filter(pl.col("chosen")).first().alias("chosen"),
                pl.col("judge").filter(searched).min().alias("best_searched_on_list"),
                pl.col("surrogate").first(),
                pl.col("cv_mae").first(),
                pl.col("lightgbm_cv_mae").first(),
            )
            .sort("variant", "seed")
        )


if __name__ == "__main__":
    main()
