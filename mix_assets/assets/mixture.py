"""Per round: proxy scores and the predictor fitted on every score so far. Then the final mixture."""
import json
import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.search import (GROUP, ROUND_ASSET, MixtureCandidatesConfig, generator_settings, load_meta, mixture_candidates,
                                     proxy_trials, scored_rows, weight_columns)
from mix_assets.assets.trials import ProxyTrialsConfig, run_trial
from mix_assets.core import mixtures, predictor as core_predictor
from mix_assets.core.predictor import Predictor
from mix_assets.core.storage import atomic_path, read_parquet, write_parquet
from mix_assets.partitions import round_index
from mix_assets.resources import ProjectStorage, SearchSettings, Warehouse


@asset(**ROUND_ASSET, deps=[proxy_trials, mixture_candidates], code_version="1",
       description="The round's trials as a table (round, mixture id, weights, every metric, seconds, backend, status), joined to the candidates by id.")
def proxy_scores(context: AssetExecutionContext, storage: ProjectStorage, warehouse: Warehouse) -> MaterializeResult:
    began = time.perf_counter()
    key = context.partition_key
    candidates = read_parquet(storage.path("mixture_candidates", key))
    records = [json.loads(p.read_text()) for p in sorted(storage.folder("proxy_trials").joinpath(key).glob("*.json"))]
    known = set(candidates["mixture_id"])
    unknown = [r["mixture_id"] for r in records if r["mixture_id"] not in known]
    if unknown:
        context.log.warning(f"ignoring {len(unknown)} trial files whose mixture id is not a candidate of {key}: {unknown[:5]}")
    records = [r for r in records if r["mixture_id"] in known]
    metric_names = sorted({m for r in records for m in r["metrics"]})
    rows = pl.DataFrame({
        "mixture_id": [r["mixture_id"] for r in records], "status": [r["status"] for r in records],
        "reason": [r["reason"] for r in records], "seconds": [float(r["seconds"]) for r in records],
        "backend": [r["backend"] for r in records],
        **{f"m_{m}": [float(r["metrics"].get(m, np.nan)) for r in records] for m in metric_names},
    }, schema_overrides={"mixture_id": pl.Utf8, "status": pl.Utf8, "reason": pl.Utf8, "backend": pl.Utf8})
    table = candidates.join(rows, on="mixture_id", how="left").with_columns(pl.col("status").fill_null("not run"))
    write_parquet(table, storage.path("proxy_scores", key))
    warehouse.replace("proxy_scores", table, where={"round": key})
    ok = table.filter(pl.col("status") == "ok")
    by_kind = ok.group_by("kind").agg(pl.col("m_objective").min().alias("best"), pl.col("m_objective").mean().alias("mean"), pl.len()).sort("kind") if ok.height else ok
    return MaterializeResult(metadata={
        "seconds": round(time.perf_counter() - began, 2),
        "trials": table.height, "ok": ok.height, "failed": int((table["status"] == "failed").sum()),
        "best_objective": float(ok["m_objective"].min()) if ok.height else float("nan"),
        "by_kind": plots.md_table(by_kind) if ok.height else MetadataValue.md("no successful trial"),
    })


class PredictorConfig(Config):
    """CLIMB's published LightGBM settings (METHODS §1.6); preset='regmix' switches to RegMix's."""

    preset: str = "climb"
    n_estimators: int = 1000
    learning_rate: float = 0.01
    max_depth: int = 4
    min_child_samples: int = 5
    reg_alpha: float = 1.0
    reg_lambda: float = 1.0
    holdout: float = 0.1
    min_rows: int = 8
    cv_folds: int = 5


def settings_from(config: PredictorConfig, seed: int) -> core_predictor.PredictorSettings:
    base = dict(n_estimators=config.n_estimators, learning_rate=config.learning_rate, min_rows=config.min_rows, seed=seed)
    if config.preset == "regmix":
        return core_predictor.PredictorSettings.regmix(**base)
    return core_predictor.PredictorSettings.preset(config.preset, **base, max_depth=config.max_depth, min_child_samples=config.min_child_samples,
                                                   reg_alpha=config.reg_alpha, reg_lambda=config.reg_lambda, holdout=config.holdout)


@asset(**ROUND_ASSET, deps=[proxy_scores], code_version="1",
       description="LightGBM on every (mixture, objective) of this and earlier rounds; cross-validated Spearman / MAE and a predicted-vs-measured plot.")
