"""A search's state as the search assets read it back: its frame of the corpus (domains, run size),
its rounds' candidates and scores, and its final mixture."""

import numpy as np
import polars as pl
from dagster import Config

from mix_assets import plots
from mix_assets.assets.shared import settings_of
from mix_assets.core import generator
from mix_assets.core.domains import Domains, Mixture
from mix_assets.core.frame import Frame
from mix_assets.core.storage import read_json
from mix_assets.partitions import search_of
from mix_assets.resources import ProjectStorage, SearchSettings, Warehouse


def load_meta(storage: ProjectStorage, search: str) -> dict:
    """A search's frame of the corpus, fixed when its targets were made: its domains (labels, proxy
    tokens), the shards it samples, the vocabulary and its targets."""
    path = storage.folder("search_targets") / search / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing there; materialize search_targets --partition {search}")
    return read_json(path)


def domains(storage: ProjectStorage, search: str) -> Domains:
    """The domains a search mixes: the super-clusters, their labels and proxy tokens."""
    meta = load_meta(storage, search)
    return Domains.of(meta["labels"], meta["domain_tokens"])


def frame_of(meta: dict) -> Frame:
    """The part of the simplex the search explores (pins, a frozen block): identity when neither."""
    return Frame.from_json(meta.get("frame"), len(meta["labels"]))


def previous_mixture(meta: dict) -> np.ndarray | None:
    """A reuse search's earlier mixture in its domains, pins imposed: what its round 0 draws around
    and its short list measures. None for a search from scratch."""
    reuse = meta.get("reuse")
    return frame_of(meta).project(np.asarray(reuse["previous_weights"]))[0] if reuse else None


def schedule_of(meta: dict, search: SearchSettings) -> list[int]:
    """Trials per round over the coordinates the search explores; none when its frame leaves one
    mixture (a reuse search where only domains were removed: renormalise and verify)."""
    frame = frame_of(meta)
    return [] if frame.k < 2 else search.schedule(frame.k)


def evidence(
    warehouse: Warehouse, doms: Domains, upto_round: str | None, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, own) the surrogate fits on: this search's scored trials up to `upto_round`, then the
    earlier search's trials that translated cleanly (prior evidence; own=False)."""
    own = scored_rows(warehouse, upto_round) if upto_round is not None else pl.DataFrame()
    prior = (
        warehouse.query("SELECT * FROM mix.reused_trials WHERE search = ? AND clean", [name])
        if warehouse.has_table("reused_trials")
        else pl.DataFrame()
    )
    xs, ys, owns = [], [], []
    for rows, mine, source in ((own, True, "mix.proxy_scores"), (prior, False, "mix.reused_trials")):
        if rows.height:
            xs.append(doms.weights(rows, source))
            ys.append(rows["m_objective"].to_numpy())
            owns.append(np.full(rows.height, mine))
    if not xs:
        return np.zeros((0, len(doms))), np.zeros(0), np.zeros(0, dtype=bool)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(owns)


def run_tokens(meta: dict, search: SearchSettings) -> float:
    """The run the mixture is for: every weight bound is computed against it."""
    return search.run_tokens(float(sum(meta["domain_tokens"])))


def round_candidates(warehouse: Warehouse, key: str) -> pl.DataFrame:
    """A round's candidates (mixture_candidates), in the order they were proposed."""
    if not warehouse.has_table("mixture_candidates"):
        raise FileNotFoundError(f"round {key}: no candidates yet; materialize mixture_candidates first")
    return warehouse.query(
        "SELECT * EXCLUDE (position) FROM mix.mixture_candidates WHERE round = ? ORDER BY position", [key]
    )


def scored_rows(warehouse: Warehouse, upto_round: str) -> pl.DataFrame:
    """Every successful trial of this and earlier rounds of the same search (empty before the first
    round is scored)."""
    if not warehouse.has_table("proxy_scores"):
        return pl.DataFrame()
    return warehouse.query(
        "SELECT * FROM mix.proxy_scores WHERE search = ? AND round <= ? AND status = 'ok'",
        [search_of(upto_round), upto_round],
    )


def generator_settings(config: Config, search: SearchSettings) -> generator.GeneratorSettings:
    return settings_of(config, generator.GeneratorSettings, max_epochs=search.max_epochs)


def weights_by_round(warehouse: Warehouse, domains: Domains, upto: str):
    """Mean candidate weight per super-cluster for every round so far: how the search narrows."""
    cols = domains.columns
    means = warehouse.query(
        f"SELECT round, {', '.join(f'avg({c}) AS {c}' for c in cols)} FROM mix.mixture_candidates "
        "WHERE search = ? AND round <= ? GROUP BY round ORDER BY round",
        [search_of(upto), upto],
    )
    return plots.heatmap(
        means["round"].to_list(),
        [str(i) for i in range(len(domains))],
        domains.weights(means),
        "Mean candidate weight: round x super-cluster",
    )


def final_mixtures(warehouse: Warehouse, name: str) -> pl.DataFrame:
    """A search's final_mixture rows (kind: final, natural, uniform, unbounded_optimum), a mixture table."""
    final = (
        warehouse.query("SELECT * FROM mix.final_mixture WHERE search = ? ORDER BY kind", [name])
        if warehouse.has_table("final_mixture")
        else pl.DataFrame()
    )
    if final.height == 0:
        raise FileNotFoundError(
            f"search {name}: no final mixture yet; materialize final_mixture --partition {name}"
        )
    return final


def final_mixture_of(warehouse: Warehouse, name: str, domains: Domains) -> Mixture:
    final = final_mixtures(warehouse, name).filter(pl.col("kind") == "final")
    return domains.mixtures(final, f"mix.final_mixture (search {name})")[0]
