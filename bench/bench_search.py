"""Mixture quality on the embedded corpus at an equal proxy budget, judged on held-out text by a
different model. Needs `make run` first (it reads data/work).

Two cuts of the same k-means clusters: the demo one (`merged_clusters` as materialized) and a finer
Ward cut (--fine super-clusters). Three objectives: each target alone and their mix (0.5 / 0.5).
Each target is split as the pipeline splits it (core.targets.split, seed 42): the search scores the
search part with the proxy (trigram Kneser-Ney on proxy-BPE tokens, 1M tokens, replicate seed =
search seed, common random numbers); the final mixture of every method is judged on the
evaluation part by a word-level 4-gram Kneser-Ney model trained on 2M proxy tokens of the mixture,
mean of 60 judge samples (search_cuts.JUDGE_SAMPLES; the same draws for every method; their
standard error is column judge_se; runs recorded before 2026-12-02 used 3: docs/DECISIONS.md).
That 2M-token run is the run the mixtures are for: it bounds the weights (target_tokens), and the
proxies draw from half of each domain so that they repeat it as that run does (repeat_as_run;
--no-repeat-as-run for the old proxy).

Methods, each spending at most --budget proxy trials (default 112):
- natural, uniform: no trials;
- random: --budget - 12 generator mixtures, the best 4 re-measured 3 times, best mean;
- regmix: one round of --budget, LightGBM (RegMix preset), mean of the top-128 predictions;
- climb: CLIMB as published, rounds 64/32/16, LightGBM (CLIMB preset), random pick among the
  predicted best, the predictor's argmax;
- default: mix_assets' default, rounds 52/24/13 with round 0 at least 5 trials per domain (one round
  of 89 at 18 domains: core.generator.round_schedule) + natural and uniform, surrogate chosen by CV,
  LCB proposals spread by k-means plus local steps, verified short list (the surrogate's argmax and
  top-128 mean, LightGBM's top-128 mean, the 2 best measured, natural, uniform; 3 replicates),
  the standard-error rule with a margin of 2 (the best baseline, then the better measured top-k
  mean, when within 2 standard errors of the best); ablations: default_best (the best measured
  mean), default_z1 (1 SE), default_lgb_first (LightGBM's top-k mean tried before the
  surrogate's, whichever measured better).
    python bench/bench_search.py [--seeds 0 1 2 3 4] [--workers 2] [--cuts demo fine]
        [--methods random regmix climb default] [--out bench/results/search.csv]
        [--replicates 3] [--default-rounds 52 24 13]  (the default's verification and rounds)
    python bench/bench_search.py --tables a.csv b.csv  (earlier runs' tables, read as one run)
"""

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import search_cuts
from search_cuts import (
    JUDGE_TOKENS,
    MAX_EPOCHS,
    OBJECTIVES,
    OFFSET,
    POOL,
    REPLICATES,
    Bench,
    objective,
)

from mix_assets.core import final_choice, generator, predictor, rounds, surrogate, verify
from mix_assets.project import SearchSpec

FINAL = final_choice.FinalSettings(pool_size=POOL, replicates=REPLICATES, replicate_seed_offset=OFFSET)
SEARCHES = ("random", "regmix", "climb", "default")  # --methods runs a subset
DEFAULT_ROUNDS = [52, 24, 13]  # --default-rounds; with --replicates it moves trials to or from verification
FIRST_ROUND_PER_DOMAIN = SearchSpec.model_fields["first_round_per_domain"].default  # the pipeline's


def run_rounds(
    b: Bench,
    obj: dict,
    seed: int,
    schedule: list[int],
    settings: surrogate.SurrogateSettings,
    proposal: str,
    baselines: bool,
    local_share: float = generator.ProposalSettings.local_share,
) -> tuple:
    """The search's rounds as the pipeline runs them (core.rounds.propose_round), each trial the
    bench's proxy at the search's seed."""
    gen, total = generator.GeneratorSettings(max_epochs=MAX_EPOCHS), float(JUDGE_TOKENS)
    p = generator.ProposalSettings(proposal, POOL, local_share=local_share)
    xs, ys, model = np.zeros((0, b.n)), np.zeros(0), None
    for r in range(len(schedule)):
        predict = None if model is None else model.predict
        step = rounds.propose_round(
            r, schedule, b.tokens, total, gen, seed, p, True, xs, ys, predict, with_baselines=baselines
        )
        xs = np.vstack([xs, step.weights])
        ys = np.append(ys, [objective(b.proxy(w, seed), obj) for w in step.weights])
        model = surrogate.fit(xs, ys, settings)
    return model, xs, ys, gen, total


