"""One self-contained HTML page per run: corpus -> clusters -> search rounds -> final mixture.

Everything is read back from the warehouse and the artifacts, so the page can be rebuilt at any
time, and it embeds its charts as data URIs: it opens from disk, a mail attachment or an artifact
store, without Dagster.
"""

import html
import time

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from mix_assets import plots
from mix_assets.assets.documents import cluster_map
from mix_assets.assets.search_state import domains, final_mixtures, load_meta, schedule_of, weights_by_round
from mix_assets.core.domains import Domains
from mix_assets.core.storage import load_npy, read_json, write_text
from mix_assets.partitions import search_of, search_partitions
from mix_assets.resources import ProjectStorage, Searches, SearchSettings, Warehouse

STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td:last-child{text-align:left}
img{max-width:100%;margin:.5em 0}.note{color:#666;font-size:.9em}"""


def table_html(df: pl.DataFrame, max_rows: int = 30) -> str:
    def cell(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in df.head(max_rows).iter_rows()
    )
    more = (
        f'<p class="note">{df.height - max_rows} more rows in the warehouse</p>'
        if df.height > max_rows
        else ""
    )
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def img(chart: MetadataValue, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{plots.data_uri(chart)}">'


def corpus_section(warehouse: Warehouse) -> str:
    shards = warehouse.query(
        "SELECT shard, n_docs, n_quarantined, n_tokens, n_bytes FROM mix.shard_summaries ORDER BY shard"
    )
    total = shards.select(pl.col("n_docs", "n_quarantined", "n_tokens", "n_bytes").sum()).row(0, named=True)
    return (
        f"<h2>1. Corpus</h2><p>{shards.height} shards, {total['n_docs']:,} documents, "
        f"{total['n_tokens']:,} tokens "
        f"({total['n_bytes'] / 1e6:.1f} MB of text); {total['n_quarantined']:,} rows "
        f"quarantined.</p>{table_html(shards, 12)}"
    )


def cluster_section(storage: ProjectStorage, warehouse: Warehouse) -> str:
    stats = warehouse.query("SELECT * FROM mix.pruned_clusters ORDER BY n_tokens DESC")
    supers = warehouse.query(
        "SELECT super_cluster, label, n_clusters, n_docs, n_tokens, token_share, mean_quality FROM "
        "mix.super_clusters ORDER BY super_cluster"
    )
    mapping = warehouse.query("SELECT * FROM mix.cluster_mapping")
    cents = load_npy(storage.path("centroids", "all", ".npy"))
    dropped = stats.filter(~pl.col("kept"))
    sizes = plots.barh(
        [f"{c}: {lab}" for c, lab in zip(stats["cluster"], stats["label"])][:40],
        stats["n_tokens"].to_list()[:40],
        "Tokens per cluster (40 largest)",
        "tokens",
    )
    return (
        f"<h2>2. Clusters</h2><p>k-means found {stats.height} clusters; {dropped.height} were pruned for "
        f"low quality "
        f"({dropped['n_tokens'].sum() / max(stats['n_tokens'].sum(), 1):.1%} of tokens), the other "
        f"{stats.height - dropped.height} "
        f"were merged into {supers.height} super-clusters, the domains of the mixture.</p>"
        f"{img(cluster_map(stats, mapping, supers, cents), 'cluster map')}{img(sizes, 'cluster sizes')}"
        f"<h3>Super-clusters</h3>{table_html(supers)}<h3>Pruned clusters</h3>"
        f"{table_html(dropped.select('cluster', 'n_docs', 'mean_quality', 'reason', 'label'), 15)}"
    )


def reuse_section(warehouse: Warehouse, name: str, meta: dict) -> str:
    """What a reuse search carried over: the domain map and the earlier trials it counted."""
    reuse = meta.get("reuse")
    if not reuse:
        return ""
    classes = warehouse.query(
        "SELECT * EXCLUDE (search) FROM mix.domain_map WHERE search = ? ORDER BY domain", [name]
    )
    reused = (
        warehouse.query(
            "SELECT from_round, count(*) AS translated, sum(CASE WHEN clean THEN 1 ELSE 0 END) AS reused "
            "FROM mix.reused_trials WHERE search = ? GROUP BY from_round ORDER BY from_round",
            [name],
        )
        if warehouse.has_table("reused_trials")
        else pl.DataFrame()
    )
    skipped = reuse.get("prior_evidence_skipped") or ""
    return (
        f"<h2>Reuse of search <i>{html.escape(reuse['search'])}</i></h2><p>Domains by how their documents "
        f"were spread over {html.escape(reuse['search'])}'s: {html.escape(str(reuse['statuses']))}; removed "
        f"since: {reuse['removed_domains'] or 'none'}. Unchanged domains keep their earlier relative weights "
        f"as one block ({html.escape(str(reuse['block']))}); the block's share and the other domains are "
        f"searched. {reuse['prior_evidence']} earlier trials translated cleanly and count as prior evidence "
        f"(marked reused, never on the short list). {html.escape(skipped)}</p>"
        f"{table_html(classes)}" + (table_html(reused) if reused.height else "")
    )


def search_section(
    warehouse: Warehouse, search: SearchSettings, doms: Domains, last: str | None, meta: dict
) -> str:
    if last is None:
        return "<h2>3. Mixture search</h2><p>No round ran: nothing was left to search.</p>"
    name = search_of(last)
    schedule = schedule_of(meta, search)
    scores = warehouse.query(
        "SELECT * FROM mix.proxy_scores WHERE search = ? AND round <= ? ORDER BY round, mixture_id",
        [name, last],
    )
    reports = warehouse.query(
        "SELECT * FROM mix.predictor_reports WHERE search = ? AND round <= ? ORDER BY round", [name, last]
    )
    ok = scores.filter(pl.col("status") == "ok")
    better = pl.col("m_objective").min() if search.minimize else pl.col("m_objective").max()
    per_round = (
        scores.group_by("round")
        .agg(pl.len().alias("trials"), (pl.col("status") == "ok").sum().alias("ok"))
        .join(
            ok.group_by("round").agg(better.alias("best"), pl.col("m_objective").median().alias("median")),
            on="round",
            how="left",
        )
        .join(reports.select("round", "rows", "model", "cv_spearman"), on="round", how="left")
        .sort("round")
        .with_columns(pl.col("best", "median").fill_null(float("nan")))
    )  # a round with no successful trial
    parts = [
        f"<h2>3. Mixture search</h2><p>{len(schedule)} rounds of "
        f"{schedule} proxy trainings "
        f"({search.backend} backend, {search.token_budget:,} tokens each), objective "
        f"{'minimised' if search.minimize else 'maximised'}: "
        f"{html.escape(str(search.weights_by_name()))}.</p>",
        table_html(per_round),
        img(
            plots.line(
                per_round["round"].to_list(),
                {"best": per_round["best"].to_list(), "median": per_round["median"].to_list()},
                "Objective per round",
                "round",
                "objective",
            ),
            "objective per round",
        ),
        img(weights_by_round(warehouse, doms, last), "weights by round"),
    ]
    # candidates of round >= 1 were proposed with a predicted score before they were trained: out-of-sample
    predicted = ok.filter(pl.col("predicted").is_not_null() & pl.col("predicted").is_not_nan())
    if predicted.height >= 3:
        rho = float(predicted.select(pl.corr("predicted", "m_objective", method="spearman")).item())
        parts.append(
            img(
                plots.scatter(
                    predicted["m_objective"].to_numpy(),
                    predicted["predicted"].to_numpy(),
                    f"Predicted before training vs measured (Spearman {rho:.3f})",
                    "measured",
                    "predicted",
                ),
                "predicted vs measured",
            )
        )
    return "".join(parts)


def final_section(storage: ProjectStorage, warehouse: Warehouse, name: str, doms: Domains) -> str:
    rows = final_mixtures(warehouse, name)
    summary = read_json(storage.path("final_mixture", name, ".json"))
    kinds = dict(zip(rows["kind"], doms.weights(rows, "mix.final_mixture")))
    chart = plots.grouped_barh(
        doms.display,
        {k: kinds[k].tolist() for k in ("final", "natural", "uniform")},
        "Final mixture against natural and uniform",
    )
    table = pl.DataFrame(
        {
            "super_cluster": range(len(doms)),
            "label": doms.labels,
            **{k: w for k, w in kinds.items()},
            "max_weight": summary["max_weight"],
        }
    )
    candidates = warehouse.query("SELECT * FROM mix.final_candidates WHERE search = ?", [name])
    shown = ["candidate", "mixture_id", "chosen", "predicted", "predicted_std", "search_mean", "search_std"]
    shown += ["gap_to_best", "gap_se", "eval_mean", "eval_std"]
    candidates = candidates.select(
        [c for c in shown if c in candidates.columns]
    )  # older tables lack the gaps
    cost = summary["cost"]
    bound = (
        f"The max-epochs bound at {summary['target_tokens']:,.0f} training tokens binds: the surrogate's "
        f"unbounded optimum "
        f"(predicted {summary['unbounded_optimum']['predicted']:.4f}) would repeat a domain more than "
        f"allowed."
        if summary["bound_binds"]
        else f"The max-epochs bound at {summary['target_tokens']:,.0f} training tokens does not bind."
    )
    best = summary.get("best_measured", summary["chosen"])  # a summary written before the rule has none
    why = (
        "the best measured mean of a short list"
        if summary["chosen"] == best
        else f"within {summary['se_multiplier']:g} standard errors (over the target's documents) of the best "
        f"measured, {html.escape(best)}, and preferred as the simpler choice"
    )
    return (
        f"<h2>4. Final mixture</h2><p>Chosen: <b>{html.escape(summary['chosen'])}</b>, {why}; each "
        f"candidate was trained {summary['replicates']} times on fresh samples (surrogate of round "
        f"{summary['round']}: {summary['surrogate']}). "
        f"The search part of the targets chose it; the evaluation part, which no proxy of the search "
        f"scored, is what it is judged on. "
        f"Per-trial noise (median std over replicates): {summary['trial_noise']:.4f}. {bound}</p>"
        f"{img(chart, 'final mixture')}<h3>Short list, measured</h3>{table_html(candidates)}"
        f"<h3>Cost</h3><p>{sum(cost['trials_per_round'].values())} search trials "
        f"({cost['trials_per_round']}) in {cost['round_seconds']:.0f} s, "
        f"then {cost['verification_trials']} verification trials in {cost['verification_seconds']:.0f} "
        f"s.</p>{table_html(table)}"
    )


@asset(
    group_name="report",
    partitions_def=search_partitions,
    deps=["final_mixture"],
    code_version="3",
    description="A self-contained HTML page (charts embedded) that tells the run's story from corpus to "
    "final mixture.",
)
def run_report(
    context: AssetExecutionContext, storage: ProjectStorage, warehouse: Warehouse, searches: Searches
) -> MaterializeResult:
    start = time.perf_counter()
    name = context.partition_key
    search = searches.get(name)
    final = read_json(storage.path("final_mixture", name, ".json"))
    doms, meta = domains(storage, name), load_meta(storage, name)
    body = (
        corpus_section(warehouse)
        + cluster_section(storage, warehouse)
        + reuse_section(warehouse, name, meta)
        + search_section(warehouse, search, doms, final["round"], meta)
        + final_section(storage, warehouse, name, doms)
    )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>mix_assets run "
        f"report: {html.escape(name)}</title><style>{STYLE}</style></head>"
        f"<body><h1>mix_assets run report: search <i>{html.escape(name)}</i></h1>"
        f"<p class='note'>Run {context.run_id[:8]}, written {stamp}, "
        f"seed {search.seed}. Final mixture (super-cluster: weight): "
        f"{', '.join(f'{k}: {v:.4f}' for k, v in final['weights'].items())}</p>{body}</body></html>"
    )
    path = write_text(page, storage.folder("run_report") / name / "index.html")
    context.log.info(f"report: {len(page) / 1e3:.0f} kB in {time.perf_counter() - start:.1f}s -> {path}")
    return MaterializeResult(
        metadata={
            "seconds": round(time.perf_counter() - start, 2),
            "path": MetadataValue.path(str(path)),
            "bytes": len(page),
            "sections": 4,
            "final_weights": MetadataValue.json(
                {k: round(w, 4) for k, w in zip(doms.display, final["weights"].values())}
            ),
        }
    )
