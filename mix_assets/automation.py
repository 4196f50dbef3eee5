"""Declarative automation (Dagster's AutomationCondition), off by default like every sensor here:
start `corpus_automation` in the UI.

- A new shard partition runs through the shard stages eagerly, and into the existing clusters once
  there are centroids; a shard that changes (sensors.changed_shards_sensor re-reads it) flows on the
  same way. New centroids are not followed here: recluster_sensor reassigns the shards whose
  stamps predate them, which a tick-based condition can miss when a shard's assignment and a refit
  land between the same two evaluations.
- Each week (Sunday 03:00) the cluster tables are rebuilt when shards were assigned since the last
  build, so an idle corpus costs nothing.

The sensors that remain (sensors.py) hold state Dagster cannot: which files are in the input folder,
which shard content was read, assignment drift against the shards the fit saw, and a search's
rounds."""

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition

WEEKLY_CRON = "0 3 * * 0"
SHARD_STAGES = ("raw_shards", "quality_signals", "embeddings", "cluster_assignments")
CLUSTER_TABLES = ("unique_ids", "cluster_stats", "pruned_clusters", "merged_clusters")


def updated(dep: str) -> AutomationCondition:
    """`dep`, one of this asset's dependencies, was updated (on this evaluation)."""
    return AutomationCondition.any_deps_match(AutomationCondition.newly_updated()).allow(
        AssetSelection.assets(dep)
    )


def eager_on(dep: str) -> AutomationCondition:
    """AutomationCondition.eager(), reacting to `dep` only among the dependencies."""
    dep_updated = AutomationCondition.any_deps_match(
        AutomationCondition.newly_updated() | AutomationCondition.will_be_requested()
    ).allow(AssetSelection.assets(dep))
    return (
        AutomationCondition.in_latest_time_window()
        & (AutomationCondition.newly_missing() | dep_updated).since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"eager on {dep}")


def weekly_after(dep: str) -> AutomationCondition:
    """On the week's cron tick, when `dep` was updated since this asset was last requested."""
    return (
        AutomationCondition.cron_tick_passed(WEEKLY_CRON)
        & updated(dep).since(AutomationCondition.newly_requested())
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"weekly, if {dep} was updated")


def after(dep: str) -> AutomationCondition:
    """As soon as `dep` has been updated (the next table of the weekly chain)."""
    return (
        updated(dep).since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(f"after {dep}")


CONDITIONS: dict[str, AutomationCondition] = {
    **dict.fromkeys(SHARD_STAGES[:3], AutomationCondition.eager()),
    "cluster_assignments": eager_on("embeddings"),
    "unique_ids": weekly_after("raw_shards"),
    "cluster_stats": weekly_after("cluster_assignments"),
    "pruned_clusters": after("cluster_stats"),
    # not on centroids: a refit must wait for the reassignments and the next cluster_stats
    "merged_clusters": after("pruned_clusters"),
}

corpus_automation = AutomationConditionSensorDefinition(
    "corpus_automation",
    target=AssetSelection.assets(*CONDITIONS),
    minimum_interval_seconds=60,
    description="New and changed shards through the shard stages and into the clusters; the cluster "
    "tables weekly when shards were assigned.",
)