def proxy_measure(b: Bench, obj: dict, seed: int, s: final_choice.FinalSettings | None = None):
    """final_choice's measure: replicate r of a candidate is the proxy at its replicate seed (cached)."""
    seeds = final_choice.replicate_seeds(seed, s or FINAL)

    def measure(c, r):
        m = b.proxy(c.weights, seeds[r])
        return {"objective": objective(m, obj), "documents": m["documents"]}

    return measure


def measured_best(
    b: Bench,
    obj: dict,
    cands: list,
    seed: int,
    s: final_choice.FinalSettings | None = None,
    hedges: tuple[str, ...] = verify.HEDGES,
) -> verify.Candidate:
    """The final choice among measured candidates, as final_mixture makes it (FINAL unless `s`)."""
    s = s or FINAL
    return final_choice.choose(cands, proxy_measure(b, obj, seed, s), True, obj, s, hedges).chosen


def default_schedule(n_domains: int) -> list[int]:
    """DEFAULT_ROUNDS (52/24/13 unless --default-rounds) as the pipeline runs them over n_domains
    (the search's first_round_per_domain default): 52/24/13 is unchanged at 6 domains and one
    round of 89 at 18."""
    return generator.round_schedule(DEFAULT_ROUNDS, n_domains, FIRST_ROUND_PER_DOMAIN)


def default_shortlist(
    b: Bench, obj: dict, seed: int, baselines: dict, schedule: tuple[int, ...] | None = None
) -> list[verify.Candidate]:
    """The default's rounds, then its short list, as final_mixture makes it."""
    rounds_ = list(schedule) if schedule else default_schedule(b.n)
    model, xs, ys, gen, total = run_rounds(
        b, obj, seed, rounds_, surrogate.SurrogateSettings(seed=seed), "lcb", baselines=True
    )
    bound = generator.upper_bounds(b.tokens, total, MAX_EPOCHS)
    # the bench's baselines as judged (off the grid), where the pipeline's would respect the bound
    allowed = {k: baselines[k] for k in rounds.baselines(b.tokens, bound, gen.grid)}
    return final_choice.short_list(model.mean, xs, ys, b.tokens, total, gen, seed, True, allowed, FINAL)


