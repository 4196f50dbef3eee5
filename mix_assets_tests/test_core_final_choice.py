"""The final choice's recipe: the short list's names, the replicate seeds, and the choice."""

import numpy as np
import pytest

from mix_assets.core import final_choice, generator, rounds
from mix_assets.core.verify import BASELINES, LIGHTGBM_TOPK, SURROGATE_ARGMAX, SURROGATE_TOPK

TOKENS = np.array([500.0, 300.0, 150.0, 50.0])
GEN = generator.GeneratorSettings(max_epochs=15.0)
BEST = np.array([0.4, 0.3, 0.2, 0.1])


def loss(x: np.ndarray) -> np.ndarray:
    return 3.0 + ((np.atleast_2d(x) - BEST) ** 2).sum(axis=1)


def test_the_short_list_names_each_candidate_once_and_the_replicates_their_seeds():
    x = generator.generate(TOKENS, 40, 1000.0, GEN, seed=1)
    s = final_choice.FinalSettings(pool_size=4_000)
    base = rounds.baselines(TOKENS, generator.upper_bounds(TOKENS, 1000.0, 15.0))
    short = final_choice.short_list(loss, x, loss(x), TOKENS, 1000.0, GEN, 42, True, base, s)
    names = [c.name for c in short]
    assert names[:2] == list(BASELINES) and len(set(names)) == len(names)
    assert set(names) <= {
        *BASELINES,
        SURROGATE_ARGMAX,
        SURROGATE_TOPK,
        LIGHTGBM_TOPK,
        "measured_1",
        "measured_2",
    }
    assert len({c.mixture_id for c in short}) == len(short)  # two reasons for one mixture: measured once
    optimum = next(c for c in short if c.name == SURROGATE_ARGMAX)
    assert loss(optimum.weights)[0] < loss(x).min()  # the exact surrogate's optimum beats every trial
    assert final_choice.replicate_seeds(42, s) == [42 + 99_991, 42 + 99_992, 42 + 99_993]


def test_the_rule_keeps_a_baseline_within_the_noise_and_best_takes_the_best_mean():
    a, b = np.array([0.25] * 4), BEST
    short = [final_choice.Candidate("natural", a), final_choice.Candidate("measured_1", b)]
    # measured_1 is better by 0.004 with a replicate spread of 0.01: within 2 standard errors
    runs = {"natural": [3.010, 3.000, 3.020], "measured_1": [3.001, 3.010, 2.999]}

    def measure(c, r):
        return {"objective": runs[c.name][r]}

    rule = final_choice.choose(short, measure, True, {"t": 1.0})
    best = final_choice.choose(short, measure, True, {"t": 1.0}, final_choice.FinalSettings(choice="best"))
    assert rule.best == best.best == "measured_1"
    assert rule.chosen.name == "natural" and best.chosen.name == "measured_1"
    with pytest.raises(ValueError, match="choice must be one of"):
        final_choice.FinalSettings(choice="median")
