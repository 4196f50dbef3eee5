"""Proxy trials as jobs: `trial_job` describes one trial in plain data, `run_trials` runs a set of
them on a pool of workers (core/proxies/trial.py runs each, wherever it lands, with the search's
backend from core/proxies/backends) and yields their records, saved as
`proxy_trials/<round>/<id>.json`. A backend that runs in the step (external, through Dagster
Pipes) runs here."""

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from dagster import AssetExecutionContext, Config, PipesSubprocessClient

from mix_assets.core import fanout
from mix_assets.core.proxies import trial
from mix_assets.core.proxies.corpus import ProxyCorpus, add_objectives
from mix_assets.core.storage import is_local, read_json
from mix_assets.resources import ProjectStorage, SearchSettings


class ProxyTrialsConfig(Config):
    """How a round treats failed trials. The proxy itself is the search's `backend` and its block
    in the project file (`ngram:`, `gpt:`, `external:`, `imported:`)."""

    min_successful: int = 2  # fewer successful trials than this fails the round
    trial_retries: int = 2  # failed trials are retried (a Dagster step retry) before they count as failed
    retry_wait_seconds: float = 1.0


def trial_path(storage: ProjectStorage, round_key: str, mixture_id: str) -> Path:
    return storage.folder("proxy_trials") / round_key / f"{mixture_id}.json"


def targets_folder(storage: ProjectStorage, search_name: str) -> Path:
    return storage.folder("search_targets") / search_name


def corpus_key(storage: ProjectStorage, search_name: str) -> dict:
    """Where a worker finds the shared proxy corpus and one search's targets, with a stamp that
    changes when either is rematerialized (trial.load_corpus's cache key)."""
    folder, tfolder = storage.folder("proxy_corpus"), targets_folder(storage, search_name)
    meta = tfolder / "meta.json"
    if not meta.exists():
        raise FileNotFoundError(
            f"{tfolder}: nothing there; materialize search_targets --partition {search_name}"
        )
    # the search's frame names its shards; a rematerialized shard or frame changes the stamp
    shards = [storage.version("proxy_corpus", k) for k in json.loads(meta.read_text())["shards"]]
    return {
        "folder": str(folder),
        "targets": str(tfolder),
        "stamp": f"{meta.stat().st_mtime}|{meta.read_text()}|{shards}",
    }


def load_corpus(storage: ProjectStorage, search_name: str) -> ProxyCorpus:
    """The shared proxy corpus with one search's targets, as the trials see it."""
    return trial.load_corpus(**corpus_key(storage, search_name))


def trial_job(
    context: AssetExecutionContext,
    search: SearchSettings,
    search_name: str,
    storage: ProjectStorage,
    mixture_id: str,
    weights: np.ndarray,
    seed: int | None = None,
    evaluate: bool = False,
    path: Path | None = None,
) -> dict:
    """Everything a worker needs to run one trial, as plain data (core/proxies/trial.py).

    `seed` is the replicate seed (the search's own by default): every mixture trained at one seed
    reads each domain's documents in the same order. `evaluate` also scores the targets'
    evaluation parts (eval_<target>, eval_objective): only the final verification asks for that.
    The ngram backend, and an external command that reports them, also record each search part's
    per-document losses (`documents`), from which the final choice takes its standard error."""
    backend = search.proxy
    job = {
        "mixture_id": mixture_id,
        "round": context.partition_key if context.has_partition_key else "final",
        "weights": [float(w) for w in weights],
        "seed": search.seed if seed is None else seed,
        "evaluate": evaluate,
        "backend": backend.name,
        "settings": dataclasses.asdict(search.proxy_settings()),
        "targets": search.weights_by_name(),
        "path": None if path is None else str(path),
    }
    if backend.needs_corpus:
        key = corpus_key(storage, search_name)
        tokens = float(trial.load_corpus(**key).lengths.sum())
        job.update(
            corpus=key,
            token_budget=search.token_budget,
            max_epochs=search.proxy_max_epochs(tokens),
            pool_share=search.proxy_pool_share(tokens),
        )
    return job


def run_trials(
    context: AssetExecutionContext,
    pool: fanout.Pool,
    jobs: dict[str, dict],
    search: SearchSettings,
    search_name: str,
    storage: ProjectStorage,
) -> Iterator[tuple[str, dict]]:
    """(key, record) for every job as it finishes: fanned out over `pool`, or in the step for the
    external backend. A worker that died more often than its pool retries is a failed trial."""
    if search.proxy.in_step:
        runs_here = IN_STEP[search.backend]
        for key, job in jobs.items():
            record = trial.run_trial(
                job, lambda job=job: runs_here(context, search, search_name, storage, job)
            )
            yield key, _logged(context, record)
        return
    rest = {k: (j,) for k, j in jobs.items()}
    for outcome in pool.run(trial.run_trial, rest) if rest else ():
        record = outcome.value if outcome.ok else trial.lost(rest[outcome.key][0], outcome.error)
        yield outcome.key, _logged(context, record)


def _logged(context: AssetExecutionContext, record: dict) -> dict:
    trace = record.pop("traceback", "")
    if record["status"] != "ok":
        context.log.warning(f"trial {record['mixture_id']} {record['status']}: {record['reason']}\n{trace}")
    return record


def _uri(folder: Path) -> str:
    """What an external process can open: an absolute local path, or the fsspec URI as it is."""
    return str(folder.resolve()) if is_local(folder) else str(folder)


def external_trial(
    context: AssetExecutionContext,
    search: SearchSettings,
    search_name: str,
    storage: ProjectStorage,
    job: dict,
) -> tuple[dict, dict | None]:
    """Run the user's command through Dagster Pipes: (metrics, per-document losses or None). It reads
    the mixture from the Pipes extras and reports `{"metrics": {target: value, ...}}` with
    `report_custom_message`; with extras `evaluate` true it also reports `eval_<target>` on the
    targets' evaluation parts. It may add `"documents": {target: {"nll": [...], "tokens": [...]}}`,
    nats and tokens per document of each target's search part."""
    command = search.proxy_settings().command
    if not command:
        raise ValueError(
            "backend=external needs the search's external.command (e.g. [python, train_proxy.py])"
        )
    targets = targets_folder(storage, search_name)
    corpus_tokens = float(sum(read_json(targets / "meta.json")["domain_tokens"]))
    extras = {
        "mixture_id": job["mixture_id"],
        "weights": job["weights"],
        "round": context.partition_key if context.has_partition_key else "final",
        "token_budget": search.token_budget,
        "seed": job["seed"],
        "max_epochs": search.proxy_max_epochs(corpus_tokens),
        # draw from this share of each domain to repeat it as the real run would (SearchSettings)
        "pool_share": search.proxy_pool_share(corpus_tokens),
        "targets": search.weights_by_name(),
        "proxy_corpus": _uri(storage.folder("proxy_corpus")),
        "search_targets": _uri(targets),
        "evaluate": job["evaluate"],
    }
    invocation = PipesSubprocessClient().run(command=list(command), context=context, extras=extras)
    messages = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and "metrics" in m]
    if not messages:
        raise ValueError(f"{command} reported no metrics (report_custom_message({{'metrics': ...}}))")
    metrics = dict(messages[-1]["metrics"])
    missing = [t for t in search.target_names() if t not in metrics]
    if missing:
        raise ValueError(f"external command reported no value for targets {missing}")
    if "objective" not in metrics:
        add_objectives(metrics, search.weights_by_name())
    return metrics, messages[-1].get("documents")


# What runs a backend that runs in the step (Backend.in_step): it needs the step's context.
IN_STEP = {"external": external_trial}
