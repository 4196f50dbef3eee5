"""`mix-assets fit`: the surrogate on results produced elsewhere (a RegMix-style table of mixtures and
their metrics), with no Dagster instance."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    ft = sub.add_parser(
        "fit",
        help="fit the surrogate on results produced elsewhere; JSON report on stdout (no Dagster instance)",
    )
    ft.add_argument("--mixtures", required=True, help="CSV/parquet: id column + one weight column per domain")
    ft.add_argument(
        "--results", help="CSV/parquet: id column + metric columns (omit if --mixtures holds both)"
    )
    ft.add_argument("--metric", required=True)
    ft.add_argument("--test-mixtures", nargs="*", help="held-out mixtures (one or more files)")
    ft.add_argument("--test-results", nargs="*", help="their results, in the same order")
    ft.add_argument(
        "--minimize", action="store_true", help="lower is better (losses); default: higher is better"
    )
    ft.add_argument("--id-column", help="id column joining mixtures and results (default: auto)")
    ft.add_argument(
        "--model",
        default="auto",
        choices=["auto", "lightgbm", "gp", "quadratic", "loglinear", "ensemble"],
        help="surrogate (default: chosen by cross-validation among all, or their CV-weighted average)",
    )
    ft.add_argument(
        "--preset",
        default="regmix",
        choices=["regmix", "climb"],
        help="LightGBM settings (default: RegMix's)",
    )
    ft.add_argument("--final", default="topk_mean", choices=["topk_mean", "argmax"])
    ft.add_argument("--top-k", type=int, default=128)
    ft.add_argument("--pool", type=int, default=100_000)
    ft.add_argument("--folds", type=int, default=5)
    ft.add_argument("--seed", type=int, default=42)


def fit_results(args: argparse.Namespace) -> dict:
    """Fit the surrogate on a results table, report held-out quality and propose a mixture."""
    import numpy as np

    from mix_assets.core import generator, predictor, results, surrogate

    train = results.load(args.mixtures, args.results, args.id_column)
    x, y, dropped = results.finite_rows(train, args.metric)
    settings = surrogate.SurrogateSettings(
        args.model,
        args.folds,
        lightgbm=predictor.PredictorSettings.preset(args.preset, seed=args.seed),
        seed=args.seed,
    )
    model = surrogate.fit(x, y, settings)
    cv = surrogate.cv_report(model)
    report = {
        "metric": args.metric,
        "direction": "minimize" if args.minimize else "maximize",
        "model": model.name,
        "preset": args.preset,
        "train_rows": len(y),
        "dropped_non_finite": dropped,
        "domains": train.domains,
        "cv": {"spearman": round(cv["spearman"], 4), "mae": round(cv["mae"], 5), "folds": settings.folds},
        "candidates": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in model.report
        ],
        "test": {},
    }
    for mix_path, res_path in zip(args.test_mixtures or [], args.test_results or []):
        test = results.load(mix_path, res_path, args.id_column)
        if test.domains != train.domains:
            raise SystemExit(f"{mix_path}: domains differ from the training mixtures")
        tx, ty, _ = results.finite_rows(test, args.metric)
        report["test"][str(res_path)] = {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in predictor.evaluate(model.mean, tx, ty).items()
        }
    # no token counts for results from elsewhere: the mean training mixture is the prior, no epoch bound
    prior_tokens = x.mean(axis=0) + 1e-9
    gen = generator.GeneratorSettings(max_epochs=np.inf)
    best = generator.best_mixture(
        model.mean,
        prior_tokens,
        1.0,
        gen,
        seed=args.seed,
        pool_size=args.pool,
        minimize=args.minimize,
        method=args.final,
        top_k=args.top_k,
    )
    report["proposed_mixture"] = {d: round(float(v), 4) for d, v in zip(train.domains, best) if v > 0}
    report["proposed_predicted"] = round(float(model.mean(best[None, :])[0]), 5)
    report["best_measured"] = round(float(y.min() if args.minimize else y.max()), 5)
    return report
