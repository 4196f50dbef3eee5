"""The proxies' corpus and, per bootstrap round: mixture candidates, proxy trials and their scores."""

import json
import time

import numpy as np
import polars as pl
from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RetryRequested,
    asset,
)

from mix_assets import plots
from mix_assets.assets.shared import (
    ROUND_ASSET,
    GeneratorConfig,
    baseline_mixtures,
    generator_settings,
    kept_documents,
    load_meta,
    materialized,
    round_candidates,
    run_tokens,
    scored_rows,
    super_clusters,
    weight_columns,
    weights_by_round,
)
from mix_assets.assets.trials import ProxyTrialsConfig, run_trial, trial_path
from mix_assets.core import mixtures, surrogate
from mix_assets.core.proxies import bpe
from mix_assets.core.storage import atomic_path, write_npy, write_parquet
from mix_assets.partitions import parse_round, round_key, search_of
from mix_assets.profiles import gpu_op_tags
from mix_assets.resources import ProjectStorage, Searches, Warehouse

GROUP = "search"


class ProxyCorpusConfig(Config):
    vocab_size: int = 4096  # the proxies' own BPE vocabulary (2-4k, as the gpt proxy wants)
    max_train_docs: int = 50_000  # BPE is trained on at most this many sampled documents
    seed: int = 42


@asset(
    group_name=GROUP,
    deps=["merged_clusters"],
    code_version="3",
    description="BPE vocabulary trained on the kept documents, and their token ids by super-cluster: "
    "what every search's proxies train on.",
)
def proxy_corpus(
    context: AssetExecutionContext, config: ProxyCorpusConfig, storage: ProjectStorage, warehouse: Warehouse
) -> MaterializeResult:
    began = time.perf_counter()
    supers = super_clusters(warehouse)
    docs = kept_documents(storage, warehouse, ["text"])
    train = docs.sample(min(config.max_train_docs, docs.height), seed=config.seed)["text"].to_list()
    tok = bpe.train_bpe(train, config.vocab_size)
    flat, offsets = bpe.encode(tok, docs["text"].to_list())
    folder = storage.folder("proxy_corpus")
    write_npy(flat, folder / "tokens.npy")
    write_npy(offsets, folder / "offsets.npy")
    write_parquet(
        docs.select("doc_id", "super_cluster", pl.Series("n_tokens", np.diff(offsets))),
        folder / "docs.parquet",
    )
    with atomic_path(folder / "tokenizer.json") as tmp:
        tok.save(str(tmp))
    per_domain = np.bincount(
        docs["super_cluster"].to_numpy(), weights=np.diff(offsets), minlength=supers.height
    ).astype(np.int64)
    meta = {
        "vocab_size": tok.get_vocab_size(),
        "domain_tokens": per_domain.tolist(),
        "labels": supers["label"].to_list(),
    }
    with atomic_path(folder / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta))
    context.log.info(
        f"proxy corpus: {docs.height} documents, {len(flat)} tokens, vocab {tok.get_vocab_size()}, "
        f"{time.perf_counter() - began:.1f}s"
    )
    return materialized(
        began,
        {
            "documents": docs.height,
            "tokens": int(len(flat)),
            "vocab_size": tok.get_vocab_size(),
            "tokens_per_super_cluster": MetadataValue.json(per_domain.tolist()),
        },
    )


class MixtureCandidatesConfig(Config):
    """The generator's published settings (METHODS §1) and how later rounds propose (METHODS §7)."""

    generator: GeneratorConfig = GeneratorConfig()
    pool_size: int = 100_000
    baselines: bool = True  # round 0 also trains the natural and uniform mixtures
    proposal: str = "lcb"  # "climb": the published random pick among the predicted best
    kappa: float = (
        1.0  # lcb: rank by mean - kappa x std in round 1, turning to mean + kappa x std in the last round
    )
    local_share: float = (
        0.125  # lcb: this share of a round's picks are steps around the best measured mixture
    )
    local_concentration: float = 200.0


def proposal_settings(config: MixtureCandidatesConfig, r: int, n_rounds: int) -> mixtures.ProposalSettings:
    kappa = mixtures.round_kappa(config.kappa, r, n_rounds)
    return mixtures.ProposalSettings(
        config.proposal, config.pool_size, kappa, config.local_share, config.local_concentration
    )


def best_measured(rows: pl.DataFrame, n_domains: int, minimize: bool) -> np.ndarray | None:
    if rows.height == 0:
        return None
    best = rows.sort("m_objective", descending=not minimize).row(0, named=True)
    return np.array([best[c] for c in weight_columns(n_domains)])


