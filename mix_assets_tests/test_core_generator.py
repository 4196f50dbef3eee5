"""Generator invariants (METHODS §1): simplex, bounds, grid, de-duplication, determinism, clear shortfall."""

import numpy as np
import pytest

from mix_assets.core import generator as mx

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
    with pytest.raises(mx.MixtureShortfall, match="cannot fill a run of 1,000,000 tokens"):
        mx.sample_pool(np.array([10.0, 10.0]), 5, 1_000_000, mx.GeneratorSettings(max_tries=3), seed=0)


def known(w):
    """A known landscape: best is all weight on domain 3; uncertainty grows with domain 5's weight."""
    return -w[:, 3], 0.5 * w[:, 5]


def test_climb_proposal_picks_at_random_from_the_predicted_best_and_skips_tried():
    p = mx.ProposalSettings(proposal="climb", pool_size=5000)
    got, pred, _, kinds = mx.propose(known, TOKENS, 8, BUDGET, seed=0, p=p)
    pool = np.unique(mx.sample_pool(TOKENS, 5000, BUDGET, mx.GeneratorSettings(), 0), axis=0)
    ranked = np.sort(-pool[:, 3])
    assert (pred <= ranked[127] + 1e-12).all() and np.all(np.diff(pred) >= 0) and set(kinds) == {"predicted"}
    assert not (pred <= ranked[7] + 1e-12).all()  # at random within the top 128, not simply the best 8
    same = mx.propose(known, TOKENS, 8, BUDGET, seed=0, p=p)[0]
    np.testing.assert_array_equal(got, same)  # seeded
    # over 20 seeds the picks' ranks in their pool spread over the whole top 128, as uniform picks do
    ranks = []
    for seed in range(20):
        pool = np.unique(mx.sample_pool(TOKENS, 5000, BUDGET, mx.GeneratorSettings(), seed), axis=0)
        order = np.sort(-pool[:, 3])
        picked = mx.propose(known, TOKENS, 8, BUDGET, seed=seed, p=p)[1]
        ranks += [int(np.searchsorted(order, v, side="left")) for v in picked]
    ranks = np.array(ranks)
    assert ranks.max() <= 127 and 40 < ranks.mean() < 88 and (ranks >= 64).mean() > 0.3
    tried = {mx.mixture_id(w) for w in got}
    again = mx.propose(known, TOKENS, 8, BUDGET, seed=0, p=p, exclude=tried)[0]
    assert not tried & {mx.mixture_id(w) for w in again}


def test_lcb_proposal_ranks_by_the_bound_spreads_picks_and_steps_near_the_best_measured():
    p = mx.ProposalSettings(pool_size=5000, kappa=2.0, local_share=0.25)
    best = mx.generate(TOKENS, 1, BUDGET, seed=9)[0]
    got, mean, std, kinds = mx.propose(known, TOKENS, 8, BUDGET, seed=0, p=p, best_measured=best)
    assert kinds.count("local") == 2 and kinds.count("lcb") == 6
    pool = np.unique(mx.sample_pool(TOKENS, 5000, BUDGET, mx.GeneratorSettings(), 0), axis=0)
    acq = mx.acquisition(*known(pool), 2.0, True)
    cutoff = np.sort(acq)[127]
    lcb = got[[k == "lcb" for k in kinds]]
    assert (
        mx.acquisition(*known(lcb), 2.0, True) <= cutoff + 1e-12
    ).all()  # from the top set by the bound, not the mean

    # spread: the six picks are farther apart than six top picks by acquisition alone
    def min_gap(w):
        return min(np.abs(w[i] - w[j]).sum() for i in range(len(w)) for j in range(i))

    assert min_gap(lcb) > min_gap(pool[np.argsort(acq)[:6]])
    local = got[[k == "local" for k in kinds]]
    assert (np.abs(local - best).sum(axis=1) < 0.5).all()  # steps, not jumps
    bound = mx.upper_bounds(TOKENS, BUDGET, 15)
    assert (got <= bound + 1e-12).all() and np.allclose(got.sum(axis=1), 1)
    assert len({mx.mixture_id(w) for w in got}) == 8
    # kappa = 0 ranks by the mean alone: the picks' mean is then no worse on average
    plain = mx.propose(known, TOKENS, 8, BUDGET, seed=0, p=mx.ProposalSettings(pool_size=5000, kappa=0.0))[1]
    assert plain.mean() <= mean.mean() + 1e-12