def methods(b: Bench, obj: dict, seed: int, budget: int, which: frozenset = frozenset(SEARCHES)) -> dict:
    out, used = {}, {}
    total = float(JUDGE_TOKENS)
    out["natural"], out["uniform"] = b.tokens / b.tokens.sum(), np.full(b.n, 1 / b.n)
    used["natural"] = used["uniform"] = 0

    if "random" in which:
        b.used = 0
        rand = generator.generate(b.tokens, budget - 12, total, generator.GeneratorSettings(), seed + 555)
        scores = np.array([objective(b.proxy(w, seed), obj) for w in rand])
        out["random"] = measured_best(
            b,
            obj,
            [verify.Candidate(f"r{i}", rand[i]) for i in np.argsort(scores)[:4]],
            seed,
            replace(FINAL, choice="best"),
        ).weights
        used["random"] = b.used

    if "regmix" in which:
        b.used = 0
        lgb_regmix = surrogate.SurrogateSettings(
            "lightgbm", bootstrap=0, lightgbm=predictor.PredictorSettings.regmix(seed=seed), seed=seed
        )
        model, *_ = run_rounds(b, obj, seed, [budget], lgb_regmix, "climb", baselines=False)
        out["regmix"] = generator.best_mixture(
            model.mean, b.tokens, total, generator.GeneratorSettings(), seed + 7, POOL, True, "topk_mean", 128
        )
        used["regmix"] = b.used

    if "climb" in which:
        b.used = 0
        lgb_climb = surrogate.SurrogateSettings(
            "lightgbm", bootstrap=0, lightgbm=predictor.PredictorSettings(seed=seed), seed=seed
        )
        model, *_ = run_rounds(b, obj, seed, [64, 32, 16], lgb_climb, "climb", baselines=False)
        out["climb"] = generator.best_mixture(
            model.mean, b.tokens, total, generator.GeneratorSettings(), seed + 7, POOL, True, "argmax"
        )
        used["climb"] = b.used

    if "default" not in which:
        return out, used, {}
    b.used = 0
    short = default_shortlist(b, obj, seed, out)
    picks = {"default": measured_best(b, obj, short, seed)}
    used["default"] = b.used
    # the same verification trials (cached), other final choices: the plain best mean, a narrower margin
    picks["default_best"] = measured_best(b, obj, short, seed, replace(FINAL, choice="best"))
    picks["default_z1"] = measured_best(b, obj, short, seed, replace(FINAL, se_multiplier=1.0))
    # LightGBM's top-k mean (RegMix's published pick) before the surrogate's, whichever measured better
    lgb = measured_best(b, obj, short, seed, hedges=(verify.LIGHTGBM_TOPK,))
    if lgb.name not in (*verify.BASELINES, verify.LIGHTGBM_TOPK):
        lgb = measured_best(b, obj, short, seed, hedges=(verify.SURROGATE_TOPK,))
    picks["default_lgb_first"] = lgb
    for k, c in picks.items():
        out[k], used[k] = c.weights, used["default"]
    return out, used, {k: c.name for k, c in picks.items()}


def task(args) -> list[dict]:
    cut, seed, n_fine, budget, which = args
    start = time.perf_counter()
    b = Bench(cut, n_fine)
    rows = []
    for name, obj in OBJECTIVES.items():
        finals, used, picks = methods(b, obj, seed, budget, which)
        bound = generator.upper_bounds(b.tokens, float(JUDGE_TOKENS), MAX_EPOCHS)
        for method, w in finals.items():
            rows.append(
                {
                    "cut": f"{cut} ({b.n})",
                    "target": name,
                    "seed": seed,
                    "method": method,
                    "trials": used[method],
                    "pick": picks.get(method, ""),
                    "within_bound": bool((w <= bound + 2e-4).all()),
                    "eval_loss": objective(b.judge(w), obj),
                    "judge_se": b.judge_se(w, obj),
                    "weights": " ".join(f"{x:.6f}" for x in w),  # to judge them again without a search
                }
            )
    print(f"{cut} seed {seed}: {time.perf_counter() - start:.0f}s", flush=True)
    return rows


