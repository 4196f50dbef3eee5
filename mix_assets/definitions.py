"""The code location: assembles assets, checks, resources, automation, sensors and jobs for the
deployment profile in MIX_ASSETS_PROFILE (see profiles.py), with the project file's settings as the
resources' defaults. Nothing else."""

from dagster import Definitions

from mix_assets.assets import all_assets
from mix_assets.automation import corpus_automation
from mix_assets.checks import all_checks
from mix_assets.jobs import all_jobs
from mix_assets.profiles import executor, workers
from mix_assets.resources import ClusteringSettings, EmbeddingModel, ProjectStorage, Searches, Warehouse
from mix_assets.sensors import (
    changed_shards_sensor,
    corpus_update_sensor,
    new_shards_sensor,
    recluster_sensor,
    search_rounds_sensor,
)

defs = Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=all_jobs,
    sensors=[
        corpus_automation,
        new_shards_sensor,
        changed_shards_sensor,
        recluster_sensor,
        search_rounds_sensor,
        corpus_update_sensor,
    ],
    executor=executor(),
    resources={
        "storage": ProjectStorage(),
        "warehouse": Warehouse(),
        "embedder": EmbeddingModel(),
        "clustering": ClusteringSettings(),
        "searches": Searches(),
        "workers": workers(),
    },
)
