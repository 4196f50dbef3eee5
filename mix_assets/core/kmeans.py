"""K-means with faiss: fit on a seeded sample, assign every document to its nearest centroid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def auto_k(n_docs: int, n_clusters: int | None, docs_per_cluster: int) -> int:
    """The configured K, or about one cluster per `docs_per_cluster` documents, capped at 1000."""
    k = n_clusters if n_clusters else min(1000, n_docs // docs_per_cluster)
    if n_docs < 2 or k < 2:
        raise ValueError(f"k-means needs at least 2 clusters and 2 documents (have {n_docs} docs, K={k})")
    return min(k, n_docs)


def sample_rows(sizes: Sequence[int], n: int, seed: int) -> list[np.ndarray]:
    """Sorted row indices per part for a uniform sample of n rows over all parts."""
    total = int(sum(sizes))
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(total, size=min(n, total), replace=False))
    bounds = np.cumsum([0, *sizes])
    return [picked[(picked >= lo) & (picked < hi)] - lo for lo, hi in zip(bounds[:-1], bounds[1:])]


def fit_centroids(
    x: np.ndarray, k: int, niter: int = 300, seed: int = 42, gpu: bool = False
) -> tuple[np.ndarray, float]:
    """(centroids, objective); float32, deterministic for a seed on one thread count."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    # the caller already sampled: stop faiss from subsampling again or warning on small samples
    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=niter,
        seed=seed,
        gpu=gpu,
        verbose=False,
        max_points_per_centroid=len(x) // k + 1,
        min_points_per_centroid=1,
    )
    km.train(x)
    centroids, obj = km.centroids, km.obj
    assert centroids is not None and obj is not None  # set by train
    return centroids.copy(), float(obj[-1])


def assign(x: np.ndarray, centroids: np.ndarray, batch: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """(cluster id, squared L2 distance) of every row's nearest centroid, in batches."""
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    ids, dists = np.empty(len(x), np.int64), np.empty(len(x), np.float32)
    for lo in range(0, len(x), batch):
        d, i = index.search(np.ascontiguousarray(x[lo : lo + batch], dtype=np.float32), 1)
        ids[lo : lo + len(i)], dists[lo : lo + len(d)] = i[:, 0], d[:, 0]
    return ids, dists


def expected_distance(x: np.ndarray, centroids: np.ndarray) -> float:
    """Mean squared distance a new document from the fit's distribution is expected to have to its
    nearest centroid: the drift baseline.

    The fit's own documents sit closer than new ones, because each centroid is their mean: for a
    cluster of n, an unseen member's expected squared distance is (n + 1) / (n - 1) times the members'
    own (1.29 at n = 8), so an in-sample baseline makes a shard exactly like the rest look drifted."""
    ids, dists = assign(x, centroids)
    n = np.bincount(ids, minlength=len(centroids)).astype(np.float64)
    sse = np.bincount(ids, weights=dists.astype(np.float64), minlength=len(centroids))
    factor = np.where(n >= 2, (n + 1) / np.maximum(n - 1, 1), 1.0)
    return float((sse * factor).sum() / max(len(x), 1))
