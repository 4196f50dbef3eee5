"""k-means, assignment, pruning, merging and labels on real embeddings and known geometry."""

import numpy as np
import polars as pl
import pytest

from mix_assets.core import kmeans, labels, merge
from mix_assets.core.embed import encode
from mix_assets_tests.conftest import corpus_sample


def blobs(seed=0, per=50):
    rng = np.random.default_rng(seed)
    centers = np.eye(8, dtype=np.float32)[:4] * 3
    x = np.concatenate([c + 0.05 * rng.standard_normal((per, 8)).astype(np.float32) for c in centers])
    return x, np.repeat(np.arange(4), per)


def test_fit_is_seeded_and_assign_matches_brute_force():
    x, _ = blobs()
    c1, obj1 = kmeans.fit_centroids(x, 4, niter=20, seed=7)
    c2, obj2 = kmeans.fit_centroids(x, 4, niter=20, seed=7)
    np.testing.assert_array_equal(c1, c2)
    ids, d = kmeans.assign(x, c1, batch=37)
    brute = ((x[:, None, :] - c1[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ids, brute.argmin(1))
    np.testing.assert_allclose(d, brute.min(1), rtol=1e-4, atol=1e-5)


def test_auto_k_and_sample_rows():
    assert kmeans.auto_k(6717, None, 64) == 104
    assert kmeans.auto_k(10**9, None, 64) == 1000
    assert kmeans.auto_k(50, 8, 64) == 8
    with pytest.raises(ValueError, match="at least 2 clusters"):
        kmeans.auto_k(100, None, 64)
    parts = kmeans.sample_rows([10, 0, 30], 20, seed=1)
    assert sum(len(p) for p in parts) == 20 and len(parts[1]) == 0
    assert all(p.max(initial=-1) < n for p, n in zip(parts, [10, 0, 30]))
    assert [p.tolist() for p in parts] == [p.tolist() for p in kmeans.sample_rows([10, 0, 30], 20, seed=1)]


def test_merge_methods_recover_blobs():
    x, truth = blobs()
    sub_centroids = np.concatenate([x[truth == g][:3] for g in range(4)])  # 3 "clusters" per blob
    for method, dist in [("ward", 1.0), ("threshold", 1.0)]:
        sup = merge.merge(sub_centroids, method, dist)
        assert sup.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert merge.merge(sub_centroids, "threshold", 100.0).max() == 0
    with pytest.raises(ValueError, match="pruning dropped every cluster"):
        merge.merge(np.zeros((0, 8)), "ward", 1.5)
    with pytest.raises(ValueError, match="'ward' or 'threshold'"):
        merge.merge(sub_centroids, "average", 1.5)


def test_prune_gives_reasons():
    stats = pl.DataFrame({"cluster": [0, 1, 2], "n_docs": [10, 0, 5], "mean_quality": [0.9, None, 0.3]})
    out = merge.prune(stats, min_mean_quality=0.8)
    assert out["kept"].to_list() == [True, False, False]
    assert out["reason"].to_list()[1:] == ["fewer than 1 documents", "mean quality 0.3 < 0.8"]


def test_ctfidf_labels_name_the_domain():
    docs = corpus_sample(30).filter(pl.col("domain").is_in(["code", "literature", "legal"]))
    groups = docs["domain"].replace_strict({"code": 0, "literature": 1, "legal": 2}).to_numpy()
    names = labels.ctfidf_labels(docs["text"].to_list(), groups, n_terms=6)
    assert set(names) == {0, 1, 2}
    assert any(w in names[1].split(", ") for w in ("thou", "thy", "thee", "lord"))
    assert any(w in names[0].split(", ") for w in ("self", "return", "def", "none", "import"))
    terms = [set(n.split(", ")) for n in names.values()]
    assert not (terms[0] & terms[1] or terms[0] & terms[2] or terms[1] & terms[2])  # distinctive, not shared


def test_embeddings_are_unit_norm_and_bf16_close_to_fp32():
    texts = corpus_sample(4)["text"].to_list()
    fp32 = encode(texts, precision="fp32")
    bf16 = encode(texts, precision="bf16")
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert (fp32 * bf16).sum(1).min() > 0.995  # bf16 autocast holds accuracy for this model


def test_merge_into_a_fixed_number_of_super_clusters():
    x, truth = blobs()
    sub_centroids = np.concatenate([x[truth == g][:3] for g in range(4)])
    assert merge.merge(sub_centroids, "ward", 1.5, n_super=4).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert merge.merge(sub_centroids, "ward", 1.5, n_super=2).max() == 1


def test_drift_baseline_expects_new_documents_like_the_fit_to_read_as_one():
    rng = np.random.default_rng(0)
    means = rng.normal(0, 30, (12, 16))  # far apart: every document's nearest centroid is its own cluster's

    def draw(n):
        labels = rng.integers(0, 12, n)
        return (means[labels] + rng.normal(0, 1, (n, 16))).astype(np.float32), labels

    fit, labels = draw(96)  # 8 documents a cluster, as a small corpus has
    cents = np.stack([fit[labels == c].mean(axis=0) for c in range(12)])  # the fixed point k-means reaches
    fresh = np.concatenate([kmeans.assign(draw(96)[0], cents)[1] for _ in range(50)]).mean()
    in_sample = kmeans.assign(fit, cents)[1].mean()
    assert (
        fresh / in_sample > 1.15
    )  # the fit's own documents sit closer than new ones like them (theory: 9/7)
    assert abs(fresh / kmeans.expected_distance(fit, cents) - 1) < 0.12
