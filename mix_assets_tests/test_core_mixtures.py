"""Generator invariants (METHODS §1): simplex, bounds, grid, de-duplication, determinism, clear shortfall."""
import numpy as np
import pytest

from mix_assets.core import mixtures as mx

TOKENS = np.array([1_100_000, 600_000, 570_000, 490_000, 310_000, 24_000], dtype=float)
BUDGET = 1_000_000


def test_generated_mixtures_are_on_the_simplex_grid_and_bounded():
    s = mx.GeneratorSettings()
    w = mx.generate(TOKENS, 64, BUDGET, s, seed=1)
    assert w.shape == (64, 6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    units = w / s.grid
    np.testing.assert_allclose(units, np.round(units), atol=1e-6)  # on the 2e-4 grid
    assert ((w == 0) | (w >= s.min_weight - 1e-12)).all()
    bound = mx.upper_bounds(TOKENS, BUDGET, s.max_epochs)
    assert bound[-1] == pytest.approx(0.36)  # 15 epochs x 24k tokens / 1M budget
    assert (w <= bound + 1e-12).all()
    ids = [mx.mixture_id(x) for x in w]
    assert len(set(ids)) == 64  # distinct
    assert min(np.abs(w[i] - w[j]).sum() for i in range(64) for j in range(i)) > s.dedup_l1


def test_deterministic_by_seed_and_ids_are_stable():
    a, b, c = (mx.generate(TOKENS, 16, BUDGET, seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert mx.mixture_id(a[0]) == mx.mixture_id(a[0].copy() + 1e-9)  # same grid point, same id
    assert mx.mixture_id(np.array([0.5, 0.5])) != mx.mixture_id(np.array([0.5002, 0.4998]))


def test_excluded_ids_are_never_generated_again():
    first = mx.generate(TOKENS, 20, BUDGET, seed=3)
    again = mx.generate(TOKENS, 20, BUDGET, seed=3, exclude={mx.mixture_id(w) for w in first})
    assert not {mx.mixture_id(w) for w in first} & {mx.mixture_id(w) for w in again}


def test_shortfall_is_a_clear_error():
    with pytest.raises(mx.MixtureShortfall, match="distinct mixtures"):
        mx.generate(np.array([1.0, 1.0]), 50, 1.0, mx.GeneratorSettings(grid=0.25, max_tries=5))
    with pytest.raises(mx.MixtureShortfall, match="max-epochs bound"):
        mx.sample_pool(np.array([10.0, 10.0]), 5, 1_000_000, mx.GeneratorSettings(max_tries=3), seed=0)


def test_propose_keeps_the_predicted_best_and_skips_tried():
    def predict(w):  # a known landscape: best is all weight on domain 3
        return -w[:, 3]

    got, pred = mx.propose(predict, TOKENS, 8, BUDGET, seed=0, pool_size=5000)
    pool = mx.sample_pool(TOKENS, 5000, BUDGET, mx.GeneratorSettings(), 0)
    cutoff = np.sort(predict(np.unique(pool, axis=0)))[127]  # the top max(8^2, 128)
    assert (pred <= cutoff + 1e-12).all() and np.all(np.diff(pred) >= 0)
    tried = {mx.mixture_id(w) for w in got}
    again, _ = mx.propose(predict, TOKENS, 8, BUDGET, seed=0, pool_size=5000, exclude=tried)
    assert not tried & {mx.mixture_id(w) for w in again}


def test_best_mixture_argmax_and_topk_mean():
    def predict(w):
        return -w[:, 3]

    best = mx.best_mixture(predict, TOKENS, BUDGET, seed=0, pool_size=5000)
    mean = mx.best_mixture(predict, TOKENS, BUDGET, seed=0, pool_size=5000, method="topk_mean", top_k=16)
    assert best[3] >= mean[3] > 0.5
    for w in (best, mean):
        assert w.sum() == pytest.approx(1) and (w <= mx.upper_bounds(TOKENS, BUDGET, 15) + 1e-12).all()
    with pytest.raises(ValueError, match="argmax"):
        mx.best_mixture(predict, TOKENS, BUDGET, method="median")
