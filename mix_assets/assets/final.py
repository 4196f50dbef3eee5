"""Per search: the final mixture, measured on a short list with replicate trials."""

import dataclasses
import time

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.final_summary import CANDIDATE_COLUMNS, candidate_table, mixture_summary, search_cost
from mix_assets.assets.search_state import (
    domains,
    evidence,
    frame_of,
    generator_settings,
    load_meta,
    previous_mixture,
    run_tokens,
    schedule_of,
)
from mix_assets.assets.shared import GeneratorConfig, materialized, settings_config, settings_of
from mix_assets.assets.trials import run_trials, trial_job
from mix_assets.core import final_choice, generator, rounds, surrogate
from mix_assets.core.storage import write_json
from mix_assets.core.verify import HEDGES, PREVIOUS, REUSE_HEDGES, Candidate
from mix_assets.partitions import search_partitions
from mix_assets.resources import ProjectStorage, Searches, SearchSettings, Warehouse
from mix_assets.workers import Workers

# The short list and the choice (core.final_choice.FinalSettings, METHODS §7) and the generator of
# the optima's pool: give it the rounds' settings. The replicates train the search's own proxy.
FinalMixtureConfig = settings_config(
    final_choice.FinalSettings, "FinalMixtureConfig", generator=(GeneratorConfig, GeneratorConfig())
)


@asset(
    group_name="search",
    partitions_def=search_partitions,
    deps=["predictor"],
    code_version="5",
    description="The mixture to train on, from a short list (surrogate optimum, LightGBM's top-k mean, "
    "best measured, natural, uniform) each trained on fresh samples several times: the best measured mean, "
    "unless a baseline or a top-k mean is within 2 standard errors of it; every comparison is reported on "
    "the targets' evaluation parts.",
)
def final_mixture(
    context: AssetExecutionContext,
    config: FinalMixtureConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
    workers: Workers,
) -> MaterializeResult:
    began = time.perf_counter()
    name = context.partition_key
    search, settings = searches.get(name), settings_of(config, final_choice.FinalSettings)
    meta, doms = load_meta(storage, name), domains(storage, name)
    frame, reuse = frame_of(meta), meta.get("reuse") or {}
    if reuse:
        settings = dataclasses.replace(settings, replicates=settings.reuse_replicates)
    # a reuse search whose only change is removed domains runs no round: renormalise and verify
    last = last_round(storage, name) if schedule_of(meta, search) else None
    model = surrogate.Fitted.load(storage.path("predictor", last, ".pkl")) if last else None
    tokens, total = doms.token_counts, run_tokens(meta, search)
    gen = generator_settings(config.generator, search)
    bound = generator.upper_bounds(tokens, total, search.max_epochs)
    x, y, own = evidence(warehouse, doms, last, name)
    baselines = rounds.baselines(tokens, bound, frame=frame)
    for kind in sorted(set(rounds.BASELINES) - set(baselines)):
        context.log.warning(f"{kind} baseline skipped: it breaks the max-epochs bound")
    first = {PREVIOUS: previous_mixture(meta)} if reuse else {}
    mean = model.mean if model else (lambda w: np.full(len(w), np.nan))
    short = final_choice.short_list(
        mean, x, y, tokens, total, gen, search.seed, search.minimize, baselines, settings, frame, own, first
    )
    unbounded = (
        final_choice.optimum(
            mean, tokens, total, gen, search.seed, search.minimize, settings, bounded=False, frame=frame
        )
        if model
        else None  # no surrogate: no optimum beyond the short list
    )
    verify_began = time.perf_counter()
    seeds = final_choice.replicate_seeds(search.seed, settings)
    measured = measure(context, search, name, storage, workers, short, seeds)
    result = final_choice.choose(
        short,
        lambda c, r: measured[f"{c.name}/{r}"],
        search.minimize,
        search.weights_by_name(),
        settings,
        REUSE_HEDGES if reuse else HEDGES,
    )
    verify_seconds = round(time.perf_counter() - verify_began, 2)
    if unbounded is None:
        unbounded = result.chosen.weights
    candidates = candidate_table(doms, name, short, result, model)
    warehouse.replace("final_candidates", candidates, where={"search": name})
    binds = bool((unbounded > bound + 1e-12).any())
    kinds = {
        "final": result.chosen.weights,
        # as the search trained them: with pinned weights, the pins set and the rest natural / uniform
        "natural": frame.project(doms.natural().weights)[0],
        "uniform": frame.project(doms.uniform().weights)[0],
    }
    if binds:
        kinds["unbounded_optimum"] = unbounded
    table = doms.table(np.stack(list(kinds.values())), search=name, round=last or "", kind=list(kinds))
    warehouse.replace("final_mixture", table, where={"search": name})
    cost = search_cost(warehouse, last)
    verification = {
        "verification_trials": len(measured),
        "verification_seconds": verify_seconds,
        "search_trials": int(own.sum()),
        "prior_evidence": int((~own).sum()),
    }
    summary = mixture_summary(
        name, last, model, result, settings, total, bound, unbounded, binds, doms, cost, verification
    )
    if reuse:
        summary["reuse"] = reuse
    if frame.pinned:
        summary["fixed_weights"] = {str(d): float(frame.offset[d]) for d in frame.pinned}
    write_json(summary, storage.path("final_mixture", name, ".json"))
    chosen = result.chosen.name
    on_search, on_eval = result.summary("objective"), result.summary("eval_objective")
    context.log.info(
        f"final mixture {summary['mixture_id']} ({chosen}): search part {on_search[chosen][0]:.4f}, "
        f"evaluation part {on_eval[chosen][0]:.4f}"
    )
    bars = {k.replace("_", " "): w.tolist() for k, w in kinds.items()}
    return materialized(
        began,
        {
            **{k: summary[k] for k in ("round", "surrogate", "chosen", "best_measured", "trial_noise")},
            "predicted_objective": summary["predicted"],
            **{f"measured_{k}": v[0] for k, v in on_eval.items() if k in rounds.BASELINES},
            "measured_final": on_eval[chosen][0],
            "search_part_final": on_search[chosen][0],
            "bound_binds": binds,
            "verification_trials": len(measured),
            "search_trials": int(own.sum()),
            "prior_evidence_trials": int((~own).sum()),
            **({"reused_search": reuse["search"]} if reuse else {}),
            "candidates": plots.md_table(candidates.select(*CANDIDATE_COLUMNS)),
            "cost": plots.md_table(cost),
            "weights": plots.grouped_barh(doms.display, bars, "Mixture weight per super-cluster"),
            "mixture": MetadataValue.json(summary),
        },
    )