def main() -> None:
    global FINAL, DEFAULT_ROUNDS  # set from the flags; the workers are forked after, so see them
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--cuts", nargs="+", default=["demo", "fine"])
    ap.add_argument("--fine", type=int, default=18, help="super-clusters of the finer cut")
    ap.add_argument("--budget", type=int, default=112)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", nargs="+", choices=SEARCHES, default=list(SEARCHES), help="searches to run")
    ap.add_argument("--out", default="bench/results/search.csv")
    ap.add_argument("--replicates", type=int, default=REPLICATES, help="verification replicates")
    ap.add_argument(
        "--default-rounds", type=int, nargs="+", default=DEFAULT_ROUNDS, help="before round_schedule"
    )
    ap.add_argument(
        "--no-repeat-as-run", action="store_true", help="proxies draw from all of each domain (the old proxy)"
    )
    ap.add_argument(
        "--tables", nargs="+", metavar="CSV", help="print the tables of earlier runs together (no trials)"
    )
    args = ap.parse_args()
    if args.tables:  # e.g. seeds 0-4 and 5-9 run separately, read as one run of 10 seeds
        table = pl.concat([pl.read_csv(f) for f in args.tables], how="diagonal_relaxed")
        print(markdown(table), gaps(table), sep="\n\n")
        return
    FINAL, DEFAULT_ROUNDS = replace(FINAL, replicates=args.replicates), args.default_rounds
    if args.no_repeat_as_run:
        search_cuts.POOL_SHARE = 1.0  # the workers are forked after this, so they see it
    jobs = [(c, s, args.fine, args.budget, frozenset(args.methods)) for c in args.cuts for s in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [r for rs in pool.map(task, jobs) for r in rs]
    table = pl.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.write_csv(args.out)
    summary = (
        table.group_by("cut", "target", "method")
        .agg(
            pl.col("eval_loss").mean().alias("mean"),
            (pl.col("eval_loss").std() / pl.len().sqrt()).alias("se"),
            pl.col("trials").max().alias("trials"),
            pl.col("within_bound").all(),
        )
        .sort("cut", "target", "mean")
    )
    with pl.Config(tbl_rows=100):
        print(summary)
    print(markdown(table))
    print(gaps(table))


def markdown(table: pl.DataFrame) -> str:
    """The README table: mean ± standard error over seeds per method, best of the compared methods
    in bold (the choice-rule ablations are shown, not ranked); then what the default picked. A cell
    that is the same in every seed (natural, uniform) shows the judge's own standard error instead."""
    ran = set(table["method"])
    methods = [m for m in ("natural", "uniform", "random", "regmix", "climb", "default") if m in ran]
    extra = [m for m in ("default_best", "default_z1", "default_lgb_first") if m in ran]
    lines = [
        "| cut | target | " + " | ".join(methods + extra) + " | default picked |",
        "|---" * (len(methods + extra) + 3) + "|",
    ]
    for (cut, target), g in table.group_by("cut", "target", maintain_order=True):
        stats = {m: g.filter(pl.col("method") == m) for m in methods + extra}
        ranked = {
            m: d["eval_loss"].mean()
            for m, d in stats.items()
            if m in methods and d.height and d["within_bound"].all()
        }
        best = min(ranked, key=ranked.get)
        cells = []
        for m, d in stats.items():
            if not d.height:  # a table put together from runs of different --methods
                cells.append("not run")
                continue
            v = d["eval_loss"]
            text = f"{v.mean():.3f}" + (f" ± {v.std() / len(v) ** 0.5:.3f}" if v.n_unique() > 1 else "")
            if v.n_unique() == 1 and "judge_se" in d.columns:  # no spread over seeds: the judge's own
                text += f" [judge ± {d['judge_se'].mean():.3f}]"
            text += "" if d["within_bound"].all() else " (breaks bound)"
            cells.append(f"**{text}**" if m == best else text)
        picked = ""
        if "default" in stats:
            picks = stats["default"]["pick"].value_counts().sort("count", descending=True)
            picked = ", ".join(f"{p} {c}" for p, c in picks.iter_rows())
        lines.append(f"| {cut} | {target} | " + " | ".join(cells) + f" | {picked} |")
    return "\n".join(lines)


def gaps(table: pl.DataFrame) -> str:
    """The README's second table: the default minus every other method, paired by seed, mean ±
    standard error over seeds (for natural and uniform, which no seed moves, the error is the
    default's alone)."""
    others = [m for m in ("natural", "uniform", "random", "regmix", "climb") if m in set(table["method"])]
    lines = ["| cut | target | " + " | ".join(others) + " |", "|---" * (len(others) + 2) + "|"]
    for (cut, target), g in table.group_by("cut", "target", maintain_order=True):
        d = g.filter(pl.col("method") == "default").select("seed", pl.col("eval_loss").alias("d"))
        if not d.height:
            continue
        cells = []
        for m in others:
            diff = d.join(g.filter(pl.col("method") == m).select("seed", "eval_loss"), on="seed")
            diff = diff.select(pl.col("d") - pl.col("eval_loss"))[:, 0]
            se = diff.std() / diff.len() ** 0.5 if diff.len() > 1 else float("nan")  # one seed: no spread
            cells.append(f"{diff.mean():+.3f} ± {se:.3f}" if diff.len() else "not run")
        lines.append(f"| {cut} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
