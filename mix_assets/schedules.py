"""A weekly refresh of the cluster tables, off by default: it runs only when some shard was assigned
after the last summary, so an idle corpus costs nothing."""

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from mix_assets.jobs import summarize_clusters_job


@schedule(
    job=summarize_clusters_job,
    cron_schedule="0 3 * * 0",
    default_status=DefaultScheduleStatus.STOPPED,
    description="Sundays 03:00: check ids across shards, rebuild cluster_stats, pruned_clusters and "
    "merged_clusters when shards "
    "were assigned since the last build.",
)
def weekly_cluster_refresh(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    instance = context.instance
    summary = instance.get_latest_materialization_event(AssetKey("merged_clusters"))
    since = summary.timestamp if summary else 0.0
    assigned = instance.get_latest_materialization_event(AssetKey("cluster_assignments"))
    if assigned is None or assigned.timestamp <= since:
        return SkipReason("no shard was assigned since the last cluster summary")
    return RunRequest(run_key=f"refresh-{int(since)}")
