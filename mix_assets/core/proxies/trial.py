"""One proxy trial from a plain description, a job: what a worker process or a Ray task runs. It
imports numpy and the proxies, not Dagster or the asset modules, so a worker starts in a fraction
of a second; torch only for the gpt proxy.

A job (assets/trials.py builds it) holds the mixture (`mixture_id`, `weights`), the replicate
`seed`, `evaluate` (also score the targets' evaluation parts), the `targets` and their weights, the
`backend` and its `settings` (the search's block for it), and for a backend that needs the proxy
corpus: its folders and stamp, `token_budget`, `max_epochs` and `pool_share`. The record it
returns depends on the job alone, so any worker gives the same one.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from functools import lru_cache

from mix_assets.core.proxies import backends
from mix_assets.core.proxies.backends.imported import NotInResults
from mix_assets.core.proxies.corpus import ProxyCorpus
from mix_assets.core.storage import atomic_path


@lru_cache(maxsize=2)
def load_corpus(folder: str, targets: str, stamp: str) -> ProxyCorpus:
    """One load per worker and corpus: `stamp` changes when the corpus or the targets are rematerialized."""
    return ProxyCorpus.load(folder, targets)


def run_trial(job: dict, in_step: Callable[[], tuple[dict, dict | None]] | None = None) -> dict:
    """The trial's record. Never raises for the trial's own failure: the record says `failed` (or
    `missing`) and why, with a `traceback`, so the round goes on. With a `path`, the record is
    written there atomically before it is returned, so a finished trial is kept whatever happens
    to the step that asked for it. `in_step` runs a backend that runs in the step (the user's
    trainer through Pipes)."""
    start = time.perf_counter()
    record = _record(job, "ok", "")
    try:
        metrics, documents = _metrics(job, in_step)
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


def _metrics(job: dict, in_step) -> tuple[dict, dict | None]:
    backend = backends.get(job["backend"])
    if backend.in_step:
        if in_step is None:
            raise ValueError(f"backend={backend.name} runs in the step: pass what runs it there")
        return in_step()
    return backend.run(job, backend.settings_of(job.get("settings")))
