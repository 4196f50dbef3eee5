"""Shards and bootstrap rounds are dynamic partitions.

Shards: one per input file (the shard sensor or `mix-assets shards` adds them). Rounds: r0000,
r0001, ... (the round sensor or `mix-assets rounds next` adds the next one when its turn comes).
"""

from dagster import DynamicPartitionsDefinition

shard_partitions = DynamicPartitionsDefinition(name="shards")
round_partitions = DynamicPartitionsDefinition(name="rounds")


def round_key(index: int) -> str:
    return f"r{index:04d}"


def round_index(key: str) -> int:
    if len(key) != 5 or key[0] != "r" or not key[1:].isdigit():
        raise ValueError(f"round partition keys look like r0000, not {key!r}")
    return int(key[1:])
