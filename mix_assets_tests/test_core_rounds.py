"""The round step: round 0's spread and baselines, later rounds from the surrogate, never a mixture
tried before."""

import numpy as np
import pytest

from mix_assets.core import generator, rounds
from mix_assets.core.domains import mixture_id

TOKENS = np.array([500.0, 300.0, 150.0, 50.0])
GEN = generator.GeneratorSettings(max_epochs=15.0)


def bowl(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A surrogate with its optimum at (0.4, 0.3, 0.2, 0.1) and a constant uncertainty."""
    d = ((np.atleast_2d(x) - [0.4, 0.3, 0.2, 0.1]) ** 2).sum(axis=1)
    return 3.0 + d, np.full(len(d), 0.05)


def test_round_zero_spreads_and_adds_the_baselines_that_respect_the_bound():
    r0 = rounds.propose_round(0, [12, 6], TOKENS, 1000.0, GEN, 3, generator.ProposalSettings(), True, [], [])
    assert r0.kinds == ["dirichlet"] * 12 + ["natural", "uniform"] and np.isnan(r0.predicted).all()
    assert np.allclose(r0.weights.sum(axis=1), 1) and len({mixture_id(w) for w in r0.weights}) == 14
    # the smallest domain holds 5% of the tokens: a 10,000-token run may take 15 x 50 / 10,000 =
    # 7.5% of it (natural's 5% stays, uniform's 25% does not), a 20,000-token run 3.75% (neither)
    assert list(rounds.baselines(TOKENS, generator.upper_bounds(TOKENS, 10_000.0, 15.0))) == ["natural"]
    assert rounds.baselines(TOKENS, generator.upper_bounds(TOKENS, 20_000.0, 15.0)) == {}


def test_a_later_round_follows_the_surrogate_and_skips_what_was_tried():
    with pytest.raises(ValueError, match="pass the one fitted on rounds 0..0"):
        rounds.propose_round(1, [12, 6], TOKENS, 1000.0, GEN, 3, generator.ProposalSettings(), True, [], [])
    r0 = rounds.propose_round(0, [12, 6], TOKENS, 1000.0, GEN, 3, generator.ProposalSettings(), True, [], [])
    y = bowl(r0.weights)[0]
    p = generator.ProposalSettings(pool_size=5_000)
    r1 = rounds.propose_round(1, [12, 6], TOKENS, 1000.0, GEN, 3, p, True, r0.weights, y, bowl)
    assert len(r1.weights) == 6 and set(r1.kinds) <= {"lcb", "local"} and "local" in r1.kinds
    assert not {mixture_id(w) for w in r1.weights} & {mixture_id(w) for w in r0.weights}
    # the surrogate's picks sit nearer its optimum than round 0's spread does
    assert np.median(bowl(r1.weights)[0]) < np.median(y) - 0.02
    # maximising turns the same surrogate's preference around
    up = rounds.propose_round(1, [12, 6], TOKENS, 1000.0, GEN, 3, p, False, r0.weights, y, bowl)
    assert np.median(bowl(up.weights)[0]) > np.median(bowl(r1.weights)[0])
    with pytest.raises(ValueError, match="beyond the schedule"):
        rounds.propose_round(2, [12, 6], TOKENS, 1000.0, GEN, 3, p, True, r0.weights, y, bowl)
