"""The part of the simplex a search explores: pinned weights (olmix's `fixed_weight`) and a frozen
block (mixture reuse: domains that kept their earlier relative weights, searched as one share).

A search mixes n domains; its frame maps k free coordinates (a mixture of its own, summing to 1)
onto them: full = offset + scale x (reduced @ basis), where offset holds the pins and scale is what
they leave. Row j of `basis` spreads coordinate j over the domains: one domain, or the block's
frozen ratios. The generator, the proposals and the surrogate's optimum work on the k coordinates
(`tokens` turns the repetition bound into theirs) and `expand` maps their picks back, so every
mixture a framed search trains or chooses honours the pins and the block."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mix_assets.core.domains import GRID


class ImpossiblePins(ValueError):
    """Pinned weights no mixture can respect."""


@dataclass(frozen=True)
class Frame:
    basis: np.ndarray  # k x n, rows sum to 1
    offset: np.ndarray  # n: the pinned weights, 0 elsewhere
    labels: tuple[str, ...]  # each coordinate: "block" or the domain's id
    pinned: tuple[int, ...] = ()
    grid: float = field(default=GRID)

    @classmethod
    def build(
        cls,
        n: int,
        pins: dict[int, float] | None = None,
        block: dict[int, float] | None = None,
        grid: float = GRID,
    ) -> Frame:
        """`pins`: domain -> fixed weight; `block`: domain -> relative weight inside the frozen block."""
        pins, block = dict(pins or {}), {d: v for d, v in (block or {}).items() if d not in (pins or {})}
        bad = [d for d in [*pins, *block] if not 0 <= d < n]
        if bad:
            raise ImpossiblePins(f"domain {bad[0]} does not exist: the search has domains 0..{n - 1}")
        offset = np.zeros(n)
        for d, v in pins.items():
            offset[d] = np.floor(v / grid + 0.5) * grid
        rows, labels = [], []
        if block and sum(block.values()) > 0:
            row = np.zeros(n)
            for d, v in block.items():
                row[d] = v
            rows.append(row / row.sum())
            labels.append("block")
        for d in range(n):
            if d not in pins and d not in block:
                rows.append(np.eye(n)[d])
                labels.append(str(d))
        basis = np.array(rows).reshape(len(rows), n)
        return cls(basis, offset, tuple(labels), tuple(sorted(pins)), grid)

    @classmethod
    def identity(cls, n: int) -> Frame:
        return cls.build(n)

    @property
    def n(self) -> int:
        return len(self.offset)

    @property
    def k(self) -> int:
        return len(self.basis)

    @property
    def scale(self) -> float:
        return float(1 - self.offset.sum())

    @property
    def is_identity(self) -> bool:
        return self.k == self.n and not self.pinned and np.array_equal(self.basis, np.eye(self.n))

    @staticmethod
    def in_effect(frame: Frame | None) -> Frame | None:
        """`frame` where it changes what a search may propose; None for no frame or the identity."""
        return None if frame is None or frame.is_identity else frame

    def problems(self, bound: np.ndarray | None = None) -> list[str]:
        """Why no mixture can respect the pins (empty when one can): each naming the domain."""
        out = [
            f"domain {d}: pinned weight {self.offset[d]:g} is negative"
            for d in self.pinned
            if self.offset[d] < 0
        ]
        if self.offset.sum() > 1 + 1e-9:
            out.append(f"pinned weights sum to {self.offset.sum():g}, over 1 (domains {list(self.pinned)})")
        elif self.pinned and self.k == 0 and abs(self.scale) > 1e-9:
            out.append(f"every domain is pinned but the pins sum to {self.offset.sum():g}, not 1")
        if bound is not None:
            bound = np.asarray(bound, dtype=np.float64)
            out += [
                f"domain {d}: pinned weight {self.offset[d]:g} is above its repetition bound {bound[d]:.4f}"
                for d in self.pinned
                if self.offset[d] > bound[d] + 1e-12
            ]
            if self.k and not out and self.reach(bound) < self.scale - 1e-9:
                out.append(
                    f"the domains left free can hold at most {self.reach(bound):.4f} under the repetition "
                    f"bound, less than the {self.scale:.4f} the pins leave"
                )
        return out

    def reach(self, bound: np.ndarray) -> float:
        """The most weight the free coordinates can take under the per-domain bound."""
        per_coord = [np.min(bound[row > 0] / row[row > 0]) for row in self.basis]
        return float(min(sum(per_coord), self.scale)) if per_coord else 0.0

    def tokens(self, tokens: np.ndarray) -> np.ndarray:
        """Token counts of the k coordinates, such that the generator's bound on a coordinate is the
        tightest of its domains' bounds at this scale (a bound is linear in tokens)."""
        t = np.asarray(tokens, dtype=np.float64)
        scale = max(self.scale, 1e-12)
        return np.array([np.min(t[row > 0] / row[row > 0]) / scale for row in self.basis])

    def expand(self, reduced: np.ndarray) -> np.ndarray:
        """Coordinates (rows x k) to mixtures (rows x n) on the grid, the pins exact."""
        r = np.atleast_2d(np.asarray(reduced, dtype=np.float64))
        full = self.offset[None, :] + self.scale * (r @ self.basis)
        units = int(round(1 / self.grid))
        q = np.floor(full * units + 0.5).astype(np.int64)
        free = np.ones(self.n, dtype=bool)
        free[list(self.pinned)] = False
        if free.any():
            diff = units - q.sum(axis=1)
            cols = np.flatnonzero(free)[np.argmax(full[:, free], axis=1)]
            q[np.arange(len(q)), cols] += diff
        return q / units

    def reduce(self, full: np.ndarray, tol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(coordinates, inside): each mixture's coordinates, and whether it lies in the frame (its
        pins and block ratios respected to within a few grid steps)."""
        w = np.atleast_2d(np.asarray(full, dtype=np.float64))
        tol = 3 * self.grid if tol is None else tol
        scale = max(self.scale, 1e-12)
        if self.k:
            reduced = np.stack([w[:, row > 0].sum(axis=1) / scale for row in self.basis], axis=1)
        else:
            reduced = np.zeros((len(w), 0))
        back = self.offset[None, :] + self.scale * (reduced @ self.basis)
        inside = np.abs(back - w).max(axis=1) <= tol if len(w) else np.zeros(0, dtype=bool)
        return reduced, inside

    def project(self, full: np.ndarray) -> np.ndarray:
        """A mixture with the pins imposed: pinned domains set, the rest rescaled to what is left
        (how natural and uniform are trained in a pinned search). The block is not imposed."""
        w = np.atleast_2d(np.asarray(full, dtype=np.float64)).copy()
        if not self.pinned:
            return w
        free = np.ones(self.n, dtype=bool)
        free[list(self.pinned)] = False
        rest = w[:, free].sum(axis=1, keepdims=True)
        w[:, free] = self.scale * w[:, free] / np.maximum(rest, 1e-300)
        w[:, ~free] = self.offset[~free]
        units = int(round(1 / self.grid))
        q = np.floor(w * units + 0.5).astype(np.int64)
        cols = np.flatnonzero(free)[np.argmax(w[:, free], axis=1)]
        q[np.arange(len(q)), cols] += units - q.sum(axis=1)
        return q / units

    def to_json(self) -> dict:
        return {
            "basis": self.basis.tolist(),
            "offset": self.offset.tolist(),
            "labels": list(self.labels),
            "pinned": list(self.pinned),
        }

    @classmethod
    def from_json(cls, d: dict | None, n: int) -> Frame:
        if not d:
            return cls.identity(n)
        basis = np.asarray(d["basis"], dtype=np.float64).reshape(len(d["basis"]), n)
        return cls(basis, np.asarray(d["offset"], dtype=np.float64), tuple(d["labels"]), tuple(d["pinned"]))
