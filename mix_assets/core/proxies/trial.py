"""One proxy trial from a plain description, a job: what a worker process or a Ray task runs. It
imports numpy and the proxies, not Dagster or the asset modules, so a worker starts in a fraction
of a second; torch only for the gpt proxy.

A job (assets/trials.py builds it) holds the mixture (`mixture_id`, `weights`), the replicate
`seed`, `evaluate` (also score the targets' evaluation parts), the `backend` and what it needs:
the proxy corpus's folders and stamp, `token_budget`, `max_epochs` and `pool_share` for ngram and
gpt, `ngram`/`gpt` settings, `imported` for a results table produced elsewhere. The record it
returns depends on the job alone, so any worker gives the same one.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from mix_assets.core import mixture
from mix_assets.core.proxies.corpus import ProxyCorpus, add_objectives, ngram_trial_documents
from mix_assets.core.storage import atomic_path

BACKENDS = ("ngram", "gpt", "external", "import")


class NotInResults(KeyError):
    """backend=import: the mixture was never run elsewhere (status 'missing', not 'failed')."""


@lru_cache(maxsize=2)
def load_corpus(folder: str, targets: str, stamp: str) -> ProxyCorpus:
    """One load per worker and corpus: `stamp` changes when the corpus or the targets are rematerialized."""
    return ProxyCorpus.load(folder, targets)


def run_trial(job: dict, external: Callable[[], tuple[dict, dict | None]] | None = None) -> dict:
    """The trial's record. Never raises for the trial's own failure: the record says `failed` (or
    `missing`) and why, with a `traceback`, so the round goes on. With a `path`, the record is
    written there atomically before it is returned, so a finished trial is kept whatever happens
    to the step that asked for it. `external` runs the user's trainer (only in the step)."""
    start = time.perf_counter()
    record = _record(job, "ok", "")
    try:
        metrics, documents = _metrics(job, external)
        if documents:
            record["documents"] = documents
        bad = {k: v for k, v in metrics.items() if not isinstance(v, (int, float)) or not math.isfinite(v)}
        if bad:
            raise ValueError(f"non-finite metrics {bad}")
        record["metrics"] = {k: float(v) for k, v in metrics.items()}
    except Exception as e:  # noqa: BLE001 - a trial's failure is data, recorded with its reason
        record["status"] = "missing" if isinstance(e, NotInResults) else "failed"
        record["reason"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc(limit=3)
    record["seconds"] = time.perf_counter() - start
    save(record, job)
    return record


def lost(job: dict, error: str) -> dict:
    """The record of a trial whose worker never came back: failed (and saved), so a retry runs it."""
    record = _record(job, "failed", f"worker lost: {error.strip().splitlines()[-1] if error.strip() else ''}")
    record["seconds"] = 0.0
    save(record, job)
    return record


def _record(job: dict, status: str, reason: str) -> dict:
    keys = ("mixture_id", "round", "weights", "seed", "backend")
    return {**{k: job[k] for k in keys}, "status": status, "reason": reason, "metrics": {}}


def save(record: dict, job: dict) -> None:
    if job.get("path"):
        with atomic_path(job["path"]) as tmp:
            tmp.write_text(json.dumps({k: v for k, v in record.items() if k != "traceback"}))


def _metrics(job: dict, external) -> tuple[dict, dict | None]:
    backend, weights, seed = job["backend"], np.asarray(job["weights"]), job["seed"]
    if backend not in BACKENDS:
        raise ValueError(f"unknown proxy backend {backend!r}; choose one of {BACKENDS}")
    if backend == "external":
        if external is None:
            raise ValueError("backend=external runs in the step: its Pipes session needs the step")
        return external()
    if backend == "import":
        return imported_metrics(job["imported"], job["mixture_id"], len(weights)), None
    corpus = load_corpus(**job["corpus"])
    if backend == "ngram":
        return ngram_trial_documents(
            corpus,
            weights,
            job["token_budget"],
            seed,
            job["max_epochs"],
            job["ngram"]["order"],
            job["ngram"]["discount"],
            job["evaluate"],
            job["pool_share"],
        )
    from mix_assets.core.proxies.gpt import GPTSettings, gpt_trial  # torch: only here

    train = corpus.sample(weights, job["token_budget"], seed, job["max_epochs"], job["pool_share"])
    metrics = gpt_trial(
        train,
        corpus.scored_targets(job["evaluate"]),
        corpus.vocab_size,
        job["token_budget"],
        GPTSettings(**job["gpt"]),
        seed,
    )
    return add_objectives(metrics, corpus.target_weights), None


@lru_cache(maxsize=4)
def _results_by_id(results_path: str, mixtures_path: str | None, n_domains: int, stamp: float) -> dict:
    """mixture id -> metrics. One table (`mixture_id` or w0..wN columns + metrics), or an olmix-style
    pair: ratios.csv (run id + one weight column per super-cluster, in order) and metrics.csv."""
    import polars as pl

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


def imported_metrics(imported: dict, mixture_id: str, n_domains: int) -> dict:
    """Look the mixture up, by id, in a results table produced elsewhere (`imported`: results,
    mixtures, stamp, targets {name: weight}); not there: NotInResults -> 'missing'."""
    if not imported["results"]:
        raise ValueError("backend=import needs search.import_results")
    table = _results_by_id(imported["results"], imported["mixtures"], n_domains, imported["stamp"])
    if mixture_id not in table:
        raise NotInResults(f"{mixture_id} not in {imported['results']}")
    metrics = {k: float(v) if v is not None else float("nan") for k, v in table[mixture_id].items()}
    targets = imported["targets"]
    absent = [t for t in targets if t not in metrics] if "objective" not in metrics else []
    if absent:
        raise ValueError(f"{imported['results']} has no column for targets {absent} (and no 'objective')")
    if "objective" not in metrics:
        add_objectives(metrics, targets)
    return metrics
