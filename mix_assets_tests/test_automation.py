"""corpus_automation's conditions on a real instance, event by event, without running a stage (the
pipeline tests run them: test_assets_pipeline.py): each fires when it should, once, and only then."""

import datetime

from dagster import AssetMaterialization, instance_for_test

from mix_assets.automation import CONDITIONS, corpus_automation
from mix_assets.definitions import defs
from mix_assets_tests.conftest import Automation

SUNDAY = datetime.datetime(2026, 12, 6, 3, 1)  # the weekly tick at 03:00 has passed


def test_the_automation_sensor_is_off_by_default_and_targets_every_condition():
    from dagster import DefaultSensorStatus

    sensor = defs.get_sensor_def("corpus_automation")
    assert sensor is corpus_automation and sensor.default_status == DefaultSensorStatus.STOPPED
    graph = defs.resolve_asset_graph()
    with_conditions = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).automation_condition
    }
    assert with_conditions == set(CONDITIONS)


def test_new_shards_flow_eagerly_and_the_cluster_tables_weekly():
    with instance_for_test() as instance:

        def done(*assets, partition=None):
            for a in assets:
                instance.report_runless_asset_event(AssetMaterialization(a, partition=partition))

        instance.add_dynamic_partitions("shards", ["a"])
        automation = Automation(instance)
        tick = automation.tick
        assert automation.first == {}  # what exists when the automation starts is left alone
        instance.add_dynamic_partitions("shards", ["b"])
        # no centroids yet: the shard stages, not the assignments
        assert tick() == {"raw_shards": ["b"], "quality_signals": ["b"], "embeddings": ["b"]}
        assert tick() == {}  # requested once
        done("raw_shards", "quality_signals", "embeddings", partition="b")
        done("centroids")
        assert tick() == {"cluster_assignments": ["b"]}  # centroids now exist: b joins them
        done("cluster_assignments", partition="b")
        assert tick() == {}
        done("centroids")  # a refit is recluster_sensor's to follow, not the automation's
        assert tick() == {}
        # Sunday 03:00: b was read and assigned since the tables were built (never): the chain runs
        assert tick(SUNDAY) == {"unique_ids": [None], "cluster_stats": [None]}
        done("unique_ids", "cluster_stats")
        assert tick(SUNDAY + datetime.timedelta(minutes=1)) == {"pruned_clusters": [None]}
        done("pruned_clusters")
        assert tick(SUNDAY + datetime.timedelta(minutes=2)) == {"merged_clusters": [None]}
        done("merged_clusters")
        assert tick(SUNDAY + datetime.timedelta(days=7)) == {}  # an idle week: nothing
