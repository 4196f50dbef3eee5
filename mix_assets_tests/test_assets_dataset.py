"""The mixed dataset follows its mixture, ClusterClip keeps its clip, over-repetition is refused."""

import polars as pl
import pytest

from mix_assets.assets.dataset import read_parts
from mix_assets.core.storage import read_json


def build(p, raise_on_error=True, **config):
    return p.run_search(["mixed_dataset"], {"mixed_dataset": {"config": config}}, raise_on_error)


def read(p) -> pl.DataFrame:
    return read_parts(p.work / "mixed_dataset" / "demo").sort("position")


@pytest.mark.parametrize("sampling", ["uniform", "clusterclip"])
def test_realized_weights_follow_the_mixture(searcher, sampling):
    p = searcher()
    weights = {"0": 0.5, "1": 0.3, "2": 0.2}
    result = build(p, weights=weights, token_budget=60_000, sampling=sampling, clip=2, docs_per_shard=50)
    data = read(p)
    assert data["position"].to_list() == list(range(data.height)) and data["text"].null_count() == 0
    assert len(read_json(p.work / "mixed_dataset" / "demo" / "manifest.json")["parts"]) == -(
        -data.height // 50
    )
    share = data.group_by("super_cluster").agg(pl.col("n_tokens").sum()).sort("super_cluster")
    realized = dict(zip(share["super_cluster"], share["n_tokens"] / share["n_tokens"].sum()))
    for s, w in weights.items():
        assert abs(realized[int(s)] - w) < 0.03
    counts = data.group_by("doc_id").agg(pl.len(), pl.col("times_in_dataset").first())
    assert (counts["len"] == counts["times_in_dataset"]).all()
    repeats = counts["len"].max()
    if sampling == "clusterclip":
        assert repeats <= 2
    # each super-cluster is spread over the whole training order, not in blocks
    firsts = data.group_by("super_cluster").agg(pl.col("position").min())["position"]
    assert firsts.max() < data.height * 0.1
    [mat] = result.asset_materializations_for_node("mixed_dataset")
    assert mat.metadata["max_repeats"].value == repeats


def test_over_repetition_is_refused_with_a_clear_message(searcher):
    p = searcher()
    smallest = int(p.table("super_clusters").sort("n_tokens")["super_cluster"][0])
    result = build(
        p, raise_on_error=False, weights={str(smallest): 1.0}, token_budget=5_000_000, max_epochs=3
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert f"super-cluster {smallest} would be repeated" in failure.step_failure_data.error.cause.message
    clip = build(
        p,
        raise_on_error=False,
        weights={str(smallest): 1.0},
        token_budget=5_000_000,
        sampling="clusterclip",
        clip=2,
    )
    [failure] = [e for e in clip.all_events if e.is_step_failure]
    assert "clip=2" in failure.step_failure_data.error.cause.message
