"""Commands on the Dagster instance ($DAGSTER_HOME): register shards, searches and rounds as
partitions, and `mix-assets run`, the whole pipeline in one process."""

from __future__ import annotations

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


def register_searches() -> list[str]:
    """Add a search partition for every search of the project file; return their names."""
    from dagster import DagsterInstance

    from mix_assets.resources import Searches
    from mix_assets.sensors import register_search

    instance = DagsterInstance.get()
    names = Searches().names()
    for name in names:
        register_search(instance, name)
    return names


def add_next_round(name: str | None) -> str | None:
    """Register and return the round of search `name` to run next (see sensors.next_round); None when
    its schedule is done. `name` may be left out when the project file has one search."""
    from dagster import DagsterInstance

    from mix_assets.partitions import round_partitions
    from mix_assets.resources import ProjectStorage, Searches
    from mix_assets.sensors import next_round, register_search

    searches = Searches()
    if name is None:
        if len(searches.names()) != 1:
            raise SystemExit(f"the project has searches {searches.names()}: name one with --search")
        name = searches.names()[0]
    instance = DagsterInstance.get()
    register_search(instance, name)
    key = next_round(instance, name, searches.get(name), ProjectStorage())
    if key is not None and key not in instance.get_dynamic_partitions(round_partitions.name):
        instance.add_dynamic_partitions(round_partitions.name, [key])
    return key


def run_pipeline(args) -> int:
    """`make run` in one process: shards to super-clusters, then each search to its final mixture."""
    import time

    from mix_assets import environment, profiles
    from mix_assets.core.storage import as_path, read_json
    from mix_assets.runner import Runner, StageFailed, result_line

    if profiles.profile() == "cluster":
        raise SystemExit(
            "mix-assets run runs every step in this process; under the cluster profile launch runs "
            "from the UI or with `dagster asset materialize`, which start a pod per step"
        )
    keys = register_shards()
    if not keys:
        raise SystemExit(f"no shard files found in {environment.input_dir()}")
    names = register_searches()
    if args.search:
        unknown = sorted(set(args.search) - set(names))
        if unknown:
            raise SystemExit(f"no search {', '.join(unknown)} in the project file; it has {', '.join(names)}")
        names = args.search
    began = time.perf_counter()
    runner = Runner()
    print(f"shards: {keys[0]}...{keys[-1]} ({len(keys)})", flush=True)
    try:
        if args.stages in ("all", "foundation"):
            runner.foundation(keys)
        if args.stages in ("all", "search"):
            runner.proxy_corpus(keys)
            for name in names:
                runner.search(name, add_next_round)
                work = as_path(environment.work_dir())
                print(result_line(read_json(work / "final_mixture" / f"{name}.json")), flush=True)
                print(f"report: {work}/run_report/{name}/index.html", flush=True)
    except StageFailed as e:
        print(e, file=sys.stderr)
        return 1
    total = time.perf_counter() - began
    print(json.dumps({"seconds": round(total, 1), "stages": runner.seconds}, indent=1))
    return 0
