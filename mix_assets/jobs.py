"""Jobs named for what users run. Shard stages and whole-corpus stages are separate jobs because a
job's assets share one partitioning."""

from dagster import AssetSelection, define_asset_job

from mix_assets.partitions import round_partitions, search_partitions, shard_partitions

ingest_shards_job = define_asset_job(
    "ingest_shards",
    AssetSelection.assets("raw_shards", "quality_signals", "embeddings"),
    partitions_def=shard_partitions,
    description="Normalize, score and embed shards (pick one shard or a range).",
)
fit_clusters_job = define_asset_job(
    "fit_clusters",
    AssetSelection.assets("centroids"),
    description="Fit k-means centroids on all embedded shards.",
)
assign_shards_job = define_asset_job(
    "assign_shards",
    AssetSelection.assets("cluster_assignments"),
    partitions_def=shard_partitions,
    description="Assign shards' documents to the current centroids.",
)
summarize_clusters_job = define_asset_job(
    "summarize_clusters",
    AssetSelection.assets("unique_ids", "cluster_stats", "pruned_clusters", "merged_clusters"),
    description="Ids checked across shards, then cluster statistics, pruning and super-clusters.",
)

search_round_job = define_asset_job(
    "search_round",
    AssetSelection.assets("mixture_candidates", "proxy_trials", "proxy_scores", "predictor"),
    partitions_def=round_partitions,
    description="One bootstrap round: candidates, proxy trials, scores, predictor.",
)
final_mixture_job = define_asset_job(
    "choose_final_mixture",
    AssetSelection.assets("final_mixture", "run_report"),
    partitions_def=search_partitions,
    description="A search's final mixture from its latest round, and its run report.",
)

mixed_dataset_job = define_asset_job(
    "build_mixed_dataset",
    AssetSelection.assets("mixed_dataset", "mixture_exports"),
    partitions_def=search_partitions,
    description="The training set that follows a search's final mixture, and its exports.",
)

all_jobs = [
    ingest_shards_job,
    fit_clusters_job,
    assign_shards_job,
    summarize_clusters_job,
    search_round_job,
    final_mixture_job,
    mixed_dataset_job,
]
