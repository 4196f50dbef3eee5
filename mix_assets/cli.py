"""`mix-assets` console commands."""
from __future__ import annotations

import argparse
import json
import sys


def register_shards(input_dir: str | None = None) -> list[str]:
    """Add a shard partition for every file in the input folder to the Dagster instance ($DAGSTER_HOME)."""
    from dagster import DagsterInstance

    from mix_assets.partitions import shard_partitions
    from mix_assets.resources import ProjectStorage

    storage = ProjectStorage() if input_dir is None else ProjectStorage(input_dir=input_dir)
    keys = list(storage.shard_files())
    instance = DagsterInstance.get()
    known = set(instance.get_dynamic_partitions(shard_partitions.name))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(shard_partitions.name, new)
    return keys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mix-assets", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    sh = sub.add_parser("shards", help="register the input folder's shards as partitions; print the partition range")
    sh.add_argument("--input", help="input folder (default: $MIX_ASSETS_INPUT or data/corpus)")
    sh.add_argument("--json", action="store_true", help="print every key as JSON instead of the range")
    args = ap.parse_args(argv)
    if args.command == "shards":
        keys = register_shards(args.input)
        if not keys:
            print("no shard files found", file=sys.stderr)
            return 1
        print(json.dumps(keys) if args.json else f"{keys[0]}...{keys[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
