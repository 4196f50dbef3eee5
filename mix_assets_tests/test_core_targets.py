"""Target splits are deterministic and disjoint, and the shipped targets are held out of the corpus."""

import shutil
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mix_assets.core import targets

DATA = Path(__file__).resolve().parents[1] / "data"


def test_split_is_deterministic_disjoint_and_independent_of_row_order():
    texts = [f"document number {i} about topic {i % 7}" for i in range(41)]
    search, held = targets.split(texts, 0.5, seed=3)
    assert (
        len(held) == 20
        and len(search) == 21
        and not set(search) & set(held)
        and set(search) | set(held) == set(range(41))
    )
    shuffled = texts[::-1]
    s2, h2 = targets.split(shuffled, 0.5, seed=3)
    assert {shuffled[i] for i in h2} == {texts[i] for i in held}  # by content, not position
    assert not np.array_equal(targets.split(texts, 0.5, seed=4)[1], held)
    assert len(targets.split(texts[:2], 0.9)[0]) == 1  # each side keeps at least one document
    with pytest.raises(ValueError, match="at least 2 documents"):
        targets.split(texts[:1])
    with pytest.raises(ValueError, match="eval_fraction"):
        targets.split(texts, 1.0)


def test_ngram_overlap_finds_shared_passages_only():
    ref = ["the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat all day"]
    texts = [
        "An intro. The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat. The "
        "end.",
        "the quick brown fox jumps over a lazy dog while a cat sleeps on a warm mat all day long",
    ]
    assert targets.shares_ngram(texts, ref, 13).tolist() == [True, False]
    assert targets.overlap_counts(texts, ref, 13).tolist() == [1]


def test_shipped_targets_are_held_out_of_the_corpus_and_of_each_other():
    corpus = pl.read_parquet(DATA / "corpus" / "*.parquet")
    files = sorted((DATA / "targets").glob("*.parquet"))
    tables = {f.stem: pl.read_parquet(f) for f in files}
    ids = [i for t in tables.values() for i in t["doc_id"]]
    texts = [x for t in tables.values() for x in t["text"]]
    assert len(ids) == len(set(ids)) and len(texts) == len(set(texts))  # no document sits in two targets
    assert not set(ids) & set(corpus["doc_id"])
    hit = targets.shares_ngram(corpus["text"].to_list(), texts, 13)
    assert hit.sum() == 0, f"{hit.sum()} corpus documents share a 13-word passage with a target"
    assert min(t.height for t in tables.values()) >= 40  # enough documents for both halves


def test_widening_the_targets_moves_documents_out_of_the_shards_once(tmp_path):
    sys.path.insert(0, str(DATA.parent / "scripts"))
    from widen_targets import widen

    for part in ("corpus", "targets", "eval"):
        shutil.copytree(DATA / part, tmp_path / part)
    assert widen(tmp_path) == {"moved": 0}  # the shipped data is widened already: a rerun changes nothing
    assert widen(tmp_path, per_domain=32) == {"moved": 14, "all_domains": 14, "mathematics": 0}
    moved = pl.read_parquet(tmp_path / "eval" / "target_domains.parquet")
    new = set(moved["doc_id"]) - set(pl.read_parquet(DATA / "eval" / "target_domains.parquet")["doc_id"])
    assert len(new) == 14  # 2 more of each of the 7 domains that are not capped (dialogue stays at 8)
    corpus = pl.read_parquet(tmp_path / "corpus" / "*.parquet")
    labels = pl.read_parquet(tmp_path / "eval" / "true_domains.parquet")
    target = pl.read_parquet(tmp_path / "targets" / "all_domains.parquet")
    assert not new & set(corpus["doc_id"]) and not new & set(labels["doc_id"])
    assert new <= set(target["doc_id"]) and target["doc_id"].n_unique() == target.height
    assert (
        corpus.height + target.height
        == pl.read_parquet(DATA / "corpus" / "*.parquet").height
        + pl.read_parquet(DATA / "targets" / "all_domains.parquet").height
    )
    assert widen(tmp_path, per_domain=32) == {"moved": 0}
