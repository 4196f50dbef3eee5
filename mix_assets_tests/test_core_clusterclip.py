"""ClusterClip invariants: the clip holds, rare clusters come first, the full budget ends natural."""

import numpy as np
import pytest

from mix_assets.core import clusterclip

SIZES = [400, 40, 4]  # a common, a rare and a very rare cluster


def corpus():
    clusters = np.repeat(np.arange(3), SIZES)
    return clusters, np.full(len(clusters), 10)


def test_never_exceeds_the_clip_and_is_seeded():
    clusters, lengths = corpus()
    order = clusterclip.schedule(clusters, lengths, token_budget=6_000, clip=2, seed=1)
    assert np.bincount(order).max() <= 2
    assert lengths[order].sum() >= 6_000
    np.testing.assert_array_equal(order, clusterclip.schedule(clusters, lengths, 6_000, 2, seed=1))


def test_balanced_early_then_natural_once_rare_clusters_are_exhausted():
    clusters, lengths = corpus()
    clip = 3
    order = clusterclip.schedule(clusters, lengths, token_budget=int(lengths.sum()) * clip, clip=clip, seed=0)
    early = np.bincount(clusters[order[:24]], minlength=3) / 24
    assert early.min() > 0.15  # the very rare cluster (0.9% of documents) gets about a third early on
    assert np.bincount(order, minlength=len(clusters)).tolist() == [clip] * len(
        clusters
    )  # whole budget: every doc clip times
    np.testing.assert_allclose(np.bincount(clusters[order]) / len(order), np.array(SIZES) / sum(SIZES))
    tail = clusters[order[-200:]]
    assert (tail == 0).mean() == 1.0  # rare clusters retired: the end of training is the natural bulk


def test_budget_over_the_clip_is_refused():
    clusters, lengths = corpus()
    with pytest.raises(clusterclip.BudgetExceedsClip, match="clip=1"):
        clusterclip.schedule(clusters, lengths, token_budget=int(lengths.sum()) + 1, clip=1)


def test_uniform_schedule_follows_weights():
    clusters, lengths = corpus()
    order = clusterclip.uniform_schedule(clusters, lengths, {0: 0.5, 1: 0.5}, 4_000, max_epochs=15, seed=0)
    share = np.bincount(clusters[order], minlength=3) / len(order)
    np.testing.assert_allclose(share[:2], [0.5, 0.5], atol=0.01)
    assert share[2] == 0
