"""Per bootstrap round: mixture candidates and the proxy trials that score them."""

import json
import time

import numpy as np
from dagster import (
    AssetExecutionContext,
    MaterializeResult,
    RetryPolicy,
    RetryRequested,
    asset,
)

from mix_assets import environment, plots
from mix_assets.assets.search_state import (
    domains,
    evidence,
    frame_of,
    generator_settings,
    load_meta,
    previous_mixture,
    round_candidates,
    run_tokens,
    schedule_of,
    weights_by_round,
)
from mix_assets.assets.shared import ROUND_ASSET, GeneratorConfig, materialized, settings_config, settings_of
from mix_assets.assets.trials import ProxyTrialsConfig, load_corpus, run_trials, trial_job, trial_path
from mix_assets.core import generator, rounds, surrogate
from mix_assets.partitions import parse_round, round_key, search_of
from mix_assets.profiles import gpu_op_tags
from mix_assets.resources import ProjectStorage, Searches, Warehouse
from mix_assets.workers import Workers

GROUP = "search"


# How later rounds propose (METHODS §7: ProposalSettings, `proposal="climb"` is the published
# random pick), with the generator's published settings (METHODS §1) and the round-0 baselines.
# `kappa` is round 1's; it turns to -kappa by the last round (core.rounds.propose_round).
MixtureCandidatesConfig = settings_config(
    generator.ProposalSettings,
    "MixtureCandidatesConfig",
    generator=(GeneratorConfig, GeneratorConfig()),
    baselines=(bool, True),  # round 0 also trains the natural and uniform mixtures
)


def load_predictor(storage: ProjectStorage, key: str, previous: str) -> surrogate.Fitted:
    path = storage.path("predictor", previous, ".pkl")
    if not path.exists():
        raise FileNotFoundError(f"round {key} needs the predictor of {previous}; materialize it first")
    return surrogate.Fitted.load(path)


@asset(
    **ROUND_ASSET,
    deps=["search_targets"],
    code_version="5",
    description="Round 0: Dirichlet mixtures around the token prior (a reuse search's: around the earlier "
    "mixture); later rounds: the surrogate's best of "
    "a large pool by a "
    "confidence bound, spread by k-means, plus local steps around the best measured mixture. Bounded at "
    "target_tokens.",
)
def mixture_candidates(
    context: AssetExecutionContext,
    config: MixtureCandidatesConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
) -> MaterializeResult:
    began = time.perf_counter()
    name, r = parse_round(context.partition_key)
    search = searches.get(name)
    meta, doms = load_meta(storage, name), domains(storage, name)
    schedule, frame = schedule_of(meta, search), frame_of(meta)
    if r >= len(schedule):
        raise ValueError(
            f"round {context.partition_key} is beyond the schedule {schedule} "
            f"({search.rounds} over {frame.k} coordinates of {len(doms)} domains)"
        )
    tokens, total = doms.token_counts, run_tokens(meta, search)
    x, y, _ = evidence(warehouse, doms, round_key(name, r - 1) if r > 0 else None, name)
    model = load_predictor(storage, context.partition_key, round_key(name, r - 1)) if r > 0 else None
    proposal = rounds.propose_round(
        r,
        schedule,
        tokens,
        total,
        generator_settings(config.generator, search),
        search.seed,
        settings_of(config, generator.ProposalSettings),
        search.minimize,
        x,
        y,
        None if model is None else model.predict,
        # a reuse search's short list measures natural and uniform anyway: its few trials go to the frame
        with_baselines=config.baselines and not meta.get("reuse"),
        frame=frame,
        centre=previous_mixture(meta),
    )
    weights, kinds = proposal.weights, proposal.kinds
    if r == 0 and config.baselines:
        for kind in sorted(set(rounds.BASELINES) - set(kinds)):
            context.log.warning(f"{kind} baseline skipped: it breaks the max-epochs bound")
    table = doms.table(
        weights,
        search=name,
        round=context.partition_key,
        position=np.arange(len(weights)),
        kind=kinds,
        predicted=proposal.predicted,
        predicted_std=proposal.predicted_std,
    )
    warehouse.replace("mixture_candidates", table, where={"round": context.partition_key})
    return materialized(
        began,
        {
            "candidates": table.height,
            "round": r,
            "proxies_planned": schedule[r],
            "schedule": ", ".join(map(str, schedule)),
            "coordinates": frame.k,
            "evidence_rows": len(y),  # scored trials so far, with an earlier search's translated ones
            "mean_weights": plots.barh(
                doms.display,
                weights.mean(axis=0).tolist(),
                f"Mean candidate weight per super-cluster, round {r}",
                "weight",
            ),
            "weights_by_round": weights_by_round(warehouse, doms, context.partition_key),
        },
    )


