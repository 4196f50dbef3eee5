"""Proxy backends behind one call: trial_record(job) -> a record saved as
`proxy_trials/<round>/<id>.json`, run in the step or on a worker (run_trials fans jobs out)."""

import json
import math
import time
import traceback
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, PipesSubprocessClient

from mix_assets import environment
from mix_assets.assets.shared import settings_config, settings_of
from mix_assets.core import fanout, mixture
from mix_assets.core.proxies.corpus import ProxyCorpus, add_objectives, ngram_trial_documents
from mix_assets.core.proxies.gpt import GPTSettings, gpt_trial
from mix_assets.core.storage import atomic_path, is_local, read_json
from mix_assets.resources import ProjectStorage, SearchSettings

BACKENDS = ("ngram", "gpt", "external", "import")


class NotInResults(KeyError):
    """backend=import: the mixture was never run elsewhere (status 'missing', not 'failed')."""


GPTConfig = settings_config(GPTSettings, "GPTConfig")  # device "auto": CUDA when present


class ProxyTrialsConfig(Config):
    """Proxy model settings; which backend runs is the search's `backend`."""

    ngram_order: int = 3
    ngram_discount: float = 0.75
    gpt: GPTConfig = GPTConfig()
    min_successful: int = 2  # fewer successful trials than this fails the round
    trial_retries: int = 2  # failed trials are retried (a Dagster step retry) before they count as failed
    retry_wait_seconds: float = 1.0


def trial_path(storage: ProjectStorage, round_key: str, mixture_id: str) -> Path:
    return storage.folder("proxy_trials") / round_key / f"{mixture_id}.json"


@lru_cache(maxsize=2)
def _corpus(folder: str, targets: str, stamp: str) -> ProxyCorpus:
    return ProxyCorpus.load(folder, targets)


def targets_folder(storage: ProjectStorage, search_name: str) -> Path:
    return storage.folder("search_targets") / search_name


def load_corpus(storage: ProjectStorage, search_name: str) -> ProxyCorpus:
    """The shared proxy corpus with one search's targets (reloaded when either is rematerialized)."""
    folder, tfolder = storage.folder("proxy_corpus"), targets_folder(storage, search_name)
    meta = tfolder / "meta.json"
    if not meta.exists():
        raise FileNotFoundError(
            f"{tfolder}: nothing there; materialize search_targets --partition {search_name}"
        )
    # the search's frame names its shards; a rematerialized shard or frame changes the stamp
    shards = [storage.version("proxy_corpus", k) for k in json.loads(meta.read_text())["shards"]]
    return _corpus(str(folder), str(tfolder), f"{meta.stat().st_mtime}|{meta.read_text()}|{shards}")


def trial_job(
    context: AssetExecutionContext,
    search: SearchSettings,
    search_name: str,
    storage: ProjectStorage,
    mixture_id: str,
    weights: np.ndarray,
    proxy: ProxyTrialsConfig,
    seed: int | None = None,
    evaluate: bool = False,
    path: Path | None = None,
) -> dict:
    """Everything a worker needs to run one trial, as plain data: its result depends on this alone."""
    if search.backend not in BACKENDS:
        raise ValueError(f"unknown proxy backend {search.backend!r}; choose one of {BACKENDS}")
    return {
        "storage": storage.model_dump(),
        "search": search.model_dump(),
        "search_name": search_name,
        "proxy": proxy.model_dump(),
        "mixture_id": mixture_id,
        "weights": [float(w) for w in weights],
        "seed": search.seed if seed is None else seed,
        "evaluate": evaluate,
        "round": context.partition_key if context.has_partition_key else "final",
        "path": None if path is None else str(path),
    }


def _log_failure(context: AssetExecutionContext, record: dict) -> None:
    trace = record.pop("traceback", "")
    if record["status"] != "ok":
        context.log.warning(f"trial {record['mixture_id']} {record['status']}: {record['reason']}\n{trace}")


