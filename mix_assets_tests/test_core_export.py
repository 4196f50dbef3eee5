"""Exports read back the way their trainers read them."""

import numpy as np
import polars as pl

from mix_assets.core import export, results


def test_megatron_blend_is_weight_path_pairs():
    blend = export.megatron_blend(
        {"/data/code_text_document": 3, "/data/lit_text_document": 1, "/data/empty": 0}
    )
    parts = blend.split()
    pairs = dict(zip(parts[1::2], map(float, parts[0::2])))
    assert pairs == {"/data/code_text_document": 0.75, "/data/lit_text_document": 0.25}


def test_hf_interleave_with_datasets():
    import datasets

    args = export.hf_interleave({"a": 0.2, "b": 0.8, "none": 0.0})
    assert args["datasets"] == ["a", "b"] and args["probabilities"] == [0.2, 0.8]
    parts = {name: datasets.Dataset.from_dict({"src": [name] * 200}) for name in ("a", "b")}
    # exactly the arguments the export writes, stopping strategy included
    kwargs = {k: v for k, v in args.items() if k != "datasets"}
    mixed = datasets.interleave_datasets([parts[n] for n in args["datasets"]], **kwargs)
    src = np.array(mixed["src"])
    assert args["stopping_strategy"] == "all_exhausted" and set(src) == {"a", "b"}
    assert (src == "a").sum() >= 200  # all_exhausted: every document of the rarer source is seen
    assert 0.75 < np.mean(src == "b") < 0.85


def test_olmix_tables_round_trip_through_the_results_reader(tmp_path):
    scores = pl.DataFrame(
        {"mixture_id": ["m1", "m2"], "w0": [0.25, 0.5], "w1": [0.75, 0.5], "m_objective": [3.1, 2.9]}
    )
    ratios, metrics = export.olmix_tables(scores, ["w0", "w1"], ["code", "literature"], ["m_objective"])
    ratios.write_csv(tmp_path / "ratios.csv")
    metrics.reverse().write_csv(tmp_path / "metrics.csv")
    back = results.load(tmp_path / "ratios.csv", tmp_path / "metrics.csv")
    assert back.ids == ["m1", "m2"] and back.domains == ["code", "literature"]
    np.testing.assert_allclose(back.weights, [[0.25, 0.75], [0.5, 0.5]])
    assert back.metrics["objective"].to_list() == [3.1, 2.9]
