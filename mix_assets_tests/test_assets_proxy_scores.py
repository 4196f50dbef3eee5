"""proxy_scores on a real round: the best objective follows the search's direction."""

import polars as pl

from mix_assets_tests.conftest import metadata


def test_best_objective_is_the_minimum_or_the_maximum_as_the_search_says(searcher):
    for direction in ("minimize", "maximize"):
        p = searcher(rounds=[6], direction=direction)
        result = p.run_round("demo-r0000", stages=["mixture_candidates", "proxy_trials", "proxy_scores"])
        scores = p.warehouse.query("SELECT kind, m_objective FROM mix.proxy_scores WHERE status = 'ok'")
        best = scores["m_objective"].min() if direction == "minimize" else scores["m_objective"].max()
        assert scores["m_objective"].n_unique() > 1  # a best that differs from the other end
        assert metadata(result, "proxy_scores")["best_objective"] == best, direction
        # the table by kind (dirichlet, natural, uniform) takes the same end of each kind's scores
        pick = pl.col("m_objective").min() if direction == "minimize" else pl.col("m_objective").max()
        expected = dict(scores.group_by("kind").agg(pick).iter_rows())
        rows = [
            line.strip("| ").split(" | ")
            for line in metadata(result, "proxy_scores")["by_kind"].splitlines()[2:]
        ]
        assert {r[0]: r[1] for r in rows} == {k: f"{v:.3f}" for k, v in expected.items()}, direction