def trial_record(job: dict, context: AssetExecutionContext | None = None) -> dict:
    """Run the trial `job` describes (trial_job) wherever this is called: the step, a worker process
    or a Ray task. With a `path`, the record is written there atomically before it is returned, so a
    trial that finished is kept whatever happens to the step that asked for it.

    Never raises for a trial's own failure: the record says `failed` and why, so the round goes on.
    The job's `seed` is the replicate seed (the search's own by default): every mixture trained at
    one seed reads each domain's documents in the same order. `evaluate` also scores the targets'
    evaluation parts (eval_<target>, eval_objective): only the final verification asks for that.
    The ngram backend, and an external command that reports them, also record each search part's
    per-document losses (`documents`), from which the final choice takes its standard error."""
    storage, search = ProjectStorage(**job["storage"]), SearchSettings(**job["search"])
    proxy = ProxyTrialsConfig(**job["proxy"])
    search_name, mixture_id, seed, evaluate = (
        job["search_name"],
        job["mixture_id"],
        job["seed"],
        job["evaluate"],
    )
    weights = np.asarray(job["weights"])
    start = time.perf_counter()
    record = {
        "mixture_id": mixture_id,
        "round": job["round"],
        "weights": job["weights"],
        "seed": seed,
        "backend": search.backend,
        "status": "ok",
        "reason": "",
        "metrics": {},
    }
    try:
        environment.fail_point("trial")
        environment.kill_point("trial")
        if search.backend in ("ngram", "gpt"):
            corpus = load_corpus(storage, search_name)
            corpus_tokens = float(corpus.lengths.sum())
            max_epochs = search.proxy_max_epochs(corpus_tokens)
            pool_share = search.proxy_pool_share(corpus_tokens)
        if search.backend == "ngram":
            metrics, record["documents"] = ngram_trial_documents(
                corpus,
                weights,
                search.token_budget,
                seed,
                max_epochs,
                proxy.ngram_order,
                proxy.ngram_discount,
                evaluate,
                pool_share,
            )
        elif search.backend == "gpt":
            train = corpus.sample(weights, search.token_budget, seed, max_epochs, pool_share)
            metrics = gpt_trial(
                train,
                corpus.scored_targets(evaluate),
                corpus.vocab_size,
                search.token_budget,
                settings_of(proxy.gpt, GPTSettings),
                seed,
            )
            add_objectives(metrics, corpus.target_weights)
        elif search.backend == "external":
            if context is None:
                raise ValueError("backend=external runs in the step: its Pipes session needs the context")
            metrics, documents = external_trial(
                context,
                search,
                targets_folder(storage, search_name),
                storage,
                mixture_id,
                weights,
                seed,
                evaluate,
            )
            if documents:
                record["documents"] = documents
        else:
            metrics = imported_trial(search, mixture_id, len(weights))
        bad = {k: v for k, v in metrics.items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
        if bad:
            raise ValueError(f"non-finite metrics {bad}")
        record["metrics"] = {k: float(v) for k, v in metrics.items()}
    except Exception as e:  # noqa: BLE001 - a trial's failure is data, recorded with its reason
        record["status"], record["reason"] = (
            ("missing" if isinstance(e, NotInResults) else "failed"),
            f"{type(e).__name__}: {e}",
        )
        record["traceback"] = traceback.format_exc(limit=3)
    record["seconds"] = time.perf_counter() - start
    if job["path"]:
        saved = {k: v for k, v in record.items() if k != "traceback"}
        with atomic_path(job["path"]) as tmp:
            tmp.write_text(json.dumps(saved))
    return record


def run_trials(
    context: AssetExecutionContext, pool: fanout.Pool, jobs: dict[str, dict]
) -> Iterator[tuple[str, dict]]:
    """(key, record) for every job as it finishes: fanned out over `pool`, or in this process for the
    external backend. A worker that died more often than its pool retries is a failed trial."""
    external = {k: j for k, j in jobs.items() if j["search"]["backend"] == "external"}
    for key, job in external.items():
        yield key, run_trial_job(context, job)
    rest = {k: (j,) for k, j in jobs.items() if k not in external}
    for outcome in pool.run(trial_record, rest) if rest else ():
        record = outcome.value if outcome.ok else _lost(rest[outcome.key][0], outcome.error)
        _log_failure(context, record)
        yield outcome.key, record


def run_trial_job(context: AssetExecutionContext, job: dict) -> dict:
    record = trial_record(job, context)
    _log_failure(context, record)
    return record


def _lost(job: dict, error: str) -> dict:
    """The record of a trial whose worker never returned: failed (and saved where the trial would
    have saved it), so the step's retry runs it again."""
    record = {
        "mixture_id": job["mixture_id"],
        "round": job["round"],
        "weights": job["weights"],
        "seed": job["seed"],
        "backend": job["search"]["backend"],
        "status": "failed",
        "reason": f"worker lost: {error.splitlines()[-1] if error else ''}",
        "metrics": {},
        "seconds": 0.0,
    }
    if job["path"]:
        with atomic_path(job["path"]) as tmp:
            tmp.write_text(json.dumps(record))
    return record


def _uri(folder: Path) -> str:
    """What an external process can open: an absolute local path, or the fsspec URI as it is."""
    return str(folder.resolve()) if is_local(folder) else str(folder)


def external_trial(
    context: AssetExecutionContext,
    search: SearchSettings,
    targets: Path,
    storage: ProjectStorage,
    mixture_id: str,
    weights: np.ndarray,
    seed: int,
    evaluate: bool = False,
) -> tuple[dict, dict | None]:
    """Run the user's command through Dagster Pipes: (metrics, per-document losses or None). It reads
    the mixture from the Pipes extras and reports `{"metrics": {target: value, ...}}` with
    `report_custom_message`; with extras `evaluate` true it also reports `eval_<target>` on the
    targets' evaluation parts. It may add `"documents": {target: {"nll": [...], "tokens": [...]}}`,
    nats and tokens per document of each target's search part."""
    if not search.external_command:
        raise ValueError("backend=external needs search.external_command (e.g. ['python', 'train_proxy.py'])")
    corpus_tokens = float(sum(read_json(targets / "meta.json")["domain_tokens"]))
    extras = {
        "mixture_id": mixture_id,
        "weights": [float(w) for w in weights],
        "round": context.partition_key if context.has_partition_key else "final",
        "token_budget": search.token_budget,
        "seed": seed,
        "max_epochs": search.proxy_max_epochs(corpus_tokens),
        # draw from this share of each domain to repeat it as the real run would (SearchSettings)
        "pool_share": search.proxy_pool_share(corpus_tokens),
        "targets": search.weights_by_name(),
        "proxy_corpus": _uri(storage.folder("proxy_corpus")),
        "search_targets": _uri(targets),
        "evaluate": evaluate,
    }
    invocation = PipesSubprocessClient().run(
        command=list(search.external_command), context=context, extras=extras
    )
    messages = [m for m in invocation.get_custom_messages() if isinstance(m, dict) and "metrics" in m]
    if not messages:
        raise ValueError(
            f"{search.external_command} reported no metrics (report_custom_message({{'metrics': ...}}))"
        )
    metrics = dict(messages[-1]["metrics"])
    missing = [t for t in search.target_names() if t not in metrics]
    if missing:
        raise ValueError(f"external command reported no value for targets {missing}")
    if "objective" not in metrics:
        add_objectives(metrics, search.weights_by_name())
    return metrics, messages[-1].get("documents")


@lru_cache(maxsize=4)
def _results_by_id(
    results_path: str, mixtures_path: str | None, n_domains: int, stamp: float
) -> dict[str, dict]:
    """mixture id -> metrics. One table (`mixture_id` or w0..wN columns + metrics), or an olmix-style
    pair: ratios.csv (run id + one weight column per super-cluster, in order) and metrics.csv."""
    from mix_assets.core import results

    if mixtures_path:
        r = results.load(mixtures_path, results_path)
        if len(r.domains) != n_domains:
            raise ValueError(
                f"{mixtures_path}: {len(r.domains)} weight columns for {n_domains} super-clusters"
            )
        ids = [mixture.mixture_id(w) for w in mixture.to_grid(r.weights)]
        return {i: row for i, row in zip(ids, r.metrics.iter_rows(named=True))}
    table = results.read_table(results_path)
    if "mixture_id" not in table.columns:
        wcols = mixture.weight_columns(n_domains)
        if not set(wcols) <= set(table.columns):
            raise ValueError(
                f"{results_path}: needs a mixture_id column or weight columns {wcols[0]}..{wcols[-1]}"
            )
        ids = [mixture.mixture_id(w) for w in mixture.to_grid(table.select(wcols).to_numpy())]
        table = table.with_columns(pl.Series("mixture_id", ids))
    metric_cols = [
        c
        for c in table.columns
        if c != "mixture_id" and not mixture.is_weight_column(c) and c not in ("round", "kind")
    ]
    return {r["mixture_id"]: {c: r[c] for c in metric_cols} for r in table.iter_rows(named=True)}


def imported_trial(search: SearchSettings, mixture_id: str, n_domains: int) -> dict:
    """Look the mixture up, by id, in a results table produced elsewhere (missing: KeyError -> 'missing')."""
    if not search.import_results:
        raise ValueError("backend=import needs search.import_results")
    table = _results_by_id(
        search.import_results, search.import_mixtures, n_domains, Path(search.import_results).stat().st_mtime
    )
    if mixture_id not in table:
        raise NotInResults(f"{mixture_id} not in {search.import_results}")
    metrics = {k: float(v) if v is not None else float("nan") for k, v in table[mixture_id].items()}
    absent = [t for t in search.target_names() if t not in metrics] if "objective" not in metrics else []
    if absent:
        raise ValueError(f"{search.import_results} has no column for targets {absent} (and no 'objective')")
    if "objective" not in metrics:
        add_objectives(metrics, search.weights_by_name())
    return metrics
