"""What Dagster cannot see on its own, all off by default: new shard files -> new partitions; an
edited shard -> that shard read again; drift past a threshold -> a k-means refit, then every shard
reassigned; a finished round -> the next round. What follows a new or edited shard (its stages, its
assignments) and the weekly cluster tables are declarative automation (automation.py)."""

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from mix_assets.assets.search_state import load_meta, schedule_of
from mix_assets.assets.shared import assignment_version
from mix_assets.core.ingest import file_fingerprint
from mix_assets.core.storage import read_json
from mix_assets.partitions import (
    round_index,
    round_key,
    round_partitions,
    search_partitions,
    shard_partitions,
)
from mix_assets.resources import (
    ClusteringSettings,
    ProjectStorage,
    Searches,
    SearchSettings,
    Warehouse,
    update_name,
)


@sensor(
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Adds a shard partition for every new file in the input folder; corpus_automation then "
    "runs its shard stages, and its assignments once there are centroids.",
)
def new_shards_sensor(context: SensorEvaluationContext, storage: ProjectStorage) -> SensorResult:
    known = set(context.instance.get_dynamic_partitions(shard_partitions.name))
    new = [k for k in storage.shard_files() if k not in known]
    return SensorResult(dynamic_partitions_requests=[shard_partitions.build_add_request(new)] if new else [])


@sensor(
    asset_selection=AssetSelection.assets("centroids", "cluster_assignments"),
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="Refits k-means when a shard the fit never saw drifts past the project file's "
    "clustering.drift_threshold, then reassigns every shard whose assignments predate the current "
    "centroids (the stamps in the artifacts say which: state Dagster does not hold).",
)
def recluster_sensor(
    context: SensorEvaluationContext,
    storage: ProjectStorage,
    warehouse: Warehouse,
    clustering: ClusteringSettings,
) -> SensorResult | SkipReason:
    current = storage.version("centroids")
    if current is None:
        return SkipReason("no centroids yet")
    embedded = {
        k: v
        for k in context.instance.get_dynamic_partitions(shard_partitions.name)
        if (v := storage.version("embeddings", k))
    }
    stale = [
        k
        for k, v in embedded.items()
        if storage.version("cluster_assignments", k) != assignment_version(current, v)
    ]
    if stale:
        return SensorResult(
            run_requests=[
                RunRequest(
                    partition_key=k,
                    run_key=f"assign-{k}-{current}",
                    asset_selection=[AssetKey("cluster_assignments")],
                )
                for k in stale
            ]
        )
    threshold = clustering.drift_threshold
    drifted = (
        warehouse.query(
            "SELECT shard, drift FROM mix.assignment_drift WHERE centroids = ? AND drift > ?",
            [current, threshold],
        )
        if warehouse.has_table("assignment_drift")
        else None
    )
    fitted = read_json(storage.path("centroids", "all", ".json")).get("shards", {})
    if drifted is not None:  # only shards the fit never saw call for a refit: a refit cannot fix the others
        drifted = drifted.filter([fitted.get(k) != embedded.get(k) for k in drifted["shard"]])
    if drifted is None or drifted.height == 0:
        return SkipReason(f"every shard new since the fit is within drift {threshold} of centroids {current}")
    context.log.info(
        f"refitting: {drifted.height} shards drifted past {threshold} (worst {drifted['drift'].max():.2f})"
    )
    return SensorResult(
        run_requests=[RunRequest(run_key=f"refit-{current}", asset_selection=[AssetKey("centroids")])]
    )


def changed_shards(instance, storage: ProjectStorage, warehouse: Warehouse) -> dict[str, str]:
    """Registered shards whose file content differs from what raw_shards last read: key -> new sha256.

    Size and modification time are compared first; only files that differ there are hashed.
    """
    if not warehouse.has_table("shard_summaries"):
        return {}
    seen = {r["shard"]: r for r in warehouse.query("SELECT * FROM mix.shard_summaries").iter_rows(named=True)}
    files = storage.shard_files()
    changed = {}
    for key in instance.get_dynamic_partitions(shard_partitions.name):
        old = seen.get(key)
        if key not in files or old is None or old.get("file_sha256") is None:
            continue
        st = files[key].stat()
        if (
            int(st.st_size) == old["file_size"]
            and float(getattr(st, "st_mtime", 0.0) or 0.0) == old["file_mtime"]
        ):
            continue
        new = file_fingerprint(files[key])["file_sha256"]
        if new != old["file_sha256"]:
            changed[key] = new
    return changed


@sensor(
    asset_selection=AssetSelection.assets("raw_shards"),
    minimum_interval_seconds=120,
    default_status=DefaultSensorStatus.STOPPED,
    description="A shard file edited in place (new content hash) is read again; corpus_automation then "
    "re-materializes that shard's stages and assignments, nothing else.",
)
def changed_shards_sensor(
    context: SensorEvaluationContext, storage: ProjectStorage, warehouse: Warehouse
) -> SensorResult:
    changed = changed_shards(context.instance, storage, warehouse)
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=k, run_key=f"changed-{k}-{sha[:16]}", asset_selection=[AssetKey("raw_shards")]
            )
            for k, sha in sorted(changed.items())
        ]
    )


ROUND_STAGES = AssetSelection.assets("mixture_candidates", "proxy_trials", "proxy_scores", "predictor")
SEARCH_STAGES = AssetSelection.assets("search_targets")
FINAL_STAGES = AssetSelection.assets("final_mixture", "run_report")


