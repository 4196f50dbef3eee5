"""A mixture: weights over a search's domains (its super-clusters), with a stable id, in one shape.

Every table of mixtures in the project (the rounds' candidates and scores, the final short list,
the final mixture with its baselines, the olmix export) has the same columns: `mixture_id`, then
one weight column per domain, `w<domain id>`, beside whatever else the table says about a row.
`Domains` is the one place that knows how many domains a search has, their labels and their column
names; `GRID` is the one place that says how fine the weights are. `core/generator.py` generates and
proposes mixtures in this shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

GRID = 2e-4  # every weight is a multiple of this; an id hashes the weights in grid units
SUM_TOLERANCE = 1e-6


def to_grid(w: np.ndarray, grid: float = GRID) -> np.ndarray:
    """Round rows to the grid so that each still sums to exactly 1 (in grid units)."""
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    units = int(round(1 / grid))
    q = np.floor(w * units + 0.5).astype(np.int64)
    diff = units - q.sum(axis=1)
    q[np.arange(len(q)), np.argmax(w, axis=1)] += diff  # the largest weight absorbs the rounding
    return q / units


def mixture_id(weights: np.ndarray, grid: float = GRID) -> str:
    """Stable 12-hex id of a mixture: a hash of its weights in grid units."""
    units = np.floor(np.asarray(weights, dtype=np.float64) * round(1 / grid) + 0.5).astype(np.int64)
    return hashlib.sha1(units.tobytes()).hexdigest()[:12]


def weight_columns(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


def is_weight_column(name: str) -> bool:
    return name[:1] == "w" and name[1:].isdigit()


@dataclass(frozen=True)
class Domains:
    """The domains a search mixes: super-clusters 0..n-1, their labels and (proxy) token counts."""

    labels: tuple[str, ...]
    tokens: tuple[float, ...]

    def __post_init__(self):
        if len(self.labels) != len(self.tokens) or not self.labels:
            raise ValueError(f"{len(self.labels)} labels for {len(self.tokens)} token counts")

    @classmethod
    def of(cls, labels, tokens) -> Domains:
        return cls(tuple(str(x) for x in labels), tuple(float(t) for t in tokens))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def columns(self) -> list[str]:
        """The weight columns of every mixture table, in domain order."""
        return weight_columns(len(self))

    @property
    def names(self) -> list[str]:
        """Names trainers see in exports (Hugging Face datasets, olmix ratios)."""
        return [f"super_cluster_{i}" for i in range(len(self))]

    @property
    def display(self) -> list[str]:
        return [f"{i}: {lab}" for i, lab in enumerate(self.labels)]

    @property
    def token_counts(self) -> np.ndarray:
        return np.asarray(self.tokens, dtype=np.float64)

    def natural(self) -> Mixture:
        t = self.token_counts
        return self.mixture(to_grid(t / t.sum())[0])

    def uniform(self) -> Mixture:
        return self.mixture(to_grid(np.full(len(self), 1 / len(self)))[0])

    def mixture(self, weights) -> Mixture:
        return Mixture(self, np.asarray(weights, dtype=np.float64))

    def weights(self, table: pl.DataFrame, source: str = "table") -> np.ndarray:
        """rows x domains from a mixture table; names what is missing."""
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise ValueError(
                f"{source}: no weight columns {missing[:3]}{'...' if len(missing) > 3 else ''} for "
                f"{len(self)} domains (columns: {', '.join(table.columns[:12])})"
            )
        return table.select(self.columns).to_numpy().astype(np.float64).reshape(table.height, len(self))

    def mixtures(self, table: pl.DataFrame, source: str = "table") -> list[Mixture]:
        return [self.mixture(w) for w in self.weights(table, source)]

    def table(self, weights: np.ndarray, **columns) -> pl.DataFrame:
        """A mixture table: `columns` (scalars or one value per row), mixture_id, then the weights."""
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64)).reshape(-1, len(self))
        head = pl.DataFrame(
            {
                k: v if isinstance(v, list | tuple | np.ndarray | pl.Series) else [v] * len(w)
                for k, v in columns.items()
            }
        )
        ids = pl.DataFrame({"mixture_id": [mixture_id(x) for x in w]}, schema={"mixture_id": pl.Utf8})
        return pl.concat([head, ids, pl.DataFrame(w, schema=self.columns)], how="horizontal")


@dataclass(frozen=True, eq=False)
class Mixture:
    domains: Domains
    weights: np.ndarray

    def __post_init__(self):
        w = self.weights
        if w.shape != (len(self.domains),):
            raise ValueError(
                f"a mixture over {len(self.domains)} domains needs as many weights, got {w.shape}"
            )
        if not np.isfinite(w).all() or (w < 0).any() or abs(w.sum() - 1) > SUM_TOLERANCE:
            raise ValueError(
                f"mixture weights must be non-negative and sum to 1, got {np.round(w, 6).tolist()}"
            )

    @property
    def id(self) -> str:
        return mixture_id(self.weights)

    def by_name(self, names: list[str] | None = None) -> dict[str, float]:
        """name -> weight (default names: super_cluster_<i>), zero weights included."""
        return dict(zip(names or self.domains.names, (float(w) for w in self.weights)))

    def table(self, **columns) -> pl.DataFrame:
        return self.domains.table(self.weights[None, :], **columns)