def predictor(context: AssetExecutionContext, config: PredictorConfig, storage: ProjectStorage, warehouse: Warehouse, search: SearchSettings) -> MaterializeResult:
    began = time.perf_counter()
    key = context.partition_key
    rows = scored_rows(warehouse, key)
    n_domains = len(load_meta(storage)["domain_tokens"])
    if rows.height == 0:
        raise core_predictor.TooFewRows(f"no successful proxy trial up to round {key}; materialize proxy_scores first")
    x, y = rows.select(weight_columns(n_domains)).to_numpy(), rows["m_objective"].to_numpy()
    settings = settings_from(config, search.seed)
    cv = core_predictor.cross_validate(x, y, settings, config.cv_folds)
    model = core_predictor.fit(x, y, settings)
    with atomic_path(storage.path("predictor", key, ".json")) as tmp:
        model.save(tmp)
    report = pl.DataFrame({"round": [key], "rows": [len(y)], "cv_spearman": [cv["spearman"]], "cv_mae": [cv["mae"]], "preset": [config.preset]})
    warehouse.replace("predictor_reports", report, where={"round": key})
    context.log.info(f"predictor {key}: {len(y)} rows, CV Spearman {cv['spearman']:.3f}, MAE {cv['mae']:.4f}")
    return MaterializeResult(metadata={
        "seconds": round(time.perf_counter() - began, 2),
        "rows": len(y), "rounds_used": round_index(key) + 1, "cv_spearman": cv["spearman"], "cv_mae": cv["mae"],
        "predicted_vs_measured": plots.scatter(y, cv["oof"], f"Out-of-fold prediction, round {key} (Spearman {cv['spearman']:.3f})",
                                               "measured objective", "predicted objective"),
    })


class FinalMixtureConfig(Config):
    method: str = "argmax"  # CLIMB; "topk_mean" averages the top_k predictions (RegMix)
    top_k: int = 128
    pool_size: int = 100_000
    evaluate: bool = True  # train proxies on the final, natural and uniform mixtures (another seed) to compare
    proxy: ProxyTrialsConfig = ProxyTrialsConfig()
    eval_seed_offset: int = 99_991  # evaluation trials use seed + offset: not the samples the search saw
    eval_repeats: int = 3  # proxy scores vary with the sampled documents: average a few draws
    generator: MixtureCandidatesConfig = MixtureCandidatesConfig()  # the pool's generator: give it the rounds' settings


@asset(group_name=GROUP, deps=[predictor], code_version="1",
       description="The mixture to train on: the last round's predictor's optimum, with natural and uniform mixtures measured side by side.")
def final_mixture(context: AssetExecutionContext, config: FinalMixtureConfig, storage: ProjectStorage, warehouse: Warehouse, search: SearchSettings) -> MaterializeResult:
    began = time.perf_counter()
    rounds = sorted(p.name[:-5] for p in storage.folder("predictor").glob("r*.json"))
    if not rounds:
        raise FileNotFoundError("no predictor yet; run at least one round (mixture_candidates .. predictor)")
    last = rounds[-1]
    model = Predictor.load(storage.path("predictor", last, ".json"))
    meta = load_meta(storage)
    tokens = np.asarray(meta["domain_tokens"], dtype=np.float64)
    gen = generator_settings(config.generator, search)
    best = mixtures.best_mixture(model.predict, tokens, search.token_budget, gen, search.seed + 7, config.pool_size, search.minimize, config.method, config.top_k)
    natural, uniform = tokens / tokens.sum(), np.full(len(tokens), 1 / len(tokens))
    scored = scored_rows(warehouse, last)
    best_trial = scored.sort("m_objective", descending=not search.minimize).row(0, named=True)
    side = {"final": best, "natural": natural, "uniform": uniform}
    measured, spread = {}, {}
    if config.evaluate:
        for name, w in side.items():
            runs = [run_trial(context, search, storage, mixtures.mixture_id(w), w, config.proxy,
                              seed=search.seed + config.eval_seed_offset + i)["metrics"].get("objective", float("nan"))
                    for i in range(config.eval_repeats)]
            measured[name] = float(np.mean(runs))
            spread[name] = float(np.std(runs))
    table = pl.DataFrame({"super_cluster": np.arange(len(tokens)), "label": meta["labels"], "weight": best, "natural": natural, "uniform": uniform})
    write_parquet(table, storage.path("final_mixture"))
    warehouse.replace("final_mixture", table)
    summary = {"round": last, "method": config.method, "mixture_id": mixtures.mixture_id(best), "predicted": float(model.predict(best[None, :])[0]),
               "measured": measured, "measured_std": spread, "best_trial": {"mixture_id": best_trial["mixture_id"], "objective": best_trial["m_objective"]},
               "weights": {str(i): float(w) for i, w in enumerate(best)}}
    with atomic_path(storage.path("final_mixture", "all", ".json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    context.log.info(f"final mixture {summary['mixture_id']}: predicted {summary['predicted']:.4f}, measured {measured}")
    return MaterializeResult(metadata={
        "seconds": round(time.perf_counter() - began, 2),
        "round": last, "predicted_objective": summary["predicted"], "best_trial_objective": float(best_trial["m_objective"]),
        **{f"measured_{k}": float(v) for k, v in measured.items()},
        "weights": plots.grouped_barh([f"{i}: {lab}" for i, lab in enumerate(meta["labels"])],
                                      {"final": best.tolist(), "natural": natural.tolist(), "uniform": uniform.tolist()}, "Mixture weight per super-cluster"),
        "mixture": MetadataValue.json(summary),
    })

