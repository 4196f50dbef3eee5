"""Pinned weights and a frozen block: honoured by the generator, the proposals and the surrogate's
optimum, with the repetition bound; impossible pins refused with the domain named."""

import numpy as np

from mix_assets.core import final_choice, generator, rounds
from mix_assets.core.frame import Frame

TOKENS = np.array([500.0, 300.0, 150.0, 50.0, 100.0])
GEN = generator.GeneratorSettings(max_epochs=15.0)
RUN = 1000.0
BOUND = generator.upper_bounds(TOKENS, RUN, GEN.max_epochs)


def bowl(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = ((np.atleast_2d(x) - [0.3, 0.2, 0.2, 0.1, 0.2]) ** 2).sum(axis=1)
    return 3.0 + d, np.full(len(d), 0.05)


def honours(frame: Frame, w: np.ndarray, block: dict[int, float] | None = None) -> None:
    w = np.atleast_2d(w)
    assert np.allclose(w.sum(axis=1), 1) and (w <= BOUND + 1e-12).all()
    for d in frame.pinned:
        assert np.allclose(w[:, d], frame.offset[d])
    if block:
        ids, ratio = list(block), np.array(list(block.values()))
        share = w[:, ids].sum(axis=1, keepdims=True)
        # the block's domains in its ratio, to within the grid's rounding
        assert np.abs(w[:, ids] - share * ratio / ratio.sum()).max() <= 2 * frame.grid


def test_pins_and_a_block_are_honoured_by_every_round_and_the_optimum():
    block = {0: 0.6, 1: 0.4}
    frame = Frame.build(5, pins={3: 0.05}, block=block)
    assert frame.k == 3 and frame.labels == ("block", "2", "4") and not frame.problems(BOUND)
    p = generator.ProposalSettings(pool_size=4_000)
    r0 = rounds.propose_round(0, [12, 6], TOKENS, RUN, GEN, 1, p, True, [], [], frame=frame)
    assert r0.kinds.count("dirichlet") >= 11 and r0.kinds[-2:] == ["natural", "uniform"]
    honours(frame, r0.weights[:-2], block)
    honours(frame, r0.weights[-2:])  # the baselines keep the pins, not the block
    y = bowl(r0.weights)[0]
    r1 = rounds.propose_round(1, [12, 6], TOKENS, RUN, GEN, 1, p, True, r0.weights, y, bowl, frame=frame)
    assert len(r1.weights) >= 5
    honours(frame, r1.weights, block)
    s = final_choice.FinalSettings(pool_size=4_000)
    short = final_choice.short_list(
        lambda w: bowl(w)[0], r0.weights, y, TOKENS, RUN, GEN, 1, True, {}, s, frame=frame
    )
    optima = [c for c in short if not c.name.startswith("measured")]
    assert {c.name for c in optima} >= {"surrogate_argmax", "surrogate_topk_mean"}
    honours(frame, np.stack([c.weights for c in optima]), block)


def test_coordinates_round_trip_and_outside_mixtures_are_told_apart():
    frame = Frame.build(5, pins={3: 0.05}, block={0: 0.6, 1: 0.4})
    w = frame.expand([[0.5, 0.2, 0.3]])
    coords, inside = frame.reduce(np.vstack([w, np.full(5, 0.2)]))
    assert inside.tolist() == [True, False] and np.allclose(coords[0], [0.5, 0.2, 0.3], atol=1e-3)
    assert Frame.identity(5).is_identity and not frame.is_identity


def test_impossible_pins_are_refused_naming_the_domain():
    assert "sum to 1.1" in Frame.build(5, pins={0: 0.6, 2: 0.5}).problems()[0]
    # domain 3 holds 50 tokens: a 1,000-token run may take 15 x 50 / 1,000 = 0.75 of it, so 0.8 is too much
    assert Frame.build(5, pins={3: 0.8}).problems(BOUND) == [
        "domain 3: pinned weight 0.8 is above its repetition bound 0.7500"
    ]
    tight = generator.upper_bounds(TOKENS, 20_000.0, 15.0)  # the free domains cannot fill what is left
    assert "can hold at most" in Frame.build(5, pins={0: 0.1}).problems(tight)[0]


def test_a_reuse_round_zero_draws_around_the_earlier_mixture_inside_the_frame():
    block = {0: 0.6, 1: 0.4}
    frame = Frame.build(5, pins={3: 0.05}, block=block)
    # the earlier mixture, translated: the new domain 4 had no weight in it
    previous = frame.project(np.array([[0.42, 0.28, 0.25, 0.05, 0.0]]))[0]
    p = generator.ProposalSettings()
    near = rounds.propose_round(
        0, [10, 6], TOKENS, RUN, GEN, 1, p, True, [], [], None, False, frame, previous
    )
    wide = rounds.propose_round(0, [10, 6], TOKENS, RUN, GEN, 1, p, True, [], [], frame=frame)
    assert near.kinds == ["near_previous"] * 10 and len({tuple(w) for w in near.weights}) == 10
    honours(frame, near.weights, block)
    # nearer the earlier mixture than the token prior's spread, by a margin no rounding can flip
    dist = lambda w: np.abs(w - previous).sum(axis=1).mean()  # noqa: E731
    assert dist(near.weights) < 0.5 * dist(wide.weights[:-2])
    assert (near.weights[:, 4] > 0).any()  # a domain the earlier mixture left out is tried
    # reuse_concentration 0: round 0 around the token prior again, the earlier mixture ignored
    prior = generator.ProposalSettings(reuse_concentration=0)
    again = rounds.propose_round(
        0, [10, 6], TOKENS, RUN, GEN, 1, prior, True, [], [], None, False, frame, previous
    )
    np.testing.assert_array_equal(again.weights, wide.weights[:-2])
