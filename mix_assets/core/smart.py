"""SMART: submodular task mixing for multi-task instruction data (Renduchintala et al., 2024; METHODS §4).

1. tasks as mean prompt embeddings, a cosine kernel between tasks;
2. lazy greedy on Graph Cut (default, lambda 0.4), Facility Location or Log-Determinant, optionally
   only M tasks, recording each pick's marginal gain;
3. budgets N_j from a second-order Taylor softmax of the gains, floored, remainder round-robin,
   capped at task sizes with the overflow handed on;
4. inside each task, greedy Facility Location picks N_j representative examples, chunk by chunk so
   memory stays at chunk^2 however large the task.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np


def lazy_greedy(
    n: int, k: int, initial: np.ndarray, gain: Callable[[int], float], add: Callable[[int], None]
) -> tuple[list[int], list[float]]:
    """Minoux's lazy greedy for a submodular function: stale upper bounds in a heap, re-evaluated on pop."""
    heap = [(-float(g), j) for j, g in enumerate(initial)]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    while heap and len(chosen) < min(k, n):
        _, j = heapq.heappop(heap)
        g = gain(j)
        if not heap or g >= -heap[0][0] - 1e-12:
            chosen.append(j)
            gains.append(g)
            add(j)
        else:
            heapq.heappush(heap, (-g, j))
    return chosen, gains


