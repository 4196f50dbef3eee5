"""The round step of a search (METHODS §7): what round r proposes from the trials scored so far.

Round 0 draws Dirichlet mixtures around the token prior, plus the natural and uniform baselines (a
reuse search's round 0 draws around the earlier search's mixture instead); a later round asks the
surrogate fitted on every earlier trial for its best untried mixtures (generator.propose). The
`mixture_candidates` asset and the search benches both call `propose_round`, so what a bench
measures is what the pipeline runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mix_assets.core import generator
from mix_assets.core.domains import GRID, mixture_id, to_grid
from mix_assets.core.frame import Frame
from mix_assets.core.verify import BASELINES

Predict = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Proposal:
    """One round's candidates: weights (rows x domains), the surrogate's predicted mean and std for
    each (NaN in round 0) and what proposed it (dirichlet, near_previous, natural, uniform, lcb, local,
    predicted)."""

    weights: np.ndarray
    predicted: np.ndarray
    predicted_std: np.ndarray
    kinds: list[str]


def round_seed(seed: int, r: int) -> int:
    """Every round draws from its own stream of the search's seed."""
    return seed + 1000 * r


def baselines(
    tokens: np.ndarray, bound: np.ndarray, grid: float = GRID, frame: Frame | None = None
) -> dict[str, np.ndarray]:
    """Natural and uniform on the grid, each only where it respects the repetition bound; with
    pinned weights, the pins set and the rest natural (uniform) over what they leave."""
    t = np.asarray(tokens, dtype=np.float64)
    mixes = dict(zip(BASELINES, (t / t.sum(), np.full(len(t), 1 / len(t)))))
    on_grid = {k: to_grid(w[None, :], grid)[0] for k, w in mixes.items()}
    if frame is not None and frame.pinned:
        on_grid = {k: frame.project(w)[0] for k, w in on_grid.items()}
    return {k: w for k, w in on_grid.items() if (w <= bound + 1e-12).all()}


def best_measured(x: np.ndarray, y: np.ndarray, minimize: bool) -> np.ndarray | None:
    if not len(y):
        return None
    return np.asarray(x)[int(np.argmin(y) if minimize else np.argmax(y))]


def propose_round(
    r: int,
    schedule: list[int],
    tokens: np.ndarray,
    run_tokens: float,
    gen: generator.GeneratorSettings,
    seed: int,
    proposal: generator.ProposalSettings,
    minimize: bool,
    tried_x: np.ndarray,
    tried_y: np.ndarray,
    predict: Predict | None = None,
    with_baselines: bool = True,
    frame: Frame | None = None,
    centre: np.ndarray | None = None,
) -> Proposal:
    """Round r's candidates. `tried_x`/`tried_y` are every earlier trial that scored, `predict` the
    surrogate fitted on them (needed from round 1); `proposal.kappa` is round 1's, and it turns to
    -kappa by the last round (generator.round_kappa). A `frame` (pins, a frozen block) makes the
    generator and the proposals work on its coordinates; every candidate then lies in it. A `centre`
    (a reuse search's earlier mixture, in this search's domains) makes round 0 draw around it, unless
    `proposal.reuse_concentration` is 0."""
    if not 0 <= r < len(schedule):
        raise ValueError(f"round {r} is beyond the schedule {schedule}")
    m, rseed = schedule[r], round_seed(seed, r)
    fr = Frame.in_effect(frame)
    bound = generator.upper_bounds(tokens, run_tokens, gen.max_epochs)
    space, x, y, pred = tokens, np.asarray(tried_x), np.asarray(tried_y), predict
    if fr is not None:
        if fr.k < 2:
            raise ValueError(f"the frame leaves {fr.k} coordinate(s) to search: there is nothing to propose")
        space = fr.tokens(tokens)
        if len(y):
            coords, inside = fr.reduce(x)
            x, y = coords[inside], y[inside]
        pred = None if predict is None else (lambda c: predict(fr.expand(c)))
    exclude = {mixture_id(w, gen.grid) for w in x} if len(y) else set()
    if r == 0:
        if centre is None or proposal.reuse_concentration == 0:
            weights, kinds = generator.generate(space, m, run_tokens, gen, rseed, exclude), ["dirichlet"] * m
        else:
            c = np.asarray(centre, dtype=np.float64)[None, :]
            weights = around(
                fr.reduce(c)[0][0] if fr else c[0], space, m, run_tokens, gen, proposal, rseed, exclude
            )
            kinds = ["near_previous"] * len(weights)
        if fr is not None:
            weights, kinds = _expanded(fr, weights, kinds, bound)
        if with_baselines:
            extra = baselines(tokens, bound, gen.grid, frame)
            weights, kinds = np.vstack([weights, *extra.values()]), kinds + list(extra)
        nan = np.full(len(weights), np.nan)
        return Proposal(weights, nan, nan.copy(), kinds)
    if pred is None:
        raise ValueError(f"round {r} proposes from a surrogate: pass the one fitted on rounds 0..{r - 1}")
    p = dataclasses.replace(proposal, kappa=generator.round_kappa(proposal.kappa, r, len(schedule)))
    weights, mean, std, kinds = generator.propose(
        pred, space, m, run_tokens, gen, rseed, p, minimize, exclude, best_measured(x, y, minimize)
    )
    if fr is not None:
        full = fr.expand(weights)
        keep = _kept(full, bound)
        weights, mean, std = full[keep], mean[keep], std[keep]
        kinds = [k for k, ok in zip(kinds, keep) if ok]
    return Proposal(weights, mean, std, kinds)


def around(
    centre: np.ndarray,
    tokens: np.ndarray,
    m: int,
    run_tokens: float,
    gen: generator.GeneratorSettings,
    p: generator.ProposalSettings,
    seed: int,
    exclude: set[str],
) -> np.ndarray:
    """Up to m distinct bounded mixtures drawn from Dirichlet(reuse_concentration x centre), a
    domain the centre leaves out at a small weight (generator.local_steps), none of them in `exclude`."""
    draws = generator.local_steps(centre, tokens, 64 * m, run_tokens, gen, p.reuse_concentration, seed)
    fresh = [i for i, w in enumerate(draws) if mixture_id(w, gen.grid) not in exclude]
    _, first = np.unique(draws[fresh], axis=0, return_index=True)
    return draws[np.array(fresh, dtype=np.int64)[np.sort(first)]][:m]


def _kept(weights: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Rows that still respect the bound once on the full grid, and are not repeats."""
    ok = (weights <= bound[None, :] + 1e-12).all(axis=1)
    _, first = np.unique(weights, axis=0, return_index=True)
    unique = np.zeros(len(weights), dtype=bool)
    unique[first] = True
    return ok & unique


def _expanded(frame: Frame, coords: np.ndarray, kinds: list[str], bound: np.ndarray):
    full = frame.expand(coords)
    keep = _kept(full, bound)
    return full[keep], [k for k, ok in zip(kinds, keep) if ok]
