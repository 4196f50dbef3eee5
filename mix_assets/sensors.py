"""New shard files -> new partitions and runs for just those shards (off by default)."""

from dagster import AssetSelection, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from mix_assets.partitions import shard_partitions
from mix_assets.resources import ProjectStorage

SHARD_STAGES = AssetSelection.assets("raw_shards", "quality_signals", "embeddings")


@sensor(asset_selection=SHARD_STAGES, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED,
        description="Adds a shard partition for every new file in the input folder and materializes its shard stages.")
def new_shards_sensor(context: SensorEvaluationContext, storage: ProjectStorage) -> SensorResult:
    known = set(context.instance.get_dynamic_partitions(shard_partitions.name))
    new = [k for k in storage.shard_files() if k not in known]
    return SensorResult(
        run_requests=[RunRequest(partition_key=k, run_key=f"shard-{k}") for k in new],
        dynamic_partitions_requests=[shard_partitions.build_add_request(new)] if new else [],
    )
