"""The verified final choice returns the measured best and is never worse than the baselines it was given."""
import numpy as np
import pytest

from mix_assets.core import verify


def test_shortlist_names_each_mixture_once():
    a, b, c = np.array([0.5, 0.5]), np.array([0.2, 0.8]), np.array([0.9, 0.1])
    measured, scores = np.stack([a, b, c]), np.array([3.0, 1.0, 2.0])
    short = verify.shortlist({"surrogate_argmax": b, "surrogate_topk_mean": b}, measured, scores, 2, True, {"uniform": a})
    # b (the best measured) once, as the argmax; uniform keeps its name although it was measured too
    assert [x.name for x in short] == ["uniform", "surrogate_argmax", "measured_2"]
    np.testing.assert_array_equal(short[2].weights, c)


def test_verify_returns_the_measured_best_not_the_predicted_one():
    truth = {"surrogate_argmax": 3.0, "measured_1": 2.5, "natural": 2.8, "uniform": 2.9}
    rng = np.random.default_rng(0)
    cands = [verify.Candidate(n, np.array([i + 1.0, 1.0]) / (i + 2)) for i, n in enumerate(truth)]
    seen = []

    def measure(c, r):
        seen.append((c.name, r))
        return {"objective": truth[c.name] + 0.01 * rng.standard_normal(), "eval_objective": truth[c.name] + 0.1}

    out = verify.verify(cands, measure, 3, minimize=True)
    assert out.chosen.name == "measured_1" and len(seen) == 12
    mean, std = out.summary("objective")["measured_1"]
    assert mean == pytest.approx(2.5, abs=0.03) and 0 < std < 0.05
    assert out.summary("eval_objective")["natural"][0] == pytest.approx(2.9)
    # maximising, and a surrogate optimum that is worse than a baseline is never returned
    up = verify.verify(cands, lambda c, r: {"objective": truth[c.name]}, 1, minimize=False)
    assert up.chosen.name == "surrogate_argmax"
    worse = {"surrogate_argmax": 3.5, "natural": 3.1, "uniform": 3.2}
    pick = verify.verify([c for c in cands if c.name in worse], lambda c, r: {"objective": worse[c.name]}, 2, minimize=True)
    assert pick.chosen.name == "natural"


def test_verify_skips_failed_candidates_and_refuses_an_empty_list():
    cands = [verify.Candidate("a", np.array([1.0, 0.0])), verify.Candidate("b", np.array([0.0, 1.0]))]
    out = verify.verify(cands, lambda c, r: {} if c.name == "a" else {"objective": 1.0}, 2, True)
    assert out.chosen.name == "b" and np.isnan(out.summary("objective")["a"][0])
    with pytest.raises(ValueError, match="empty"):
        verify.verify([], lambda c, r: {}, 2, True)
