"""The helpers whole-corpus stages fold over one shard at a time."""

import polars as pl
import pytest

from mix_assets.assets.documents import seeded_sample


def corpus(n: int = 6000) -> pl.DataFrame:
    return pl.DataFrame(
        {"doc_id": [f"d{i:05d}" for i in range(n)], "shard": [f"s{i % 7}" for i in range(n)]}
    ).with_columns((pl.col("doc_id").str.slice(1).cast(pl.Int64) % 5).alias("cluster"))


def test_the_draw_does_not_depend_on_how_the_corpus_is_cut_into_shards():
    docs = corpus()
    by_shard = [part for _, part in docs.group_by("shard", maintain_order=True)]
    by_blocks = [docs.slice(i, 1000) for i in range(0, docs.height, 1000)]
    reversed_blocks = by_blocks[::-1]
    for group, n in ((None, 500), ("cluster", 40)):
        picks = [
            seeded_sample(iter(frames), n, seed=3, group=group).sort("doc_id")
            for frames in (by_shard, by_blocks, reversed_blocks, [docs])
        ]
        assert all(p.equals(picks[0]) for p in picks[1:])
        assert picks[0].columns == docs.columns
    seed3, seed4 = (seeded_sample(iter(by_shard), 500, seed=s)["doc_id"] for s in (3, 4))
    assert len(set(seed3) & set(seed4)) < 150  # two seeds: two draws (about 42 shared by chance)


def test_each_group_keeps_at_most_n_and_the_draw_spreads_over_every_shard():
    docs = corpus()
    per_cluster = seeded_sample(
        iter([docs.slice(i, 700) for i in range(0, docs.height, 700)]), 40, 0, "cluster"
    )
    assert per_cluster.group_by("cluster").len()["len"].to_list() == [40] * 5
    overall = seeded_sample(iter([docs]), 1400, seed=0)
    assert overall.height == 1400 and overall["doc_id"].n_unique() == 1400
    # a uniform draw of 1400 from 7 equal shards: 200 each, sd about 13; 60 apart is > 4 sd
    counts = overall.group_by("shard").len()["len"]
    assert counts.min() > 140 and counts.max() < 260
    small = seeded_sample(iter([docs.head(30)]), 100, seed=0)
    assert small.height == 30


def test_nothing_to_sample_from_is_an_error():
    with pytest.raises(ValueError, match="nothing to sample"):
        seeded_sample(iter([]), 10, seed=0)
