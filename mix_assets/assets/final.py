"""Per search: the final mixture, measured on a short list with replicate trials."""

import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.search_state import (
    baseline_mixtures,
    domains,
    generator_settings,
    load_meta,
    run_tokens,
    scored_rows,
)
from mix_assets.assets.shared import GeneratorConfig, materialized
from mix_assets.assets.trials import ProxyTrialsConfig, run_trials, trial_job
from mix_assets.core import mixtures, surrogate, verify
from mix_assets.core.storage import write_json
from mix_assets.partitions import parse_round, search_partitions
from mix_assets.resources import ProjectStorage, Searches, Warehouse
from mix_assets.workers import Workers


class FinalMixtureConfig(Config):
    """A short list measured with replicate trials (METHODS §7): the surrogate's optimum (argmax and
    top-k mean), LightGBM's top-k mean (RegMix's recipe on the search's trials), the best measured
    mixtures of the search, natural and uniform. `choice`: "se_rule" takes the best baseline, else
    the better measured top-k mean, when within `se_multiplier` standard errors of the best measured
    (core.verify); "best" takes the best measured mean."""

    top_k: int = 128  # the top-k mean's k (RegMix)
    pool_size: int = 100_000
    n_measured: int = 2  # best measured mixtures of the search on the short list
    replicates: int = 3  # trials per candidate, each on a fresh sample
    replicate_seed_offset: int = (
        99_991  # replicate r trains at seed + offset + r: samples the search never saw
    )
    choice: str = "se_rule"  # se_rule | best
    se_multiplier: float = 2.0
    proxy: ProxyTrialsConfig = ProxyTrialsConfig()
    generator: GeneratorConfig = GeneratorConfig()  # the pool's generator: give it the rounds' settings


