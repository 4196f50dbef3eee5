"""Every surrogate learns a smooth landscape, knows where it has no data, and `auto` keeps the best by CV."""

import numpy as np
import pytest

from mix_assets.core import surrogate as sg

FAST = sg.SurrogateSettings(bootstrap=4, lightgbm=sg.lgbm.PredictorSettings(n_estimators=200))


def landscape(n, seed=0, d=4):
    """A loss that is lowest with much of domain 0 and some of domain 2, with a little noise."""
    rng = np.random.default_rng(seed)
    x = rng.dirichlet(np.ones(d), n)
    y = 3.0 - 0.8 * x[:, 0] - 0.4 * np.sqrt(x[:, 2]) + 0.5 * x[:, 1] ** 2 + 0.01 * rng.standard_normal(n)
    return x, y


@pytest.mark.parametrize("model", sg.MODELS)
def test_each_model_ranks_held_out_mixtures_and_reports_an_uncertainty(model):
    x, y = landscape(80)
    tx, ty = landscape(200, seed=1)
    fitted = sg.fit(x, y, sg.SurrogateSettings(**{**FAST.__dict__, "model": model}))
    mean, std = fitted.predict(tx)
    assert fitted.name == model and [r["model"] for r in fitted.report] == [model]
    rho = sg.spearmanr(mean, ty).statistic
    assert rho > 0.8, f"{model}: held-out Spearman {rho:.3f}"
    assert std.shape == mean.shape and (std >= 0).all() and std.max() > 0


def test_gp_is_less_sure_far_from_the_data():
    x, y = landscape(60)
    near = x[:20] * 0.98 + 0.02 / 4
    fitted = sg.fit(x[x[:, 3] < 0.3], y[x[:, 3] < 0.3], sg.SurrogateSettings(model="gp"))
    far = np.tile([0.0, 0.0, 0.0, 1.0], (5, 1))  # all weight on a domain the data barely covers
    assert fitted.predict(far)[1].mean() > 1.5 * fitted.predict(near[near[:, 3] < 0.3])[1].mean()


def test_auto_reports_every_candidate_and_keeps_the_best_by_cv(tmp_path):
    x, y = landscape(64)
    fitted = sg.fit(x, y, FAST)
    rows = {r["model"]: r for r in fitted.report}
    assert set(rows) == {*sg.MODELS, "ensemble"}
    best = max(rows.values(), key=lambda r: round(r["cv_spearman"], 4))
    assert rows[fitted.name]["chosen"] and rows[fitted.name]["cv_spearman"] == pytest.approx(
        best["cv_spearman"], abs=1e-4
    )
    assert sum(r["weight"] for n, r in rows.items() if n != "ensemble") == pytest.approx(1)
    assert len(fitted.oof) == 64
    fitted.save(tmp_path / "s.pkl")
    again = sg.Fitted.load(tmp_path / "s.pkl")
    np.testing.assert_allclose(again.predict(x[:5])[0], fitted.predict(x[:5])[0])


def test_max_mae_ratio_keeps_auto_to_the_models_whose_level_is_right():
    x, y = landscape(64)
    y = y + 0.3 * (x[:, 3] > 0.5)  # a step, which the models fit unequally well: their MAEs spread
    rows = {r["model"]: r for r in sg.fit(x, y, FAST).report}
    floor = min(r["cv_mae"] for r in rows.values())
    for ratio in (1.0, 1.3):
        fitted = sg.fit(x, y, sg.SurrogateSettings(**{**FAST.__dict__, "max_mae_ratio": ratio}))
        chosen = {r["model"]: r for r in fitted.report}[fitted.name]
        assert chosen["cv_mae"] <= ratio * floor + 1e-12
        eligible = [r for r in rows.values() if r["cv_mae"] <= ratio * floor + 1e-12]
        assert chosen["cv_spearman"] == pytest.approx(max(r["cv_spearman"] for r in eligible), abs=1e-4)
    with pytest.raises(ValueError, match="max_mae_ratio"):
        sg.SurrogateSettings(max_mae_ratio=0.5)


def test_ensemble_variance_includes_disagreement_and_bad_input_is_refused():
    class Fixed(sg.Model):
        def __init__(self, m):
            self.m = m

        def predict(self, x):
            return np.full(len(x), self.m), np.zeros(len(x))

    mean, std = sg.Ensemble({"a": Fixed(1.0), "b": Fixed(3.0)}, {"a": 0.5, "b": 0.5}).predict(
        np.zeros((2, 3))
    )
    np.testing.assert_allclose(mean, 2.0) and np.testing.assert_allclose(std, 1.0)
    with pytest.raises(sg.lgbm.TooFewRows):
        sg.fit(*landscape(4), FAST)
    with pytest.raises(ValueError, match="NaN"):
        x, y = landscape(20)
        sg.fit(x, np.where(np.arange(20) == 3, np.nan, y), FAST)
    with pytest.raises(ValueError, match="surrogate model"):
        sg.SurrogateSettings(model="forest")


def test_regmix_is_lightgbm_with_regmix_settings_and_its_top_k_mean_finds_the_low_region():
    from mix_assets.core import generator

    x, y = landscape(96)
    fitted = sg.regmix(x, y, seed=3)
    assert isinstance(fitted, sg.LightGBM) and fitted.boot == []
    tx, ty = landscape(200, seed=1)
    assert sg.spearmanr(fitted.mean(tx), ty).statistic > 0.8
    tokens = np.array([400.0, 300.0, 200.0, 100.0])
    w = generator.best_mixture(fitted.mean, tokens, 1000.0, seed=0, pool_size=5000, method="topk_mean")
    natural = tokens / tokens.sum()
    truth = lambda v: 3.0 - 0.8 * v[0] - 0.4 * np.sqrt(v[2]) + 0.5 * v[1] ** 2  # noqa: E731
    assert truth(w) < truth(natural) - 0.1  # more of domain 0, less of domain 1
