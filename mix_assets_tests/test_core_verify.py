"""The verified final choice returns the measured best and is never worse than the baselines it was given."""

import numpy as np
import pytest

from mix_assets.core import verify


def test_shortlist_names_each_mixture_once():
    a, b, c = np.array([0.5, 0.5]), np.array([0.2, 0.8]), np.array([0.9, 0.1])
    measured, scores = np.stack([a, b, c]), np.array([3.0, 1.0, 2.0])
    short = verify.shortlist(
        {"surrogate_argmax": b, "surrogate_topk_mean": b}, measured, scores, 2, True, {"uniform": a}
    )
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
        return {
            "objective": truth[c.name] + 0.01 * rng.standard_normal(),
            "eval_objective": truth[c.name] + 0.1,
        }

    out = verify.verify(cands, measure, 3, minimize=True)
    assert out.chosen.name == "measured_1" and len(seen) == 12
    mean, std = out.summary("objective")["measured_1"]
    assert mean == pytest.approx(2.5, abs=0.03) and 0 < std < 0.05
    assert out.summary("eval_objective")["natural"][0] == pytest.approx(2.9)
    # maximising, and a surrogate optimum that is worse than a baseline is never returned
    up = verify.verify(cands, lambda c, r: {"objective": truth[c.name]}, 1, minimize=False)
    assert up.chosen.name == "surrogate_argmax"
    worse = {"surrogate_argmax": 3.5, "natural": 3.1, "uniform": 3.2}
    pick = verify.verify(
        [c for c in cands if c.name in worse], lambda c, r: {"objective": worse[c.name]}, 2, minimize=True
    )
    assert pick.chosen.name == "natural"


def test_verify_skips_failed_candidates_and_refuses_an_empty_list():
    cands = [verify.Candidate("a", np.array([1.0, 0.0])), verify.Candidate("b", np.array([0.0, 1.0]))]
    out = verify.verify(cands, lambda c, r: {} if c.name == "a" else {"objective": 1.0}, 2, True)
    assert out.chosen.name == "b" and np.isnan(out.summary("objective")["a"][0])
    with pytest.raises(ValueError, match="empty"):
        verify.verify([], lambda c, r: {}, 2, True)


def runs_from(
    per_doc: dict[str, np.ndarray], tokens: np.ndarray, replicates: int = 3, noise: float = 0.0, seed: int = 0
):
    """measure(): every candidate's per-document nats (plus replicate noise) on one target."""
    rng = np.random.default_rng(seed)

    def measure(c, r):
        nll = per_doc[c.name] + noise * rng.standard_normal(len(tokens)) * tokens
        return {
            "objective": nll.sum() / tokens.sum(),
            "documents": {"t": {"nll": nll.tolist(), "tokens": tokens.tolist()}},
        }

    return measure


def test_se_rule_prefers_the_best_baseline_when_the_gain_is_within_the_target_documents_noise():
    rng = np.random.default_rng(1)
    tokens = rng.integers(200, 2000, 30).astype(float)
    uniform = 4.0 * tokens
    spread = rng.normal(0, 0.5, 30)
    spread -= (spread * tokens).sum() / tokens.sum()
    noisy_gain = uniform + (spread - 0.02) * tokens  # 0.02 nats better on average, but not across documents
    clear_gain = uniform - 0.3 * tokens + rng.normal(0, 0.05, 30) * tokens  # better on nearly every document
    natural = uniform + 0.1 * tokens
    cands = [
        verify.Candidate(n, np.array([i + 1.0, 1.0]) / (i + 2))
        for i, n in enumerate(["natural", "uniform", "measured_1", "measured_2"])
    ]
    prefer = verify.Preference({"t": 1.0})
    docs = {
        "natural": natural,
        "uniform": uniform,
        "measured_1": noisy_gain,
        "measured_2": uniform + 0.05 * tokens,
    }
    out = verify.verify(cands, runs_from(docs, tokens), 3, True, prefer=prefer)
    assert out.best == "measured_1" and out.chosen.name == "uniform"  # the better baseline, not natural
    gap, se = out.gaps["uniform"]
    assert 0 < gap <= se  # measured_1 was better on these documents, by less than their noise
    assert (
        verify.verify(cands, runs_from(docs, tokens), 3, True).chosen.name == "measured_1"
    )  # the plain rule
    docs["measured_1"] = clear_gain
    out = verify.verify(cands, runs_from(docs, tokens), 3, True, prefer=prefer)
    assert out.chosen.name == "measured_1" and out.gaps["uniform"][0] > 3 * out.gaps["uniform"][1]