def measure(
    context: AssetExecutionContext,
    search: SearchSettings,
    name: str,
    storage: ProjectStorage,
    workers: Workers,
    short: list[Candidate],
    seeds: list[int],
) -> dict[str, dict]:
    """ "<candidate>/<replicate>" -> that trial's metrics (and per-document losses), each replicate
    at its seed and scored on both target parts. Every trial runs whatever the others give, so
    they run side by side on the workers."""
    jobs = {
        f"{c.name}/{r}": trial_job(
            context, search, name, storage, c.mixture_id, c.weights, seed=seed, evaluate=True
        )
        for c in short
        for r, seed in enumerate(seeds)
    }
    pool = workers.pool(storage.work_dir, "trial", len(jobs), gpu=search.proxy.gpu)
    context.log.info(f"verifying {len(short)} candidates x {len(seeds)} replicates on {pool.name}")
    measured = {}
    for key, record in run_trials(context, pool, jobs, search, name, storage):
        measured[key] = {**record["metrics"], "documents": record.get("documents")}
        context.log.info(
            f"verify {key.replace('/', ' replicate ')}: {record['status']} "
            f"{record['metrics'].get('objective', float('nan')):.4f}"
        )
    return measured


def last_round(storage: ProjectStorage, name: str) -> str:
    rounds_done = sorted(p.name[:-4] for p in storage.folder("predictor").glob(f"{name}-r*.pkl"))
    if not rounds_done:
        raise FileNotFoundError(
            f"search {name}: no predictor yet; run at least one round "
            f"(mix-assets rounds next --search {name})"
        )
    return rounds_done[-1]