@asset(
    **ROUND_ASSET,
    deps=["proxy_corpus", "search_targets"],
    code_version="3",
    description="Round 0: Dirichlet mixtures around the token prior; later rounds: the surrogate's best of "
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
    if r >= len(search.proxies_per_round):
        raise ValueError(f"round {context.partition_key} is beyond the schedule {search.proxies_per_round}")
    m = search.proxies_per_round[r]
    meta = load_meta(storage)
    tokens = np.asarray(meta["domain_tokens"], dtype=np.float64)
    gen = generator_settings(config.generator, search)
    tried = scored_rows(warehouse, round_key(name, r - 1)) if r > 0 else pl.DataFrame()
    exclude = set(tried["mixture_id"].to_list()) if tried.height else set()
    seed = search.seed + 1000 * r
    total = run_tokens(meta, search)
    if r == 0:
        weights, predicted, kinds = (
            mixtures.generate(tokens, m, total, gen, seed, exclude),
            np.full(m, np.nan),
            ["dirichlet"] * m,
        )
        std = np.full(m, np.nan)
        if config.baselines:
            for kind, w in baseline_mixtures(
                tokens, gen.grid, mixtures.upper_bounds(tokens, total, search.max_epochs), context.log
            ).items():
                weights, predicted, std, kinds = (
                    np.vstack([weights, w]),
                    np.append(predicted, np.nan),
                    np.append(std, np.nan),
                    kinds + [kind],
                )
    else:
        model_path = storage.path("predictor", round_key(name, r - 1), ".pkl")
        if not model_path.exists():
            raise FileNotFoundError(
                f"round {context.partition_key} needs the predictor of {round_key(name, r - 1)}; "
                f"materialize it first"
            )
        model = surrogate.Fitted.load(model_path)
        weights, predicted, std, kinds = mixtures.propose(
            model.predict,
            tokens,
            m,
            total,
            gen,
            seed,
            proposal_settings(config, r, len(search.proxies_per_round)),
            search.minimize,
            exclude,
            best_measured(tried, len(tokens), search.minimize),
        )
    ids = [mixtures.mixture_id(w, gen.grid) for w in weights]
    table = pl.DataFrame(
        {
            "search": name,
            "round": context.partition_key,
            "position": np.arange(len(ids)),
            "mixture_id": ids,
            "kind": kinds,
            "predicted": predicted,
            "predicted_std": std,
        }
    ).hstack(pl.DataFrame(weights, schema=weight_columns(len(tokens))))
    warehouse.replace("mixture_candidates", table, where={"round": context.partition_key})
    labels = meta["labels"]
    return materialized(
        began,
        {
            "candidates": table.height,
            "round": r,
            "proxies_planned": m,
            "mean_weights": plots.barh(
                [f"{i}: {lab}" for i, lab in enumerate(labels)],
                weights.mean(axis=0).tolist(),
                f"Mean candidate weight per super-cluster, round {r}",
                "weight",
            ),
            "weights_by_round": weights_by_round(warehouse, len(tokens), context.partition_key),
        },
    )


# A step that dies outright (lost worker, full disk) is retried by the policy; failed trials inside
# a step that finished are retried by RetryRequested below, up to ProxyTrialsConfig.trial_retries.
@asset(
    **ROUND_ASSET,
    deps=["mixture_candidates", "proxy_corpus", "search_targets"],
    code_version="4",
    pool="proxy",
    retry_policy=RetryPolicy(max_retries=2, delay=5),
    op_tags=gpu_op_tags(),
    description="One proxy training per candidate, scored on the targets; each trial is saved as it "
    "finishes, so a rerun does only what is missing.",
)
def proxy_trials(
    context: AssetExecutionContext,
    config: ProxyTrialsConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
) -> MaterializeResult:
    search = searches.get(search_of(context.partition_key))
    candidates = round_candidates(warehouse, context.partition_key)
    wcols = [c for c in candidates.columns if c.startswith("w") and c[1:].isdigit()]
    done, ran, failed, seconds = 0, 0, 0, 0.0
    for row in candidates.iter_rows(named=True):
        path = trial_path(storage, context.partition_key, row["mixture_id"])
        if path.exists() and json.loads(path.read_text())["status"] == "ok":
            done += 1
            continue
        record = run_trial(
            context,
            search,
            search_of(context.partition_key),
            storage,
            row["mixture_id"],
            np.array([row[c] for c in wcols]),
            config,
        )
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(record))
        ran += 1
        failed += record["status"] != "ok"
        seconds += record["seconds"]
        context.log.info(
            f"trial {ran + done}/{candidates.height} {row['mixture_id']} ({row['kind']}): {record['status']} "
            f"objective={record['metrics'].get('objective', float('nan')):.4f} in {record['seconds']:.1f}s"
        )
    if failed and context.retry_number < config.trial_retries:
        context.log.warning(
            f"{failed} trials failed; retrying them (attempt {context.retry_number + 2} of "
            f"{config.trial_retries + 1})"
        )
        raise RetryRequested(max_retries=config.trial_retries, seconds_to_wait=config.retry_wait_seconds)
    ok = candidates.height - failed
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
            "backend": search.backend,
            "trials_per_minute": round(60 * ran / seconds, 1) if seconds else 0.0,
        }
    )
