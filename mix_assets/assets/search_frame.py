"""A search's frame, fixed with its targets: the pins of the project file and, for a search that
reuses an earlier one, the domain map between the two fits, the frozen block and the earlier trials
translated into this search's domains (core/domain_map.py, core/frame.py)."""

from dataclasses import dataclass

import numpy as np
import polars as pl

from mix_assets.core import domain_map, generator
from mix_assets.core.domains import Domains
from mix_assets.core.frame import Frame, ImpossiblePins
from mix_assets.core.storage import read_json, read_parquet
from mix_assets.resources import ProjectStorage, SearchSettings, Warehouse

MAP = domain_map.MapSettings()


@dataclass
class SearchFrame:
    frame: Frame
    reuse: dict  # what meta.json records of the reuse (empty for a search from scratch)
    classes: pl.DataFrame | None = None  # per domain: status, main old domain, shares
    overlap: pl.DataFrame | None = None  # (new domain, old domain) -> documents, tokens
    reused: pl.DataFrame | None = None  # the earlier trials, translated, with `clean`


def pins_of(search: SearchSettings) -> dict[int, float]:
    return {int(k): float(v) for k, v in search.fixed_weights.items()}


def pinned_frame(search: SearchSettings, tokens: np.ndarray, run_tokens: float, block=None) -> Frame:
    """The frame of the search's pins (and block); refuses pins no mixture can respect."""
    try:
        frame = Frame.build(len(tokens), pins_of(search), block)
    except ImpossiblePins as e:
        raise ImpossiblePins(f"fixed_weights: {e}") from None
    problems = frame.problems(generator.upper_bounds(tokens, run_tokens, search.max_epochs))
    if problems:
        raise ImpossiblePins("fixed_weights: " + "; ".join(problems))
    return frame


def build(
    storage: ProjectStorage,
    warehouse: Warehouse,
    search: SearchSettings,
    documents: pl.DataFrame,
    tokens: np.ndarray,
    run_tokens: float,
    tokenizer: str | None,
    s: domain_map.MapSettings = MAP,
) -> SearchFrame:
    """`documents`: this search's doc_id, super_cluster, n_tokens; `tokens`: its domains' tokens."""
    if search.reuse is None:
        return SearchFrame(pinned_frame(search, tokens, run_tokens), {})
    old = search.reuse
    folder = storage.folder("search_targets") / old
    final_path = storage.path("final_mixture", old, ".json")
    if not (folder / "meta.json").exists() or not final_path.exists():
        raise FileNotFoundError(
            f"search {old} (reused) has no final mixture yet; finish it first (its meta: {folder}/meta.json, "
            f"its mixture: {final_path})"
        )
    old_meta, final = read_json(folder / "meta.json"), read_json(final_path)
    old_docs = read_parquet(folder / "documents.parquet", ["doc_id", "super_cluster", "n_tokens"])
    old_tokens = np.asarray(old_meta["domain_tokens"], dtype=np.float64)
    n = len(tokens)
    table = domain_map.overlap(
        old_docs.rename({"super_cluster": "domain"}), documents.rename({"super_cluster": "domain"})
    )
    classes = domain_map.classify(table, n, s)
    gone = domain_map.removed(table, old_tokens, s)
    previous = np.array([final["weights"][str(i)] for i in range(len(old_tokens))])
    prev_new = domain_map.translate(previous[None, :], table, old_tokens, n, s).weights[0]
    classes = classes.with_columns(pl.Series("searched", domain_map.searched(classes, s)))
    block = domain_map.frozen_block(classes, prev_new, s)
    frame = pinned_frame(search, tokens, run_tokens, block)
    reused, why = translated_trials(warehouse, old, table, old_tokens, n, s, old_meta, tokenizer)
    info = {
        "search": old,
        "removed_domains": gone,
        "statuses": dict(zip(*np.unique(classes["status"].to_list(), return_counts=True))),
        "previous_weights": prev_new.tolist(),
        "block": {str(d): w for d, w in block.items()},
        "prior_evidence": 0 if reused is None else int(reused["clean"].sum()),
        "prior_evidence_skipped": why,
    }
    info["statuses"] = {k: int(v) for k, v in info["statuses"].items()}
    return SearchFrame(frame, info, classes, table, reused)


def translated_trials(
    warehouse: Warehouse,
    old: str,
    table: pl.DataFrame,
    old_tokens: np.ndarray,
    n: int,
    s: domain_map.MapSettings,
    old_meta: dict,
    tokenizer: str | None,
) -> tuple[pl.DataFrame | None, str]:
    """The earlier search's own scored trials in this search's domains, each marked clean or not;
    none when the proxies' tokenizer changed since (their losses were in other tokens)."""
    if old_meta.get("tokenizer") != tokenizer or tokenizer is None:
        return None, "the proxy tokenizer changed since the earlier search: its losses are in other tokens"
    if not warehouse.has_table("proxy_scores"):
        return None, "the earlier search has no scored trials"
    rows = warehouse.query("SELECT * FROM mix.proxy_scores WHERE search = ? AND status = 'ok'", [old])
    if rows.height == 0:
        return None, "the earlier search has no scored trials"
    old_domains = Domains.of(old_meta["labels"], old_meta["domain_tokens"])
    t = domain_map.translate(
        old_domains.weights(rows, f"mix.proxy_scores (search {old})"), table, old_tokens, n, s
    )
    new_domains = Domains.of([str(i) for i in range(n)], [1.0] * n)
    keep = t.weights.sum(axis=1) > 0
    out = new_domains.table(
        t.weights[keep],
        from_search=old,
        from_round=rows["round"].filter(pl.Series(keep)),
        from_mixture_id=rows["mixture_id"].filter(pl.Series(keep)),
        m_objective=rows["m_objective"].filter(pl.Series(keep)),
        lost=t.lost[keep],
        mismatch=t.mismatch[keep],
        clean=t.clean[keep],
    )
    return out, ""