def search_cost(warehouse: Warehouse, last: str) -> pl.DataFrame:
    return warehouse.query(
        "SELECT round, count(*) AS trials, sum(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS ok, "
        "round(sum(seconds), 2) AS seconds FROM mix.proxy_scores WHERE search = ? AND round <= ? "
        "GROUP BY round ORDER BY round",
        [parse_round(last)[0], last],
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
    search = searches.get(name)
    rounds = sorted(p.name[:-4] for p in storage.folder("predictor").glob(f"{name}-r*.pkl"))
    if not rounds:
        raise FileNotFoundError(
            f"search {name}: no predictor yet; run at least one round "
            f"(mix-assets rounds next --search {name})"
        )
    last = rounds[-1]
    model = surrogate.Fitted.load(storage.path("predictor", last, ".pkl"))
    meta, doms = load_meta(storage, name), domains(storage, name)
    tokens = doms.token_counts
    total, gen = run_tokens(meta, search), generator_settings(config.generator, search)
    bound = mixtures.upper_bounds(tokens, total, search.max_epochs)

    def optimum(method: str, bounded: bool = True, predict=model.mean) -> np.ndarray:
        return mixtures.best_mixture(
            predict,
            tokens,
            total,
            gen,
            search.seed + 7,
            config.pool_size,
            search.minimize,
            method,
            config.top_k,
            bounded,
        )

    scored = scored_rows(warehouse, last)
    x, y = doms.weights(scored, "mix.proxy_scores"), scored["m_objective"].to_numpy()
    optima = {
        "surrogate_argmax": optimum("argmax"),
        "surrogate_topk_mean": optimum("topk_mean"),
        "lightgbm_topk_mean": optimum("topk_mean", predict=surrogate.regmix(x, y, search.seed).mean),
    }
    unbounded = optimum("argmax", bounded=False)
    binds = bool((unbounded > bound + 1e-12).any())
    baselines = baseline_mixtures(doms, bound, context.log)
    short = verify.shortlist(
        optima,
        x,
        y,
        config.n_measured,
        search.minimize,
        baselines,
    )
    verify_began = time.perf_counter()

    # every replicate of every candidate is measured whatever the others give: run them side by side
    jobs = {
        f"{c.name}/{r}": trial_job(
            context,
            search,
            name,
            storage,
            c.mixture_id,
            c.weights,
            config.proxy,
            seed=search.seed + config.replicate_seed_offset + r,
            evaluate=True,
        )
        for c in short
        for r in range(config.replicates)
    }
    pool = workers.pool(storage.work_dir, "trial", len(jobs), gpu=search.backend == "gpt")
    context.log.info(f"verifying {len(short)} candidates x {config.replicates} replicates on {pool.name}")
    measured = {}
    for key, record in run_trials(context, pool, jobs, search, name, storage):
        measured[key] = {**record["metrics"], "documents": record.get("documents")}
        context.log.info(
            f"verify {key.replace('/', ' replicate ')}: {record['status']} "
            f"{record['metrics'].get('objective', float('nan')):.4f}"
        )

    def measure(c: verify.Candidate, r: int) -> dict:
        return measured[f"{c.name}/{r}"]

    if config.choice not in ("se_rule", "best"):
        raise ValueError(f"final_mixture choice must be 'se_rule' or 'best', not {config.choice!r}")
    prefer = (
        verify.Preference(search.weights_by_name(), z=config.se_multiplier)
        if config.choice == "se_rule"
        else None
    )
    result = verify.verify(short, measure, config.replicates, search.minimize, prefer=prefer)
    verify_seconds = time.perf_counter() - verify_began
    on_search, on_eval = result.summary("objective"), result.summary("eval_objective")
    best = result.chosen.weights
    predicted_mean, predicted_std = (a.tolist() for a in model.predict(np.stack([c.weights for c in short])))
    gaps = [result.gaps.get(c.name, (None, None)) for c in short]
    candidates = doms.table(
        np.stack([c.weights for c in short]),
        search=name,
        candidate=[c.name for c in short],
        chosen=[c.name == result.chosen.name for c in short],
        predicted=predicted_mean,
        predicted_std=predicted_std,
        search_mean=[on_search[c.name][0] for c in short],
        search_std=[on_search[c.name][1] for c in short],
        eval_mean=[on_eval[c.name][0] for c in short],
        eval_std=[on_eval[c.name][1] for c in short],
        gap_to_best=pl.Series([g[0] for g in gaps], dtype=pl.Float64),
        gap_se=pl.Series([g[1] for g in gaps], dtype=pl.Float64),
    )
    warehouse.replace("final_candidates", candidates, where={"search": name})
    natural, uniform = doms.natural().weights, doms.uniform().weights
    kinds = {"final": best, "natural": natural, "uniform": uniform}
    if binds:
        kinds["unbounded_optimum"] = unbounded
    table = doms.table(np.stack(list(kinds.values())), search=name, round=last, kind=list(kinds))
    warehouse.replace("final_mixture", table, where={"search": name})
    cost = search_cost(warehouse, last)
    noise = float(np.median([s for _, s in on_search.values()]))
    summary = {
        "search": name,
        "round": last,
        "surrogate": model.name,
        "chosen": result.chosen.name,
        "best_measured": result.best,
        "choice": config.choice,
        "se_multiplier": config.se_multiplier,
        "mixture_id": result.chosen.mixture_id,
        "predicted": float(model.mean(best[None, :])[0]),
        "replicates": config.replicates,
        "measured": {k: v[0] for k, v in on_search.items()},
        "measured_std": {k: v[1] for k, v in on_search.items()},
        "evaluation": {k: v[0] for k, v in on_eval.items()},
        "evaluation_std": {k: v[1] for k, v in on_eval.items()},
        "trial_noise": noise,
        "target_tokens": total,
        "bound_binds": binds,
        "unbounded_optimum": {
            "weights": unbounded.tolist(),
            "predicted": float(model.mean(unbounded[None, :])[0]),
        },
        "cost": {
            "trials_per_round": dict(zip(cost["round"], cost["trials"])),
            "round_seconds": float(cost["seconds"].sum()),
            "verification_trials": len(short) * config.replicates,
            "verification_seconds": round(verify_seconds, 2),
        },
        "weights": {str(i): float(w) for i, w in enumerate(best)},
        "labels": list(doms.labels),
        "max_weight": bound.tolist(),
    }
    write_json(summary, storage.path("final_mixture", name, ".json"))
    context.log.info(
        f"final mixture {summary['mixture_id']} ({result.chosen.name}): search part "
        f"{on_search[result.chosen.name][0]:.4f}, "
        f"evaluation part {on_eval[result.chosen.name][0]:.4f}"
    )
    labels = doms.display
    bars = {"final": best.tolist(), "natural": natural.tolist(), "uniform": uniform.tolist()}
    if binds:
        bars["unbounded optimum"] = unbounded.tolist()
    return materialized(
        began,
        {
            "round": last,
            "surrogate": model.name,
            "chosen": result.chosen.name,
            "best_measured": result.best,
            "predicted_objective": summary["predicted"],
            **{f"measured_{k}": v[0] for k, v in on_eval.items() if k in ("natural", "uniform")},
            "measured_final": on_eval[result.chosen.name][0],
            "search_part_final": on_search[result.chosen.name][0],
            "trial_noise": noise,
            "bound_binds": binds,
            "verification_trials": len(short) * config.replicates,
            "candidates": plots.md_table(
                candidates.select(
                    "candidate",
                    "chosen",
                    "predicted",
                    "search_mean",
                    "search_std",
                    "gap_to_best",
                    "gap_se",
                    "eval_mean",
                    "eval_std",
                )
            ),
            "cost": plots.md_table(cost),
            "weights": plots.grouped_barh(labels, bars, "Mixture weight per super-cluster"),
            "mixture": MetadataValue.json(summary),
        },
    )
