"""What every asset module shares: the partition settings of shard and round assets, Configs
derived from core settings, the result helper, the assignments' stamp and the proxy tokens. The
tables the stages read back live beside it: the kept corpus in `documents`, a search's state in
`search_state`. Asset modules import these, core, and trials (the proxy backends), never each
other; lineage is declared by key."""

import dataclasses
import time
import typing
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult

from mix_assets import schemas
from mix_assets.core import generator
from mix_assets.core.storage import load_npy, version_hash
from mix_assets.partitions import round_partitions, shard_partitions
from mix_assets.resources import ProjectStorage
from mix_assets.workers import Workers


def materialized(began: float, metadata: dict, **result) -> MaterializeResult:
    """The asset's result, with its wall time (`seconds`) beside what it reports; `result` passes
    on the rest (check results, a data version)."""
    return MaterializeResult(
        metadata={"seconds": round(time.perf_counter() - began, 2), **metadata}, **result
    )


def settings_config(settings: type, name: str, exclude: tuple[str, ...] = (), **extra) -> type[Config]:
    """A Dagster Config with the fields, defaults and docs of a core settings dataclass (nested
    dataclasses become nested Configs), less `exclude`, plus `extra` fields as (type, default): the
    published defaults live once, in core, and run config can still set any of them."""
    return schemas.from_dataclass(settings, name, Config, exclude, **extra)


def settings_of(config: Config, settings: type, **given):
    """The core settings object a Config of settings_config() stands for; `given` fills the
    excluded fields (a seed, a search's max_epochs)."""
    hints = typing.get_type_hints(settings)
    values = {}
    for f in dataclasses.fields(settings):
        if f.name in given or f.name not in type(config).model_fields:
            continue
        v = getattr(config, f.name)
        values[f.name] = settings_of(v, hints[f.name], **given) if isinstance(v, Config) else v
    own = {k: v for k, v in given.items() if k in {f.name for f in dataclasses.fields(settings)}}
    return settings(**values, **own)


# The generator's published settings (METHODS §1): the rounds' candidates and the final step's pool
# both use it. The grid is the project's (core.domains.GRID) and max_epochs the search's.
GeneratorConfig = settings_config(
    generator.GeneratorSettings, "GeneratorConfig", ("max_epochs", "grid", "max_tries")
)


# One run can take a whole range of shards (`--partition-range` on the CLI) and load models once.
ROUND_ASSET = dict(partitions_def=round_partitions, group_name="search")
SHARD_ASSET = dict(
    partitions_def=shard_partitions, backfill_policy=BackfillPolicy.single_run(), group_name="corpus"
)


def materialized_shards(
    context: AssetExecutionContext, storage: ProjectStorage, asset: str, suffix: str = ".parquet"
) -> list[str]:
    """Registered shard partitions whose `asset` artifact exists, in partition order."""
    done = set(storage.materialized(asset, suffix))
    keys = [k for k in context.instance.get_dynamic_partitions("shards") if k in done]
    if not keys:
        raise FileNotFoundError(
            f"no shard has '{asset}' yet under {storage.work_dir}; materialize the shard stages first"
        )
    return keys


ASSIGNMENTS_VERSION = "1"


def assignment_version(centroids: str | None, embeddings: str | None) -> str:
    """What a shard's assignments are made from: the centroids' stamp and that shard's embeddings' stamp."""
    return version_hash("cluster_assignments", ASSIGNMENTS_VERSION, centroids, embeddings)


PROXY_CORPUS_VERSION = "4"


def load_tokenizer(storage: ProjectStorage):
    from tokenizers import Tokenizer

    path = storage.folder("proxy_tokenizer") / "tokenizer.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no proxy vocabulary; materialize proxy_tokenizer first")
    return Tokenizer.from_str(path.read_text())  # a URI too, not only a local file


def proxy_lengths(storage: ProjectStorage, key: str) -> np.ndarray:
    """Proxy tokens per document of a shard; refuses a token file older than the vocabulary."""
    want = version_hash(
        "proxy_corpus",
        PROXY_CORPUS_VERSION,
        storage.version("proxy_tokenizer"),
        storage.version("raw_shards", key),
    )
    if not storage.is_current("proxy_corpus", key, ".npy", want):
        raise FileNotFoundError(
            f"shard {key} has no proxy tokens for the current vocabulary and documents; "
            f"materialize proxy_corpus --partition {key}"
        )
    return np.diff(load_npy(storage.path("proxy_corpus", key, ".offsets.npy")))


class ShardsFailed(RuntimeError):
    pass


def each_shard(
    context: AssetExecutionContext,
    workers: Workers,
    storage: ProjectStorage,
    fn: Callable,
    units: dict[str, tuple],
    kind: str = "cpu",
    **setup,
) -> Iterator[tuple[str, Any]]:
    """(shard, fn's value) for every shard as it finishes, fanned out over the workers. A shard that
    fails does not stop the others: its error is logged, and once every shard has finished the step
    fails naming each bad one (after the caller has recorded the good ones)."""
    pool = workers.pool(storage.work_dir, kind, len(units), **setup)
    asset = context.assets_def.key.to_user_string() if context.has_assets_def else fn.__name__
    context.log.info(f"{asset}: {len(units)} shards on {pool.name}, {pool.workers} at a time")
    failed = {}
    for outcome in pool.run(fn, units):
        if outcome.ok:
            yield outcome.key, outcome.value
        else:
            failed[outcome.key] = outcome.error
            context.log.error(f"{asset}: shard {outcome.key} failed; the others go on\n{outcome.error}")
    if failed:
        lines = [f"  {key}: {error.strip().splitlines()[-1]}" for key, error in sorted(failed.items())]
        raise ShardsFailed(
            f"{asset}: {len(failed)} of {len(units)} shards failed (the other {len(units) - len(failed)} "
            f"finished and are kept; a rerun skips them):\n" + "\n".join(lines)
        )
