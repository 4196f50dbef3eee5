"""Surrogate quality on RegMix's published trainings: fit on the 512 1M-parameter runs, rank the
256 held-out 1M runs, and the same mixtures trained at 60M and (64 others) at 1B parameters.
LightGBM alone (RegMix's settings) beside `auto` (chosen by 5-fold CV among LightGBM, GP,
quadratic ridge, log-linear and their CV-weighted average; which one it chose is shown).
    python bench/bench_regmix.py [--data data/regmix] [--models lightgbm auto]
"""

import argparse
import time
from pathlib import Path

from mix_assets.core import predictor, results, surrogate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / "data" / "regmix"))
    ap.add_argument("--models", nargs="+", default=["lightgbm", "auto"])
    args = ap.parse_args()
    d = Path(args.data)
    train = results.load(d / "train_mixture_1m.csv", d / "train_pile_loss_1m.csv")
    tests = {
        s: results.load(d / f"test_mixture_{s}.csv", d / f"test_pile_loss_{s}.csv")
        for s in ("1m", "60m", "1B")
    }
    print(
        "| metric (validation loss) | surrogate | chosen | CV 5-fold (1M train) | 1M test | 60M test | 1B "
        "test | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for metric in train.metrics.columns:
        x, y, _ = results.finite_rows(train, metric)
        for model in args.models:
            start = time.perf_counter()
            s = surrogate.SurrogateSettings(model, bootstrap=0, lightgbm=predictor.PredictorSettings.regmix())
            fitted = surrogate.fit(x, y, s)
            seconds = time.perf_counter() - start
            cv = surrogate.cv_report(fitted)["spearman"]
            held = [
                predictor.evaluate(fitted.mean, *results.finite_rows(t, metric)[:2])["spearman"]
                for t in tests.values()
            ]
            name = metric.replace("metric/the_pile_", "").replace("_val_loss", "")
            print(
                f"| {name} | {model} | {fitted.name} | {cv:.4f} | {held[0]:.4f} | {held[1]:.4f} | "
                f"{held[2]:.4f} | {seconds:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
