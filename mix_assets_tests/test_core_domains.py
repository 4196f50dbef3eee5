"""The one mixture shape: Domains and Mixture (core/domains.py)."""

import numpy as np
import polars as pl
import pytest

from mix_assets.core import generator
from mix_assets.core.domains import GRID, Domains, mixture_id, to_grid

DOMAINS = Domains.of(["code", "math", "news"], [600_000, 300_000, 24_000])


def test_a_mixture_table_round_trips_weights_and_ids():
    w = generator.generate(DOMAINS.token_counts, 8, 1_000_000, seed=3)
    table = DOMAINS.table(w, search="demo", round="demo-r0000", kind=["dirichlet"] * 8)
    assert table.columns == ["search", "round", "kind", "mixture_id", "w0", "w1", "w2"]
    np.testing.assert_array_equal(DOMAINS.weights(table), w)
    assert table["mixture_id"].to_list() == [m.id for m in DOMAINS.mixtures(table)]
    assert len(set(table["mixture_id"])) == 8


def test_baselines_are_on_the_grid_and_sum_to_one():
    natural, uniform = DOMAINS.natural(), DOMAINS.uniform()
    for m in (natural, uniform):
        assert m.weights.sum() == pytest.approx(1, abs=1e-12)
        np.testing.assert_allclose(m.weights / GRID, np.round(m.weights / GRID), atol=1e-6)
    t = DOMAINS.token_counts
    assert np.abs(natural.weights - t / t.sum()).max() <= GRID
    assert natural.id == mixture_id(to_grid(t / t.sum())[0])


def test_names_follow_domain_ids_in_exports():
    m = DOMAINS.mixture([0.5, 0.5, 0.0])
    assert m.by_name() == {"super_cluster_0": 0.5, "super_cluster_1": 0.5, "super_cluster_2": 0.0}
    assert m.by_name(["a", "b", "c"])["b"] == 0.5
    assert DOMAINS.display == ["0: code", "1: math", "2: news"]


def test_bad_mixtures_and_tables_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="over 3 domains needs as many weights"):
        DOMAINS.mixture([0.5, 0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        DOMAINS.mixture([0.5, 0.6, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        DOMAINS.mixture([1.2, -0.2, 0.0])
    with pytest.raises(ValueError, match=r"scores.parquet: no weight columns \['w2'\] for 3 domains"):
        DOMAINS.weights(pl.DataFrame({"w0": [0.5], "w1": [0.5]}), "scores.parquet")
    with pytest.raises(ValueError, match="2 labels for 1 token counts"):
        Domains.of(["a", "b"], [1])
