"""The predictor on RegMix's 1,088 published trainings (data/regmix, MIT), which no one here produced."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mix_assets.cli import main
from mix_assets.core import predictor, results, surrogate

REGMIX = Path(__file__).resolve().parents[1] / "data" / "regmix"
PILE_CC = "metric/the_pile_pile_cc_val_loss"


def test_cli_fit_reaches_published_spearman_on_pile_cc(capsys):
    assert (
        main(
            [
                "fit",
                "--mixtures",
                str(REGMIX / "train_mixture_1m.csv"),
                "--results",
                str(REGMIX / "train_pile_loss_1m.csv"),
                "--metric",
                PILE_CC,
                "--minimize",
                "--pool",
                "20000",
                "--model",
                "lightgbm",
                "--test-mixtures",
                *(str(REGMIX / f"test_mixture_{s}.csv") for s in ("1m", "60m", "1B")),
                "--test-results",
                *(str(REGMIX / f"test_pile_loss_{s}.csv") for s in ("1m", "60m", "1B")),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    test = report["test"]
    assert report["train_rows"] == 512 and test[str(REGMIX / "test_pile_loss_1m.csv")]["n"] == 256
    assert test[str(REGMIX / "test_pile_loss_1m.csv")]["spearman"] >= 0.99  # measured 0.9904
    assert test[str(REGMIX / "test_pile_loss_60m.csv")]["spearman"] >= 0.98  # transfer to 60M: 0.9860
    assert test[str(REGMIX / "test_pile_loss_1B.csv")]["spearman"] >= 0.95  # transfer to 1B: 0.9617
    assert sum(report["proposed_mixture"].values()) == pytest.approx(1, abs=1e-3)
    assert report["proposed_predicted"] <= np.percentile(
        pl.read_csv(REGMIX / "train_pile_loss_1m.csv")[PILE_CC].to_numpy(), 5
    )


def test_cli_fit_auto_chooses_by_cv_and_ranks_held_out_runs_at_least_as_well(capsys):
    main(
        [
            "fit",
            "--mixtures",
            str(REGMIX / "train_mixture_1m.csv"),
            "--results",
            str(REGMIX / "train_pile_loss_1m.csv"),
            "--metric",
            PILE_CC,
            "--minimize",
            "--pool",
            "5000",
            "--model",
            "auto",
            "--test-mixtures",
            *(str(REGMIX / f"test_mixture_{s}.csv") for s in ("1m", "1B")),
            "--test-results",
            *(str(REGMIX / f"test_pile_loss_{s}.csv") for s in ("1m", "1B")),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    cands = {c["model"]: c for c in report["candidates"]}
    assert set(cands) == {"lightgbm", "gp", "quadratic", "loglinear", "ensemble"}
    assert cands[report["model"]]["chosen"] and cands[report["model"]]["cv_spearman"] == max(
        c["cv_spearman"] for c in cands.values()
    )
    test = report["test"]
    assert (
        test[str(REGMIX / "test_pile_loss_1m.csv")]["spearman"] >= 0.99
    )  # measured 0.9935 (LightGBM alone: 0.9904)
    assert (
        test[str(REGMIX / "test_pile_loss_1B.csv")]["spearman"] >= 0.965
    )  # transfer to 1B: 0.973 (LightGBM alone: 0.962)


def test_rows_join_by_id_not_position(tmp_path):
    res = pl.read_csv(REGMIX / "train_pile_loss_1m.csv")
    res.sample(fraction=1.0, shuffle=True, seed=0).write_csv(tmp_path / "shuffled.csv")
    a = results.load(REGMIX / "train_mixture_1m.csv", REGMIX / "train_pile_loss_1m.csv")
    b = results.load(REGMIX / "train_mixture_1m.csv", tmp_path / "shuffled.csv")
    order = np.argsort(np.array(b.ids, dtype=int))
    np.testing.assert_array_equal(a.weights, b.weights[order])
    np.testing.assert_array_equal(a.metrics[PILE_CC].to_numpy(), b.metrics[PILE_CC].to_numpy()[order])
    res.with_columns(
        pl.when(pl.col("index") == 3).then(99_999).otherwise(pl.col("index")).alias("index")
    ).write_csv(tmp_path / "unknown.csv")
    with pytest.raises(ValueError, match="ids not in"):
        results.load(REGMIX / "train_mixture_1m.csv", tmp_path / "unknown.csv")


def test_climb_preset_cross_validates_and_refuses_too_few_rows():
    r = results.load(REGMIX / "train_mixture_1m.csv", REGMIX / "train_pile_loss_1m.csv")
    x, y, _ = results.finite_rows(r, "metric/the_pile_github_val_loss")
    cv = surrogate.fit(x[:200], y[:200], surrogate.SurrogateSettings("lightgbm", bootstrap=0))
    assert surrogate.cv_report(cv)["spearman"] > 0.95 and len(cv.oof) == 200
    with pytest.raises(predictor.TooFewRows, match="at least 8"):
        predictor.fit(x[:5], y[:5])
    with pytest.raises(ValueError, match="NaN/inf"):
        predictor.fit(x[:20], np.where(np.arange(20) == 4, np.nan, y[:20]))


def test_saved_predictor_predicts_the_same(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.ones(4), 60)
    y = x @ np.array([1.0, 2.0, 3.0, 4.0]) + 0.01 * rng.standard_normal(60)
    model = surrogate.fit(x, y, surrogate.SurrogateSettings("lightgbm", bootstrap=0))
    model.save(tmp_path / "p.pkl")
    again = surrogate.Fitted.load(tmp_path / "p.pkl")
    np.testing.assert_allclose(again.mean(x), model.mean(x))
    assert predictor.evaluate(model.mean, x, y)["spearman"] > 0.9
    model = predictor.fit(x, y)
    with pytest.raises(ValueError, match="fitted on 4 domains"):
        model.predict(x[:, :3])