# A step that dies outright (lost worker, full disk) is retried by the policy; failed trials inside
# a step that finished are retried by RetryRequested below, up to ProxyTrialsConfig.trial_retries.
@asset(
    **ROUND_ASSET,
    deps=["mixture_candidates", "search_targets"],
    code_version="4",
    pool="proxy",
    retry_policy=RetryPolicy(max_retries=2, delay=5),
    op_tags=gpu_op_tags(),
    description="One proxy training per candidate, scored on the targets; trials run side by side (local "
    "worker processes, or Ray tasks) and each is saved as it finishes, so a rerun does only what is missing.",
)
def proxy_trials(
    context: AssetExecutionContext,
    config: ProxyTrialsConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
    workers: Workers,
) -> MaterializeResult:
    search = searches.get(search_of(context.partition_key))
    environment.fail_point("proxy_trials")
    candidates = round_candidates(warehouse, context.partition_key)
    weights = domains(storage, search_of(context.partition_key)).weights(
        candidates, f"mix.mixture_candidates (round {context.partition_key})"
    )
    name = search_of(context.partition_key)
    done, jobs, kinds = 0, {}, {}
    for row, w in zip(candidates.iter_rows(named=True), weights):
        path = trial_path(storage, context.partition_key, row["mixture_id"])
        if path.exists() and json.loads(path.read_text())["status"] == "ok":
            done += 1
            continue
        jobs[row["mixture_id"]] = trial_job(context, search, name, storage, row["mixture_id"], w, path=path)
        kinds[row["mixture_id"]] = row["kind"]
    pool = workers.pool(storage.work_dir, "trial", len(jobs), gpu=search.proxy.gpu)
    context.log.info(
        f"{len(jobs)} trials to run ({done} already done) on {pool.name}, {pool.workers} at a time"
    )
    ran, failed, seconds, began = 0, 0, 0.0, time.perf_counter()
    for mixture_id, record in run_trials(context, pool, jobs, search, name, storage):
        ran += 1
        failed += record["status"] != "ok"
        seconds += record["seconds"]
        context.log.info(
            f"trial {ran + done}/{candidates.height} {mixture_id} ({kinds[mixture_id]}): {record['status']} "
            f"objective={record['metrics'].get('objective', float('nan')):.4f} in {record['seconds']:.1f}s"
        )
    wall = time.perf_counter() - began
    if failed and context.retry_number < config.trial_retries:
        context.log.warning(
            f"{failed} trials failed; retrying them (attempt {context.retry_number + 2} of "
            f"{config.trial_retries + 1})"
        )
        raise RetryRequested(max_retries=config.trial_retries, seconds_to_wait=config.retry_wait_seconds)
    ok = candidates.height - failed
    pooled = {}
    if search.proxy.needs_corpus:  # the share of each domain a proxy drew from (repeat_as_run)
        tokens = float(load_corpus(storage, search_of(context.partition_key)).lengths.sum())
        pooled = {"pool_share": round(search.proxy_pool_share(tokens), 4)}
    if ok < config.min_successful:
        raise RuntimeError(
            f"round {context.partition_key}: only {ok} of {candidates.height} trials succeeded "
            f"(min_successful={config.min_successful}); see the failed trials' reasons in "
            f"{trial_path(storage, context.partition_key, '*')}"
        )
    return MaterializeResult(
        metadata={
            "trials": candidates.height,
            "ran_now": ran,
            "reused": done,
            "failed": failed,
            "attempt": context.retry_number + 1,
            "seconds": round(seconds, 2),
            "wall_seconds": round(wall, 2),
            "workers": pool.workers,
            "pool": pool.name,
            "backend": search.backend,
            **pooled,
            "trials_per_minute": round(60 * ran / wall, 1) if wall else 0.0,
        }
    )