def next_round(instance, name: str, search: SearchSettings, storage: ProjectStorage) -> str | None:
    """The round of search `name` to run next: its latest one again while that round's predictor is
    missing (a crashed or unfinished round resumes), else the one after it; None once its schedule
    (over the domains its search_targets fixed) is done."""
    prefix = f"{name}-"
    rounds = sorted(k for k in instance.get_dynamic_partitions(round_partitions.name) if k.startswith(prefix))
    schedule = schedule_of(load_meta(storage, name), search)
    if not schedule:  # nothing to search (only domains removed since the reused search)
        return None
    if not rounds:
        return round_key(name, 0)
    last = rounds[-1]
    if last not in instance.get_materialized_partitions(AssetKey("predictor")):
        return last
    nxt = round_index(last) + 1
    return round_key(name, nxt) if nxt < len(schedule) else None


def register_search(instance, name: str) -> None:
    if name not in instance.get_dynamic_partitions(search_partitions.name):
        instance.add_dynamic_partitions(search_partitions.name, [name])


@sensor(
    asset_selection=ROUND_STAGES | SEARCH_STAGES | FINAL_STAGES,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description="For every search of the project file: its targets once proxy_corpus exists, round r+1 "
    "when round r's predictor is materialized, then its final mixture and report.",
)
def search_rounds_sensor(
    context: SensorEvaluationContext, searches: Searches, storage: ProjectStorage
) -> SensorResult | SkipReason:
    instance = context.instance
    if not instance.get_latest_materialization_event(AssetKey("proxy_corpus")):
        return SkipReason("proxy_corpus is not materialized yet")
    graph = context.repository_def.asset_graph
    known_searches = set(instance.get_dynamic_partitions(search_partitions.name))
    rounds = set(instance.get_dynamic_partitions(round_partitions.name))
    requests, new_searches, new_rounds = [], [], []
    updates = sorted(k for k in known_searches if searches.update_of(k))  # what corpus_update_sensor started
    for name in [*searches.names(), *updates]:
        if name not in known_searches:
            new_searches.append(name)
        if name not in instance.get_materialized_partitions(AssetKey("search_targets")):
            requests.append(
                RunRequest(
                    partition_key=name,
                    run_key=f"targets-{name}",
                    asset_selection=list(SEARCH_STAGES.resolve(graph)),
                )
            )
            continue
        key = next_round(instance, name, searches.get(name), storage)
        if key is not None:
            # run_key makes this idempotent: a round in flight (or failed, to be rerun by hand) is
            # not requested twice
            if key not in rounds:
                new_rounds.append(key)
            requests.append(
                RunRequest(
                    partition_key=key,
                    run_key=f"round-{key}",
                    asset_selection=list(ROUND_STAGES.resolve(graph)),
                )
            )
        else:
            last = max((k for k in rounds if k.startswith(f"{name}-")), default=name)
            requests.append(
                RunRequest(
                    partition_key=name,
                    run_key=f"final-{last}",
                    asset_selection=list(FINAL_STAGES.resolve(graph)),
                )
            )
    partition_requests = []
    if new_searches:
        partition_requests.append(search_partitions.build_add_request(new_searches))
    if new_rounds:
        partition_requests.append(round_partitions.build_add_request(new_rounds))
    return SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests)


def latest_of(instance, name: str) -> str:
    """The newest search of `name`'s chain of updates that the instance knows."""
    known, n = set(instance.get_dynamic_partitions(search_partitions.name)), 1
    while update_name(name, n) in known:
        n += 1
    return name if n == 1 else update_name(name, n - 1)


def domains_changed(instance, storage: ProjectStorage, name: str) -> str | None:
    """Why the corpus's domains are no longer those search `name` fixed (None while they are): the
    super-clusters were merged again after its targets, or shards were assigned that it never saw."""
    done = instance.fetch_materializations(
        AssetRecordsFilter(AssetKey("search_targets"), asset_partitions=[name]), limit=1
    ).records
    merged = instance.get_latest_materialization_event(AssetKey("merged_clusters"))
    if not done or merged is None:
        return None
    done = done[0]
    if merged.timestamp > done.timestamp:
        return "the super-clusters were merged again"
    seen = set(load_meta(storage, name)["shards"])
    assigned = set(storage.materialized("cluster_assignments"))
    if assigned - seen:
        return f"shards {sorted(assigned - seen)[:5]} were assigned since"
    return None


@sensor(
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description="When a refit or new shards change the domains a finished search mixed, adds its update "
    "<search>_u<n>: a reuse search of the one before (its trials as prior evidence, unchanged domains "
    "frozen as one block, rounds of 16); search_rounds_sensor then runs it to its final mixture.",
)
def corpus_update_sensor(
    context: SensorEvaluationContext, searches: Searches, storage: ProjectStorage
) -> SensorResult | SkipReason:
    instance, new = context.instance, []
    finished = instance.get_materialized_partitions(AssetKey("final_mixture"))
    for base in searches.names():
        latest = latest_of(instance, base)
        if latest not in finished:
            continue
        why = domains_changed(instance, storage, latest)
        if why is None:
            continue
        n = searches.update_of(latest)[1] + 1 if searches.update_of(latest) else 1
        name = update_name(base, n)
        context.log.info(f"{latest}: {why}; adding {name}, which reuses it")
        new.append(name)
    if not new:
        return SkipReason("every finished search still mixes the corpus's current domains")
    return SensorResult(dynamic_partitions_requests=[search_partitions.build_add_request(new)])