def facility_location(sim: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """f(S) = sum_i max_{j in S} sim[i, j] (sim >= 0)."""
    best = np.zeros(sim.shape[0])

    def gain(j: int) -> float:
        return float(np.maximum(sim[:, j] - best, 0).sum())

    def add(j: int) -> None:
        np.maximum(best, sim[:, j], out=best)

    return lazy_greedy(sim.shape[1], k, sim.sum(axis=0), gain, add)


def graph_cut(sim: np.ndarray, k: int, lam: float = 0.4) -> tuple[list[int], list[float]]:
    """f(S) = sum_{i in V, j in S} sim[i, j] - lam * sum_{i, j in S} sim[i, j]."""
    col = sim.sum(axis=0)
    inside = np.zeros(sim.shape[1])

    def gain(j: int) -> float:
        return float(col[j] - lam * (2 * inside[j] + sim[j, j]))

    def add(j: int) -> None:
        inside[:] += sim[j]

    return lazy_greedy(sim.shape[1], k, col - lam * np.diag(sim), gain, add)


def log_determinant(sim: np.ndarray, k: int, reg: float = 1.0) -> tuple[list[int], list[float]]:
    """f(S) = log det(sim_S + reg * I)."""
    chosen: list[int] = []
    current = [0.0]

    def value(idx: list[int]) -> float:
        return float(np.linalg.slogdet(sim[np.ix_(idx, idx)] + reg * np.eye(len(idx)))[1]) if idx else 0.0

    def gain(j: int) -> float:
        return value(chosen + [j]) - current[0]

    def add(j: int) -> None:
        chosen.append(j)
        current[0] = value(chosen)

    initial = np.log(np.diag(sim) + reg)
    return lazy_greedy(sim.shape[0], k, initial, gain, add)


# each takes (similarities, k[, lambda]) and returns (order, gains)
FUNCTIONS: dict[str, Callable[..., tuple[list[int], list[float]]]] = {
    "graph_cut": graph_cut,
    "facility_location": facility_location,
    "log_determinant": log_determinant,
}


def task_kernel(task_embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarity between tasks, mapped to [0, 1] so every function sees non-negative similarity."""
    e = task_embeddings / np.maximum(np.linalg.norm(task_embeddings, axis=1, keepdims=True), 1e-12)
    return (1 + e @ e.T) / 2


def budgets(
    gains: list[float] | np.ndarray, sizes: np.ndarray, total: int, normalize: bool = False
) -> np.ndarray:
    """N_j = N (1 + g_j + g_j^2 / 2) / sum_k (1 + g_k + g_k^2 / 2): floor, round-robin remainder, caps.

    On the raw gains, as published. `normalize` divides them by the largest first, which flattens
    the budgets: on the embedded corpus's 104 clusters (graph cut, 1,000 examples) the largest
    budget is 2.8x the smallest normalised and 26x raw. No measurement here shows the flat one
    better, so it is an option, not the default (docs/DECISIONS.md).
    """
    g = np.asarray(gains, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if total > sizes.sum():
        raise ValueError(
            f"budget {total} is larger than all selected tasks together ({int(sizes.sum())} examples)"
        )
    if normalize and g.max(initial=0) > 0:
        g = g / g.max()
    share = 1 + g + g * g / 2
    out = np.zeros(len(g), dtype=np.int64)
    open_ = np.ones(len(g), dtype=bool)
    left = total
    while left > 0:
        w = np.where(open_, share, 0)
        alloc = np.floor(left * w / w.sum()).astype(np.int64)
        alloc = np.minimum(alloc, sizes - out)
        out += alloc
        left -= int(alloc.sum())
        for j in np.flatnonzero(open_):  # the remainder one at a time, in greedy order
            if left == 0:
                break
            if out[j] < sizes[j]:
                out[j] += 1
                left -= 1
        open_ = out < sizes
    return out


def select_examples(embeddings: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """k representative rows by Facility Location, chunk by chunk (budget split by chunk size)."""
    n = len(embeddings)
    if k >= n:
        return np.arange(n)
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    bounds = list(range(0, n, chunk)) + [n]
    sizes = np.diff(bounds)
    per_chunk = budgets(np.zeros(len(sizes)), sizes, k, normalize=False)
    picked: list[int] = []
    for lo, hi, b in zip(bounds[:-1], bounds[1:], per_chunk):
        if b == 0:
            continue
        part = e[lo:hi]
        sim = (1 + part @ part.T) / 2
        idx, _ = facility_location(sim, int(b))
        picked.extend(lo + i for i in idx)
    return np.sort(np.asarray(picked, dtype=np.int64))


def plan(
    means: np.ndarray,
    sizes: np.ndarray,
    total: int,
    function: str = "graph_cut",
    lam: float = 0.4,
    max_tasks: int | None = None,
    normalize: bool = False,
) -> tuple[list[int], list[float], np.ndarray]:
    """Steps 1-3 from each task's mean embedding and size: (tasks in greedy order, their gains,
    their budgets). Needs only per-task figures, so a caller can stream the examples."""
    sim = task_kernel(means)
    fn = FUNCTIONS[function]
    k = len(means) if max_tasks is None else min(max_tasks, len(means))
    order, gains = fn(sim, k, lam) if function == "graph_cut" else fn(sim, k)
    return order, gains, budgets(gains, np.asarray(sizes)[order], total, normalize)


def smart(
    task_ids: np.ndarray,
    embeddings: np.ndarray,
    total: int,
    function: str = "graph_cut",
    lam: float = 0.4,
    max_tasks: int | None = None,
    chunk: int = 2048,
    normalize: bool = False,
) -> dict:
    """The whole of SMART on examples in memory: which tasks, how many examples each, which rows."""
    task_ids = np.asarray(task_ids)
    tasks, inverse = np.unique(task_ids, return_inverse=True)
    means = np.stack([embeddings[inverse == t].mean(axis=0) for t in range(len(tasks))])
    order, gains, alloc = plan(
        means, np.bincount(inverse, minlength=len(tasks)), total, function, lam, max_tasks, normalize
    )
    rows = []
    for t, n_j in zip(order, alloc):
        members = np.flatnonzero(inverse == t)
        if n_j > 0:
            rows.append(members[select_examples(embeddings[members], int(n_j), chunk)])
    return {
        "tasks": [tasks[t] for t in order],
        "gains": gains,
        "budgets": alloc.tolist(),
        "rows": np.sort(np.concatenate(rows)) if rows else np.zeros(0, np.int64),
    }
