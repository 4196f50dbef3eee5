"""Small PNG charts embedded in asset metadata (markdown), so the UI shows pictures, not numbers."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from dagster import MetadataValue  # noqa: E402


def to_markdown(fig) -> MetadataValue:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return MetadataValue.md(f"![chart](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")


def barh(labels: list[str], values: list[float], title: str, xlabel: str, colors: list[str] | None = None) -> MetadataValue:
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(labels) + 1))
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
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(x, y, s=12, alpha=0.7)
    lo, hi = min(min(x), min(y)), max(max(x), max(y))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)


def grouped_barh(labels: list[str], series: dict[str, list[float]], title: str) -> MetadataValue:
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1))
    h = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.barh(np.arange(len(labels)) + i * h, values, height=h, label=name)
    ax.set_yticks(np.arange(len(labels)) + 0.4 - h / 2, [s[:48] for s in labels], fontsize=7)
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    ax.set_title(title)
    return to_markdown(fig)


def histogram(values, title: str) -> MetadataValue:
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.hist(values, bins=40)
    ax.set_title(title, fontsize=9)
    return to_markdown(fig)
