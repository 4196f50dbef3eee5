"""Per round: the predictor (surrogate) fitted on every proxy score of this and earlier rounds."""

import dataclasses
import time

import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from mix_assets import plots
from mix_assets.assets.search_state import domains, evidence
from mix_assets.assets.shared import ROUND_ASSET, materialized, settings_config, settings_of
from mix_assets.core import predictor as core_predictor
from mix_assets.core import surrogate
from mix_assets.core.storage import atomic_path
from mix_assets.partitions import parse_round, round_index
from mix_assets.resources import ProjectStorage, Searches, Warehouse

# Which surrogate (chosen per round by cross-validation by default) and its settings, LightGBM's
# under `lightgbm`: CLIMB's published ones (METHODS §1.6), or RegMix's with preset="regmix", which
# sets every LightGBM field the run config leaves alone.
PredictorConfig = settings_config(
    surrogate.SurrogateSettings, "PredictorConfig", exclude=("seed",), preset=(str, "climb")
)


def settings_from(config: Config, seed: int) -> surrogate.SurrogateSettings:
    s = settings_of(config, surrogate.SurrogateSettings, seed=seed)
    given = {k: getattr(s.lightgbm, k) for k in config.lightgbm.model_fields_set}
    lgb = core_predictor.PredictorSettings.preset(config.preset, **given, seed=seed)
    return dataclasses.replace(s, lightgbm=lgb)


@asset(
    **ROUND_ASSET,
    deps=["proxy_scores"],
    code_version="2",
    description="The surrogate on every (mixture, objective) of this and earlier rounds, chosen by "
    "cross-validation among LightGBM, "
    "a Gaussian process, quadratic ridge, log-linear and their average; every candidate's CV Spearman / MAE.",
)
def predictor(
    context: AssetExecutionContext,
    config: PredictorConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
) -> MaterializeResult:
    began = time.perf_counter()
    key = context.partition_key
    name = parse_round(key)[0]
    search = searches.get(name)
    x, y, own = evidence(warehouse, domains(storage, name), key, name)
    if not own.any():
        raise core_predictor.TooFewRows(
            f"no successful proxy trial up to round {key}; materialize proxy_scores first"
        )
    model = surrogate.fit(x, y, settings_from(config, search.seed))
    with atomic_path(storage.path("predictor", key, ".pkl")) as tmp:
        model.save(tmp)
    cv = surrogate.cv_report(model)
    candidates = pl.DataFrame(model.report).with_columns(
        pl.lit(name).alias("search"), pl.lit(key).alias("round"), pl.lit(len(y)).alias("rows")
    )
    warehouse.replace("surrogate_reports", candidates, where={"round": key})
    report = pl.DataFrame(
        {
            "search": [name],
            "round": [key],
            "rows": [len(y)],
            "model": [model.name],
            "cv_spearman": [cv["spearman"]],
            "cv_mae": [cv["mae"]],
            "preset": [config.preset],
        }
    )
    warehouse.replace("predictor_reports", report, where={"round": key})
    context.log.info(
        f"surrogate {key}: {model.name} on {len(y)} rows, CV Spearman {cv['spearman']:.3f}, MAE "
        f"{cv['mae']:.4f} "
        "(" + ", ".join(f"{r['model']} {r['cv_spearman']:.3f}" for r in model.report) + ")"
    )
    return materialized(
        began,
        {
            "rows": len(y),
            "prior_evidence_rows": int((~own).sum()),  # an earlier search's trials, translated
            "rounds_used": round_index(key) + 1,
            "model": model.name,
            "cv_spearman": cv["spearman"],
            "cv_mae": cv["mae"],
            "candidates": plots.md_table(
                candidates.select("model", "cv_spearman", "cv_mae", "weight", "chosen")
            ),
            "predicted_vs_measured": plots.scatter(
                y,
                model.oof,
                f"Out-of-fold prediction ({model.name}), round {key} (Spearman {cv['spearman']:.3f})",
                "measured objective",
                "predicted objective",
            ),
        },
    )
