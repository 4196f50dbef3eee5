"""Domains across two fits of the corpus (olmix's mixture reuse, for domains found by clustering).

A refit, or new shards assigned, changes the super-clusters a search mixes. The overlap table says,
for each new domain, how its documents were spread over the old domains (joined on document id);
from it each new domain is unchanged, merged, split or new, and an earlier search's mixtures are
translated into the new domains. Plain functions on polars / numpy; `search_targets` stores the
table and the classification, the search reads them back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from mix_assets.core.domains import to_grid

STATUSES = ("unchanged", "merged", "split", "new")


@dataclass(frozen=True)
class MapSettings:
    # a new domain is one old domain when that old domain holds this share of its shared tokens and
    # sends it this share of its own remaining tokens (both ways, so a split is not "unchanged")
    purity: float = 0.9
    # more than this share of a domain's tokens from documents the old fit never saw: it is new
    new_share: float = 0.5
    # an unchanged domain that grew by more than this share of new documents is searched again
    grown: float = 0.2
    # an earlier trial translates cleanly when it loses at most this share of its weight to
    # documents that are gone, and mixes the old parts of each new domain within this total
    # variation of how that domain's own sample would (weighted by the new weights)
    clean: float = 0.1


def overlap(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """One row per (new domain, old domain) with their shared documents and tokens; old_domain is
    null for the new fit's documents the old fit did not have. `old` and `new` have doc_id, domain
    (int) and n_tokens."""
    for name, t in (("old", old), ("new", new)):
        missing = {"doc_id", "domain", "n_tokens"} - set(t.columns)
        if missing:
            raise ValueError(f"{name} fit's documents lack columns {sorted(missing)}")
    joined = new.join(old.select("doc_id", pl.col("domain").alias("old_domain")), on="doc_id", how="left")
    return (
        joined.group_by(pl.col("domain").alias("new_domain"), "old_domain")
        .agg(pl.len().alias("docs"), pl.col("n_tokens").sum().alias("tokens"))
        .sort("new_domain", "old_domain", nulls_last=True)
    )


def shared_tokens(table: pl.DataFrame, n_old: int, n_new: int) -> np.ndarray:
    """old x new: tokens of documents in old domain o (old fit) and new domain d (new fit)."""
    m = np.zeros((n_old, n_new))
    both = table.filter(pl.col("old_domain").is_not_null())
    np.add.at(m, (both["old_domain"].to_numpy(), both["new_domain"].to_numpy()), both["tokens"].to_numpy())
    return m


def classify(table: pl.DataFrame, n_new: int, s: MapSettings = MapSettings()) -> pl.DataFrame:
    """Per new domain: status (unchanged / merged / split / new), its main old domain, the old
    domains it draws on (over 1 - purity of its shared tokens each), and the shares behind the call."""
    known = table["old_domain"].drop_nulls().to_numpy()
    n_old = int(known.max()) + 1 if len(known) else 0
    m = shared_tokens(table, n_old, n_new)
    total = np.bincount(table["new_domain"].to_numpy(), weights=table["tokens"].to_numpy(), minlength=n_new)
    shared = m.sum(axis=0)
    present = m.sum(axis=1)  # each old domain's tokens still in the corpus, wherever they went
    rows = []
    for d in range(n_new):
        new_frac = 1 - shared[d] / total[d] if total[d] else 1.0
        main = int(np.argmax(m[:, d])) if n_old and shared[d] else None
        purity = float(m[main, d] / shared[d]) if main is not None else 0.0
        kept = float(m[main, d] / present[main]) if main is not None else 0.0
        if main is None or new_frac > s.new_share:
            status = "new"
        elif purity < s.purity:
            status = "merged"
        elif kept < s.purity:
            status = "split"
        else:
            status = "unchanged"
        sources = [int(o) for o in np.flatnonzero(m[:, d] > (1 - s.purity) * shared[d])] if shared[d] else []
        rows.append(
            {
                "domain": d,
                "status": status,
                "main_old": main,
                "old_domains": sources,
                "purity": round(purity, 4),
                "old_kept_here": round(kept, 4),
                "new_tokens_share": round(float(new_frac), 4),
                "tokens": int(total[d]),
            }
        )
    return pl.DataFrame(rows, schema_overrides={"main_old": pl.Int64, "old_domains": pl.List(pl.Int64)})


def searched(classes: pl.DataFrame, s: MapSettings = MapSettings()) -> np.ndarray:
    """Per domain: searched again (changed, new, or grown past `grown`) rather than frozen."""
    return ((classes["status"] != "unchanged") | (classes["new_tokens_share"] > s.grown)).to_numpy()


def frozen_block(
    classes: pl.DataFrame, previous: np.ndarray, s: MapSettings = MapSettings()
) -> dict[int, float]:
    """The unchanged domains and their weights in the earlier mixture (translated): the block whose
    relative weights a reuse search keeps. A domain the earlier mixture left out stays out."""
    keep = ~searched(classes, s)
    return {int(d): float(previous[d]) for d in classes["domain"].to_numpy()[keep] if previous[d] > 0}


def removed(table: pl.DataFrame, old_tokens: np.ndarray, s: MapSettings = MapSettings()) -> list[int]:
    """Old domains of which at most 1 - purity of the tokens are still in the new fit."""
    old_tokens = np.asarray(old_tokens, dtype=np.float64)
    n_new = int(table["new_domain"].to_numpy().max()) + 1
    present = shared_tokens(table, len(old_tokens), n_new).sum(axis=1)
    return [int(o) for o in np.flatnonzero(present <= (1 - s.purity) * old_tokens)]


@dataclass(frozen=True)
class Translated:
    weights: np.ndarray  # rows x new domains, renormalised, on the grid
    lost: np.ndarray  # per row: weight the old mixture put on documents that are gone
    mismatch: np.ndarray  # per row: weighted total variation inside the new domains
    clean: np.ndarray  # per row: lost and mismatch both within MapSettings.clean


def translate(
    old_weights: np.ndarray,
    table: pl.DataFrame,
    old_tokens: np.ndarray,
    n_new: int,
    s: MapSettings = MapSettings(),
) -> Translated:
    """Old mixtures (rows x old domains) as the new domains see them. A trial of weight w on old
    domain o sampled its documents in proportion to their tokens, so it put w x T(o, d) / T(o) on
    the documents now in new domain d: exact for a pure split, approximate where a new domain pools
    old ones in other proportions than its own sample would, or holds documents the trial never saw."""
    w = np.atleast_2d(np.asarray(old_weights, dtype=np.float64))
    old_tokens = np.asarray(old_tokens, dtype=np.float64)
    if w.shape[1] != len(old_tokens):
        raise ValueError(f"mixtures over {w.shape[1]} domains, but the old fit has {len(old_tokens)}")
    m = shared_tokens(table, len(old_tokens), n_new)
    reach = m / np.maximum(old_tokens[:, None], 1e-300)
    parts = w[:, :, None] * reach[None]  # rows x old x new
    raw = parts.sum(axis=1)
    lost = 1 - raw.sum(axis=1)
    natural = m / np.maximum(m.sum(axis=0, keepdims=True), 1e-300)
    inside = parts / np.maximum(raw[:, None, :], 1e-300)
    tv = 0.5 * np.abs(inside - natural[None]).sum(axis=1)  # rows x new
    share = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-300)
    mismatch = (share * tv).sum(axis=1)
    ok = raw.sum(axis=1) > 0
    weights = np.zeros_like(raw)
    if ok.any():
        weights[ok] = to_grid(share[ok])
    clean = ok & (lost <= s.clean + 1e-12) & (mismatch <= s.clean + 1e-12)
    return Translated(weights, lost, mismatch, clean)