def test_se_rule_takes_the_top_k_mean_as_a_hedge_but_never_one_worse_than_a_baseline():
    tokens = np.full(20, 500.0)
    rng = np.random.default_rng(2)
    base = 4.0 * tokens
    best = base - 0.5 * tokens + rng.normal(0, 0.02, 20) * tokens
    docs = {
        "uniform": base,
        "surrogate_argmax": best,
        "surrogate_topk_mean": best + rng.normal(0.001, 0.05, 20) * tokens,
    }
    cands = [verify.Candidate(n, np.array([i + 1.0, 1.0]) / (i + 2)) for i, n in enumerate(docs)]
    prefer = verify.Preference({"t": 1.0})
    assert (
        verify.verify(cands, runs_from(docs, tokens), 2, True, prefer=prefer).chosen.name
        == "surrogate_topk_mean"
    )
    docs["surrogate_topk_mean"] = base + 0.01 * tokens  # worse than uniform: not eligible, the best stands
    assert (
        verify.verify(cands, runs_from(docs, tokens), 2, True, prefer=prefer).chosen.name
        == "surrogate_argmax"
    )
    # without per-document losses the standard error is the replicates'
    truth = {"uniform": 3.0, "surrogate_argmax": 2.99, "surrogate_topk_mean": 3.2}
    noisy = np.random.default_rng(3)
    out = verify.verify(
        cands,
        lambda c, r: {"objective": truth[c.name] + 0.05 * noisy.standard_normal()},
        4,
        True,
        prefer=prefer,
    )
    assert (
        out.chosen.name in ("uniform", "surrogate_argmax")
        and np.isfinite(out.gaps["uniform"][1])
        and out.gaps["uniform"][1] > 0
    )


def test_of_two_hedges_within_the_noise_the_better_measured_is_taken():
    tokens = np.full(20, 500.0)
    rng = np.random.default_rng(4)
    base = 4.0 * tokens
    best = base - 0.5 * tokens + rng.normal(0, 0.02, 20) * tokens
    spread = [s - s.mean() for s in rng.normal(0, 0.05, (2, 20))]  # per document, no gain on average
    docs = {
        "uniform": base,
        "measured_1": best,
        # both top-k means lie within the noise of the best; LightGBM's measured better here
        "surrogate_topk_mean": best + (0.006 + spread[0]) * tokens,
        "lightgbm_topk_mean": best + (0.002 + spread[1]) * tokens,
    }
    cands = [verify.Candidate(n, np.array([i + 1.0, 1.0]) / (i + 2)) for i, n in enumerate(docs)]
    out = verify.verify(cands, runs_from(docs, tokens), 2, True, prefer=verify.Preference({"t": 1.0}))
    means = {n: m for n, (m, _) in out.summary("objective").items()}
    assert means["lightgbm_topk_mean"] < means["surrogate_topk_mean"]
    assert out.chosen.name == "lightgbm_topk_mean"
    docs["lightgbm_topk_mean"] = best + 0.03 * tokens  # now the worse of the two hedges
    out = verify.verify(cands, runs_from(docs, tokens), 2, True, prefer=verify.Preference({"t": 1.0}))
    assert out.chosen.name == "surrogate_topk_mean"


def test_document_losses_add_up_to_the_target_cross_entropy():
    from mix_assets.core.proxies import ngram

    rng = np.random.default_rng(0)
    train = [rng.integers(0, 50, 200) for _ in range(20)]
    target = [rng.integers(0, 50, n) for n in (5, 0, 40, 17)]
    nll, n = ngram.document_losses(train, {"t": target}, 50)["t"]
    assert n.tolist() == [5, 0, 40, 17] and nll[1] == 0
    assert nll.sum() / n.sum() == pytest.approx(ngram.cross_entropy(train, {"t": target}, 50)["t"])
    lm = ngram.KneserNey(50).fit(train)
    assert nll[2] == pytest.approx(-lm.log_prob([target[2]])[0])  # a document scored alone
