"""Domains across two fits on a constructed update whose split, merged, new and removed domains
are known, and the earlier mixtures translated through it."""

import numpy as np
import polars as pl

from mix_assets.core import domain_map

# old fit: A = docs 0-24, B = 25-49, C = 50-74, D = 75-99, E = 130-139 (gone from the new fit)
OLD_DOMAINS = [0] * 25 + [1] * 25 + [2] * 25 + [3] * 25 + [4] * 10
OLD_IDS = [*range(100), *range(130, 140)]
# new fit: B split into new 0 (25-37) and new 1 (38-49); A is new 2; C and D merged into new 3;
# docs 100-129 arrive as new 4
NEW = {**{i: 0 for i in range(25, 38)}, **{i: 1 for i in range(38, 50)}, **{i: 2 for i in range(25)}}
NEW |= {i: 3 for i in range(50, 100)} | {i: 4 for i in range(100, 130)}


def fits() -> tuple[pl.DataFrame, pl.DataFrame]:
    old = pl.DataFrame({"doc_id": [str(i) for i in OLD_IDS], "domain": OLD_DOMAINS, "n_tokens": [10] * 110})
    new = pl.DataFrame(
        {"doc_id": [str(i) for i in NEW], "domain": list(NEW.values()), "n_tokens": [10] * len(NEW)}
    )
    return old, new


def test_each_new_domain_is_classified_as_constructed():
    old, new = fits()
    table = domain_map.overlap(old, new)
    classes = domain_map.classify(table, 5)
    assert classes["status"].to_list() == ["split", "split", "unchanged", "merged", "new"]
    assert classes["main_old"].to_list()[:3] == [1, 1, 0]
    assert classes["old_domains"].to_list()[3] == [2, 3]
    assert classes["new_tokens_share"].to_list() == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert domain_map.removed(table, np.array([250, 250, 250, 250, 100.0])) == [4]
    # the overlap counts every shared document once, and the new documents under a null old domain
    assert table.filter(pl.col("old_domain").is_not_null())["docs"].sum() == 100
    assert table.filter(pl.col("old_domain").is_null())["docs"].to_list() == [30]


def test_earlier_mixtures_translate_exactly_through_a_split_and_lose_what_is_gone():
    old, new = fits()
    table = domain_map.overlap(old, new)
    tokens = np.array([250, 250, 250, 250, 100.0])
    mixes = np.array(
        [
            [0.5, 0.5, 0.0, 0.0, 0.0],  # A and B: a pure carry-over and a pure split
            [0.2, 0.2, 0.3, 0.3, 0.0],  # C and D as the merged domain samples them (equal sizes)
            [0.2, 0.2, 0.54, 0.06, 0.0],  # C and D 9:1 inside a domain that samples them 1:1
            [0.3, 0.3, 0.0, 0.0, 0.4],  # 40% on documents that are gone
        ]
    )
    t = domain_map.translate(mixes, table, tokens, 5)
    assert np.allclose(t.weights[0], [0.5 * 13 / 25, 0.5 * 12 / 25, 0.5, 0, 0])
    assert np.allclose(t.weights[1], [0.2 * 13 / 25, 0.2 * 12 / 25, 0.2, 0.6, 0])
    assert t.clean.tolist() == [True, True, False, False]
    assert t.mismatch[2] > 0.2 and abs(t.lost[3] - 0.4) < 1e-9
    assert np.allclose(t.weights.sum(axis=1), 1)
