"""Shards, searches and bootstrap rounds are dynamic partitions.

Shards: one per input file (the shard sensor or `mix-assets shards` adds them). Searches: one per
named search of the project file (the round sensor or `mix-assets rounds next` adds them). Rounds:
`<search>-r0000`, `<search>-r0001`, ... (the round sensor or `mix-assets rounds next --search`
adds the next one when its turn comes), so searches side by side never share a round.
"""

import re

from dagster import DynamicPartitionsDefinition

shard_partitions = DynamicPartitionsDefinition(name="shards")
search_partitions = DynamicPartitionsDefinition(name="searches")
round_partitions = DynamicPartitionsDefinition(name="rounds")

ROUND = re.compile(r"^([a-z][a-z0-9_]*)-r(\d{4})$")


def round_key(search: str, index: int) -> str:
    return f"{search}-r{index:04d}"


def parse_round(key: str) -> tuple[str, int]:
    """`news-r0002` -> ("news", 2)."""
    m = ROUND.match(key)
    if not m:
        raise ValueError(f"round partition keys look like <search>-r0000 (e.g. demo-r0000), not {key!r}")
    return m.group(1), int(m.group(2))


def round_index(key: str) -> int:
    return parse_round(key)[1]


def search_of(key: str) -> str:
    return parse_round(key)[0]
