"""Do the super-clusters find the embedded corpus's hidden domains? Measured through the assets."""

import polars as pl
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mix_assets_tests.conftest import TRUE_DOMAINS, corpus_sample, write_shards

# ~1,400 documents (at most 190 per domain, dialogue has 56), K=32, Ward cut at 0.8. Measured over
# sample seeds 0-2: NMI 0.72-0.75, ARI 0.58-0.65. The floors leave room for thread-order noise.
NMI_FLOOR, ARI_FLOOR = 0.65, 0.50


def test_super_clusters_recover_true_domains(project):
    sample = corpus_sample(190, seed=0)
    keys = write_shards(sample, project.input, 3)
    project.add_shards(keys)
    project.run_all(
        keys,
        {
            "centroids": {"config": {"n_clusters": 32}},
            "pruned_clusters": {"config": {"min_mean_quality": 0.0}},  # score the clustering, not the pruning
            "merged_clusters": {"config": {"distance": 0.8}},
        },
    )
    docs = (
        project.storage.read_all("cluster_assignments", columns=["doc_id", "cluster"])
        .join(project.table("cluster_mapping"), on="cluster")
        .join(pl.read_parquet(TRUE_DOMAINS), on="doc_id")
    )
    assert docs.height == sample.height
    nmi = normalized_mutual_info_score(docs["domain"], docs["super_cluster"])
    ari = adjusted_rand_score(docs["domain"], docs["super_cluster"])
    print(f"super-clusters={docs['super_cluster'].n_unique()} NMI={nmi:.3f} ARI={ari:.3f}")
    assert nmi >= NMI_FLOOR and ari >= ARI_FLOOR
