"""faiss k-means vs scikit-learn MiniBatchKMeans on the same embeddings: time and inertia.

Uses the embeddings that `make run` wrote (data/work/embeddings/*.npy).
    python bench/bench_kmeans.py [--k 104 --k 1000]
"""

import argparse
import glob
import json
import time

import numpy as np
from sklearn.cluster import MiniBatchKMeans

from mix_assets.core import kmeans


def inertia(x: np.ndarray, centroids: np.ndarray) -> float:
    return float(kmeans.assign(x, centroids)[1].sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, action="append")
    ap.add_argument("--tile", type=int, default=1, help="repeat the corpus with small noise to test larger n")
    args = ap.parse_args()
    x = np.concatenate([np.load(f) for f in sorted(glob.glob("data/work/embeddings/*.npy"))]).astype(
        np.float32
    )
    if args.tile > 1:
        rng = np.random.default_rng(0)
        x = np.concatenate(
            [x + 0.01 * rng.standard_normal(x.shape, dtype=np.float32) for _ in range(args.tile)]
        )
    for k in args.k or [104]:
        start = time.perf_counter()
        c, _ = kmeans.fit_centroids(x, k, niter=300, seed=42)
        t_faiss = time.perf_counter() - start
        start = time.perf_counter()
        mb = MiniBatchKMeans(n_clusters=k, random_state=42, n_init=3, batch_size=4096, max_iter=300).fit(x)
        t_sk = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "n": len(x),
                    "k": k,
                    "faiss_s": round(t_faiss, 2),
                    "faiss_inertia": round(inertia(x, c), 1),
                    "minibatch_s": round(t_sk, 2),
                    "minibatch_inertia": round(inertia(x, mb.cluster_centers_.astype(np.float32)), 1),
                }
            )
        )


if __name__ == "__main__":
    main()
