"""SMART: greedy matches brute force on tiny sets, budgets are exact, examples are representative."""

from itertools import combinations

import numpy as np
import pytest

from mix_assets.core import smart


def kernel(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return smart.task_kernel(rng.standard_normal((n, 5)))


def fl_value(sim, s):
    return sim[:, list(s)].max(axis=1).sum() if s else 0.0


def gc_value(sim, s, lam=0.4):
    s = list(s)
    return sim[:, s].sum() - lam * sim[np.ix_(s, s)].sum()


def ld_value(sim, s):
    s = list(s)
    return np.linalg.slogdet(sim[np.ix_(s, s)] + np.eye(len(s)))[1] if s else 0.0


@pytest.mark.parametrize(
    "name,value", [("facility_location", fl_value), ("graph_cut", gc_value), ("log_determinant", ld_value)]
)
def test_lazy_greedy_equals_plain_greedy_and_is_near_brute_force(name, value):
    sim = kernel()
    for k in (1, 2, 3):
        got, gains = smart.FUNCTIONS[name](sim, k)
        plain = []
        for _ in range(k):  # plain greedy, no laziness: must pick the same set
            plain.append(max((j for j in range(7) if j not in plain), key=lambda j: value(sim, plain + [j])))
        assert value(sim, got) == pytest.approx(value(sim, plain))  # same value (ties may pick another item)
        assert np.cumsum(gains)[-1] == pytest.approx(value(sim, got))
        best = max(value(sim, c) for c in combinations(range(7), k))
        assert value(sim, got) >= (1 - 1 / np.e) * best  # the greedy guarantee
        if k == 1:
            assert value(sim, got) == pytest.approx(best)


def test_budgets_sum_exactly_and_respect_sizes():
    gains = [5.0, 3.0, 2.0, 1.0]
    out = smart.budgets(gains, np.array([1000, 1000, 5, 1000]), 1001)
    assert out.sum() == 1001 and out[2] <= 5
    assert out[0] > out[1] > out[3]  # larger gain, larger share
    capped = smart.budgets(gains, np.array([10, 10, 10, 10]), 40)
    assert capped.tolist() == [10, 10, 10, 10]
    with pytest.raises(ValueError, match="larger than all selected tasks"):
        smart.budgets(gains, np.array([1, 1, 1, 1]), 5)


def test_select_examples_covers_clusters_and_chunks():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 16)) * 5
    x = np.concatenate([c + rng.standard_normal((100, 16)) for c in centers])
    picked = smart.select_examples(x, 4)
    assert sorted(set(picked // 100)) == [0, 1, 2, 3]  # one per blob: representative, not redundant
    chunked = smart.select_examples(x, 40, chunk=64)
    assert len(chunked) == 40 and len(set(chunked)) == 40


def test_smart_end_to_end_with_task_limit():
    rng = np.random.default_rng(1)
    tasks = np.repeat(np.arange(6), 50)
    emb = rng.standard_normal((300, 8)) + tasks[:, None]
    out = smart.smart(tasks, emb, total=60, max_tasks=4)
    assert len(out["tasks"]) == 4 and sum(out["budgets"]) == 60 == len(out["rows"])
    assert set(tasks[out["rows"]]) == set(out["tasks"])


def test_budgets_follow_the_published_taylor_softmax_on_raw_gains():
    # shares 1 + g + g^2/2 = 5, 2.5, 1 of 8.5: floors 588, 294, 117, the one left to the first pick
    big = np.array([10_000, 10_000, 10_000])
    assert smart.budgets([2.0, 1.0, 0.0], big, 1000).tolist() == [589, 294, 117]
    # normalised (an option): gains / 2 -> shares 2.5, 1.625, 1 of 5.125, flatter
    assert smart.budgets([2.0, 1.0, 0.0], big, 1000, normalize=True).tolist() == [488, 317, 195]
