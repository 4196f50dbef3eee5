"""Small PNG charts embedded in asset metadata (markdown), so the UI shows pictures, not numbers."""

from __future__ import annotations

import base64
import io

from dagster import MetadataValue


def _pyplot():
    # imported on first use: matplotlib costs every process that loads the code location ~0.4 s
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def to_markdown(fig) -> MetadataValue:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    _pyplot().close(fig)
    return MetadataValue.md(f"![chart](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")


def barh(
    labels: list[str], values: list[float], title: str, xlabel: str, colors: list[str] | None = None
) -> MetadataValue:
    fig, ax = _pyplot().subplots(figsize=(7, 0.22 * len(labels) + 1))
    ax.barh(range(len(labels)), values, color=colors)
    ax.set_yticks(range(len(labels)), [s[:48] for s in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return to_markdown(fig)


def md_table(df) -> MetadataValue:
    """A polars frame as a markdown table; floats to 3 decimals."""

    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return MetadataValue.md("\n".join(lines))


def scatter(x, y, title: str, xlabel: str, ylabel: str) -> MetadataValue:
    fig, ax = _pyplot().subplots(figsize=(4.5, 4.5))
    ax.scatter(x, y, s=12, alpha=0.7)
    lo, hi = min(min(x), min(y)), max(max(x), max(y))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)


def grouped_barh(labels: list[str], series: dict[str, list[float]], title: str) -> MetadataValue:
    import numpy as np

    fig, ax = _pyplot().subplots(figsize=(7, 0.45 * len(labels) + 1))
    h = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.barh(np.arange(len(labels)) + i * h, values, height=h, label=name)
    ax.set_yticks(np.arange(len(labels)) + 0.4 - h / 2, [s[:48] for s in labels], fontsize=7)
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    ax.set_title(title)
    return to_markdown(fig)


def histogram(values, title: str) -> MetadataValue:
    fig, ax = _pyplot().subplots(figsize=(5, 2.5))
    ax.hist(values, bins=40)
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)


def cluster_map(xy, sizes, groups, labels: dict[int, str], title: str) -> MetadataValue:
    """Clusters as points in 2-D (PCA of the centroids), area proportional to tokens, coloured by
    super-cluster; group -1 (pruned) in grey."""
    import numpy as np

    fig, ax = _pyplot().subplots(figsize=(6.5, 5))
    sizes = np.asarray(sizes, dtype=float)
    area = 20 + 600 * sizes / max(sizes.max(initial=0), 1)
    cmap = _pyplot().get_cmap("tab20")
    for g in sorted(set(groups)):
        mask = np.asarray(groups) == g
        color = "lightgrey" if g < 0 else cmap(g % 20)
        ax.scatter(
            xy[mask, 0],
            xy[mask, 1],
            s=area[mask],
            color=color,
            alpha=0.7,
            edgecolors="white",
            linewidths=0.5,
            label=labels.get(g, str(g))[:32],
        )
    ax.legend(fontsize=6, loc="best", markerscale=0.4)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)


def heatmap(rows: list[str], columns: list[str], values, title: str) -> MetadataValue:
    import numpy as np

    values = np.asarray(values, dtype=float)
    fig, ax = _pyplot().subplots(figsize=(0.5 * len(columns) + 2.5, 0.35 * len(rows) + 1.5))
    im = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(columns)), columns, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        ax.text(
            j,
            i,
            f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=6,
            color="white" if v < values.max() * 0.6 else "black",
        )
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)


def line(x, series: dict[str, list[float]], title: str, xlabel: str, ylabel: str) -> MetadataValue:
    fig, ax = _pyplot().subplots(figsize=(5, 3))
    for name, y in series.items():
        ax.plot(x, y, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)


def data_uri(chart: MetadataValue) -> str:
    """The PNG inside a chart's markdown, for pages outside Dagster (the run report)."""
    return chart.value.split("](", 1)[1].rstrip(")")