def test_bound_is_computed_at_the_run_size_not_the_proxy_budget():
    run = 3e7  # a 30M-token run over a 3.1M-token corpus: the small domain may take 1.2% at most
    bound = mx.upper_bounds(TOKENS, run, 15)
    assert bound[-1] == pytest.approx(15 * 24_000 / 3e7)
    w = mx.generate(TOKENS, 32, run, seed=1)
    assert (w <= bound + 1e-12).all() and (w[:, -1] <= 0.012 + 1e-12).all()
    unbounded = mx.sample_pool(TOKENS, 2000, run, mx.GeneratorSettings(), seed=1, bounded=False)
    assert (unbounded > bound + 1e-12).any()  # without the bound the generator happily breaks it
    with pytest.raises(mx.MixtureShortfall, match="cannot fill a run of 1,000,000,000 tokens"):
        mx.generate(TOKENS, 4, 1e9, seed=1)


def test_best_mixture_argmax_and_topk_mean():
    def predict(w):
        return known(w)[0]

    best = mx.best_mixture(predict, TOKENS, BUDGET, seed=0, pool_size=5000)
    mean = mx.best_mixture(predict, TOKENS, BUDGET, seed=0, pool_size=5000, method="topk_mean", top_k=16)
    assert best[3] >= mean[3] > 0.5
    for w in (best, mean):
        assert w.sum() == pytest.approx(1) and (w <= mx.upper_bounds(TOKENS, BUDGET, 15) + 1e-12).all()
    with pytest.raises(ValueError, match="argmax"):
        mx.best_mixture(predict, TOKENS, BUDGET, method="median")


def test_exploration_turns_to_caution_by_the_last_round():
    assert [mx.round_kappa(1.0, r, 3) for r in (1, 2)] == [1.0, -1.0]
    assert [mx.round_kappa(1.5, r, 5) for r in (1, 2, 3, 4)] == pytest.approx([1.5, 0.5, -0.5, -1.5])
    assert mx.round_kappa(1.0, 1, 2) == -1.0  # one proposal round is the last one


def test_lcb_proposal_still_returns_m_when_no_local_step_survives():
    p = mx.ProposalSettings(pool_size=5000, kappa=1.0, local_share=0.25)
    best = mx.generate(TOKENS, 1, BUDGET, seed=9)[0]
    steps = mx.local_steps(
        best, TOKENS, p.local_draws, BUDGET, mx.GeneratorSettings(), p.local_concentration, 0 + 2
    )
    tried = {mx.mixture_id(w) for w in steps}  # every step the proposal could take was already tried
    got, _, _, kinds = mx.propose(known, TOKENS, 8, BUDGET, seed=0, p=p, exclude=tried, best_measured=best)
    assert len(got) == 8 and kinds.count("local") == 0
    assert len({mx.mixture_id(w) for w in got}) == 8 and not tried & {mx.mixture_id(w) for w in got}


def test_round_zero_grows_with_the_domains_and_the_total_stays():
    # 6 domains: 5 per domain is 30, under 52, so the schedule runs as written
    assert mx.round_schedule([52, 24, 13], 6, 5) == [52, 24, 13]
    # 18 domains want 90 spread-out trials: the whole budget of 89 goes to one round, as RegMix runs it
    assert mx.round_schedule([52, 24, 13], 18, 5) == [89]
    # taken from the last round first; a remainder under 2 trials joins round 0
    assert mx.round_schedule([64, 32, 16], 18, 5) == [90, 22]
    assert mx.round_schedule([10, 5, 5], 3, 5) == [15, 5]
    assert mx.round_schedule([10, 6, 5], 4, 5) == [21]  # 1 trial would be left: it joins round 0
    assert mx.round_schedule([8, 4, 4], 4, 0) == [8, 4, 4]  # 0: as written
    for rounds, d in [([64, 32, 16], 7), ([64, 32, 16], 30), ([3, 3, 3, 3], 2), ([2], 50)]:
        assert sum(mx.round_schedule(rounds, d, 5)) == sum(rounds)
