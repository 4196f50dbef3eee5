"""New shard files -> new shard partitions; a finished round -> the next round. Both off by default."""

from dagster import AssetKey, AssetSelection, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from mix_assets.partitions import round_index, round_key, round_partitions, shard_partitions
from mix_assets.resources import ProjectStorage, SearchSettings

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


ROUND_STAGES = AssetSelection.assets("mixture_candidates", "proxy_trials", "proxy_scores", "predictor")


def next_round(instance, search: SearchSettings) -> str | None:
    """The round to run next: the latest one again while its predictor is missing (a crashed or
    unfinished round resumes), else the one after it; None once the schedule is done."""
    rounds = sorted(instance.get_dynamic_partitions(round_partitions.name))
    if not rounds:
        return round_key(0)
    last = rounds[-1]
    if last not in instance.get_materialized_partitions(AssetKey("predictor")):
        return last
    nxt = round_index(last) + 1
    return round_key(nxt) if nxt < len(search.proxies_per_round) else None


@sensor(asset_selection=ROUND_STAGES | AssetSelection.assets("final_mixture"), minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.STOPPED,
        description="Starts round r+1 when round r's predictor is materialized (round 0 once proxy_corpus exists), then the final mixture.")
def search_rounds_sensor(context: SensorEvaluationContext, search: SearchSettings) -> SensorResult | SkipReason:
    instance = context.instance
    if not instance.get_latest_materialization_event(AssetKey("proxy_corpus")):
        return SkipReason("proxy_corpus is not materialized yet")
    rounds = instance.get_dynamic_partitions(round_partitions.name)
    key = next_round(instance, search)
    if key is not None:
        # run_key makes this idempotent: a round in flight (or failed, to be rerun by hand) is not requested twice
        return SensorResult(run_requests=[RunRequest(partition_key=key, run_key=f"round-{key}", asset_selection=list(ROUND_STAGES.resolve(context.repository_def.asset_graph)))],
                            dynamic_partitions_requests=[] if key in rounds else [round_partitions.build_add_request([key])])
    return SensorResult(run_requests=[RunRequest(run_key=f"final-{max(rounds)}", asset_selection=[AssetKey("final_mixture")])])
