"""The mixed training set that follows a mixture, and the mixture in the formats trainers read."""

import time

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from mix_assets import environment, plots
from mix_assets.assets.documents import kept_documents, super_clusters
from mix_assets.assets.search_state import domains, final_mixture_of
from mix_assets.assets.shared import materialized
from mix_assets.core import clusterclip, export
from mix_assets.core import parts as parts_io
from mix_assets.core.domains import Domains, Mixture
from mix_assets.core.parts import read_parts  # noqa: F401 - where readers of the dataset look for it
from mix_assets.core.storage import (
    read_parquet,
    write_csv,
    write_parquet,
    write_text,
)
from mix_assets.partitions import search_partitions
from mix_assets.resources import ProjectStorage, Searches, Warehouse

GROUP = "dataset"


class MixedDatasetConfig(Config):
    weights: dict[str, float] | None = None  # super-cluster id -> weight; None: the final mixture
    # None: the project file's dataset section (token_budget 2M, sampling uniform by default)
    token_budget: int | None = None  # tokens as counted in raw_shards (n_tokens)
    sampling: str | None = (
        None  # within a super-cluster: "uniform" or "clusterclip" over its k-means clusters
    )
    clip: int = 2  # ClusterClip: a document is drawn at most this many times
    max_epochs: float | None = (
        None  # uniform: more passes over a super-cluster are refused; None: the search's max_epochs
    )
    docs_per_shard: int = 50_000


