"""Shards are dynamic partitions: the shard sensor or `mix-assets shards` adds one per input file."""
from dagster import DynamicPartitionsDefinition

shard_partitions = DynamicPartitionsDefinition(name="shards")
