"""Agreement of `make run`'s super-clusters with the embedded corpus's hidden source domains.

    make run && .venv/bin/python bench/bench_clusters.py

Reads the default run's assignments and cluster mapping (data/work, data/warehouse.duckdb) and
data/eval/true_domains.parquet, which no stage reads; prints K, the super-clusters, and NMI / ARI of
super-cluster against source domain over the kept documents.
"""

import polars as pl
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from mix_assets.assets.documents import super_cluster_of
from mix_assets.resources import ProjectStorage, Warehouse


def main() -> None:
    storage = ProjectStorage(work_dir="data/work")
    warehouse = Warehouse(database="data/warehouse.duckdb")
    docs = (
        storage.read_all("cluster_assignments", columns=["doc_id", "cluster"])
        .join(super_cluster_of(warehouse), on="cluster")
        .join(pl.read_parquet("data/eval/true_domains.parquet"), on="doc_id")
    )
    k = storage.read_all("cluster_assignments", columns=["cluster"])["cluster"].n_unique()
    nmi = normalized_mutual_info_score(docs["domain"], docs["super_cluster"])
    ari = adjusted_rand_score(docs["domain"], docs["super_cluster"])
    print(f"K = {k}, {docs['super_cluster'].n_unique()} super-clusters over {docs.height} kept documents")
    print(f"NMI {nmi:.3f}, ARI {ari:.3f} against the {docs['domain'].n_unique()} source domains")


if __name__ == "__main__":
    main()