def interleave(parts: dict[int, np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """Merge per-domain schedules into one training order, each domain spread evenly over it."""
    keys, times = [], []
    for rows in parts.values():
        cum = np.cumsum(lengths[rows]) / max(lengths[rows].sum(), 1)
        keys.append(rows)
        times.append(cum)
    if not keys:
        return np.zeros(0, np.int64)
    rows, t = np.concatenate(keys), np.concatenate(times)
    return rows[np.argsort(t, kind="stable")]


def given_mixture(domains: Domains, weights: dict[str, float]) -> Mixture:
    """A mixture from run config (super-cluster id -> weight, normalised)."""
    w = np.zeros(len(domains))
    for k, v in weights.items():
        if not str(k).isdigit() or int(k) >= len(domains):
            raise ValueError(f"weights: {k!r} is not a super-cluster id (0..{len(domains) - 1})")
        if not v >= 0:
            raise ValueError(f"weights: super-cluster {k} has weight {v}; weights must be >= 0")
        w[int(k)] = float(v)
    if w.sum() <= 0:
        raise ValueError("weights: a mixture needs at least one positive weight")
    return domains.mixture(w / w.sum())


@asset(
    group_name=GROUP,
    partitions_def=search_partitions,
    deps=["final_mixture", "merged_clusters"],
    code_version="2",
    description="Documents in training order following a mixture at a token budget (uniform or ClusterClip "
    "within each super-cluster).",
)
def mixed_dataset(
    context: AssetExecutionContext,
    config: MixedDatasetConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
) -> MaterializeResult:
    began = time.perf_counter()
    name = context.partition_key
    search = searches.get(name)
    max_epochs = search.max_epochs if config.max_epochs is None else config.max_epochs
    defaults = environment.project().dataset
    budget = defaults.token_budget if config.token_budget is None else config.token_budget
    sampling = defaults.sampling if config.sampling is None else config.sampling
    docs = pl.concat(kept_documents(storage, warehouse, ["n_tokens"]))
    if config.weights is not None:  # a mixture of your own: over the super-clusters as they are now
        supers = super_clusters(warehouse)
        doms = Domains.of(supers["label"], supers["n_tokens"])
        mixture = given_mixture(doms, config.weights)
    else:  # the search's final mixture, over the domains its search was framed with
        doms = domains(storage, name)
        mixture = final_mixture_of(warehouse, name, doms)
    weights = {s: float(w) for s, w in enumerate(mixture.weights) if w > 0}
    empty = set(weights) - set(docs["super_cluster"].unique().to_list())
    if empty:
        raise ValueError(f"the mixture gives weight to super-clusters {sorted(empty)} that hold no documents")
    total = sum(weights.values())
    lengths = docs["n_tokens"].to_numpy()
    supers, clusters = docs["super_cluster"].to_numpy(), docs["cluster"].to_numpy()
    parts = {}
    for s, w in sorted(weights.items()):
        want = int(round(budget * w / total))
        members = np.flatnonzero(supers == s)
        if want == 0:
            continue
        if sampling == "clusterclip":
            try:
                order = clusterclip.schedule(
                    clusters[members], lengths[members], want, config.clip, search.seed + s
                )
            except clusterclip.BudgetExceedsClip as e:
                raise ValueError(f"super-cluster {s}: {e}") from e
        elif sampling == "uniform":
            have = int(lengths[members].sum())
            if want > max_epochs * have:
                raise ValueError(
                    f"super-cluster {s} would be repeated {want / have:.1f} times ({want} of its {have} "
                    f"tokens), "
                    f"over max_epochs={max_epochs}; lower token_budget or its weight"
                )
            order = clusterclip.uniform_schedule(
                np.zeros(len(members), np.int64),
                lengths[members],
                {0: 1.0},
                want,
                max_epochs,
                search.seed + s,
            )
        else:
            raise ValueError(f"sampling must be 'uniform' or 'clusterclip', not {sampling!r}")
        parts[s] = members[order]
    rows = interleave(parts, lengths)
    draws = np.bincount(rows, minlength=len(docs))
    out = docs[rows].with_columns(
        pl.Series("position", np.arange(len(rows))), pl.Series("times_in_dataset", draws[rows])
    )
    # texts are joined one shard at a time and the parts written one at a time: memory follows a
    # shard and a part, not the corpus or the dataset
    n_parts = parts_io.write_from_shards(
        storage.folder("mixed_dataset") / name,
        out,
        lambda shard: read_parquet(storage.path("raw_shards", shard), columns=["doc_id", "text"]),
        ["position", "doc_id", "text", "super_cluster", "cluster", "n_tokens", "times_in_dataset"],
        config.docs_per_shard,
        f"{context.run_id[:8]}-{context.retry_number}",
        context.log.info,
    )
    realized = out.group_by("super_cluster").agg(pl.col("n_tokens").sum()).sort("super_cluster")
    share = {
        int(s): t / realized["n_tokens"].sum()
        for s, t in zip(realized["super_cluster"], realized["n_tokens"])
    }
    got = np.array([share.get(s, 0.0) for s in range(len(doms))])
    # what was asked for and what the documents give, side by side in the project's mixture shape
    write_parquet(
        doms.table(np.vstack([mixture.weights, got]), search=name, kind=["requested", "realized"]),
        storage.folder("mixed_dataset") / name / "mixture.parquet",
    )
    epochs = (
        pl.DataFrame({"cluster": clusters, "draws": draws, "tokens": lengths * draws, "have": lengths})
        .group_by("cluster")
        .agg((pl.col("tokens").sum() / pl.col("have").sum()).alias("epochs"))
        .sort("cluster")
    )
    labels = [doms.display[s] for s in sorted(weights)]
    context.log.info(
        f"mixed dataset: {len(rows)} documents, {int(lengths[rows].sum())} tokens, sampling={sampling}"
    )
    return materialized(
        began,
        {
            "documents": len(rows),
            "tokens": int(lengths[rows].sum()),
            "unique_documents": int((draws > 0).sum()),
            "max_repeats": int(draws.max(initial=0)),
            "sampling": sampling,
            "parts": n_parts,
            "requested_vs_realized": plots.grouped_barh(
                labels,
                {
                    "requested": [weights[s] / total for s in sorted(weights)],
                    "realized": [share.get(s, 0.0) for s in sorted(weights)],
                },
                "Weight per super-cluster",
            ),
            "epochs_per_cluster": MetadataValue.json(
                {int(c): round(e, 3) for c, e in zip(epochs["cluster"], epochs["epochs"]) if e > 0}
            ),
        },
    )


class MixtureExportsConfig(Config):
    data_prefix: str | None = None  # where your preprocessed per-domain data lives; None: the project file's


@asset(
    group_name=GROUP,
    partitions_def=search_partitions,
    deps=["final_mixture", "proxy_scores"],
    code_version="2",
    description="The final mixture as a Megatron-LM/NeMo --data-path blend, Hugging Face "
    "interleave_datasets arguments, and olmix-style ratios.csv / metrics.csv of every trial.",
)
def mixture_exports(
    context: AssetExecutionContext,
    config: MixtureExportsConfig,
    storage: ProjectStorage,
    warehouse: Warehouse,
    searches: Searches,
) -> MaterializeResult:
    began = time.perf_counter()
    name = context.partition_key
    search = searches.get(name)
    doms = domains(storage, name)
    final = final_mixture_of(warehouse, name, doms)
    prefix = config.data_prefix or environment.project().dataset.data_prefix
    folder = storage.folder("mixture_exports") / name
    blend = export.megatron_blend(final.by_name([prefix.format(id=s) for s in range(len(doms))]))
    hf = export.hf_interleave(final.by_name(), search.seed)
    scores = warehouse.query(
        "SELECT * FROM mix.proxy_scores WHERE search = ? AND status = 'ok' ORDER BY round, mixture_id", [name]
    )
    metric_cols = [c for c in scores.columns if c.startswith("m_")]
    ratios, metrics = export.olmix_tables(scores, doms.columns, doms.names, metric_cols)
    write_text(blend + "\n", folder / "megatron_data_path.txt")
    write_text(export.to_json(hf) + "\n", folder / "hf_interleave.json")
    write_csv(ratios, folder / "ratios.csv")
    write_csv(metrics, folder / "metrics.csv")
    return materialized(
        began,
        {
            "megatron_data_path": blend,
            "hf_interleave": MetadataValue.json(hf),
            "trials_exported": ratios.height,
            "folder": MetadataValue.path(str(folder)),
        },
    )
