"""Rule-based document quality signals (Gopher / C4 style) and a hook for a learned classifier.

CLIMB prunes clusters with fastText quality classifiers; with none at hand the usual stand-in is
the Gopher rule set (Rae et al., 2021): each rule a document passes adds to its score.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class QualityRules:
    """Gopher's published thresholds; a document's score is the share of rules it passes."""

    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_len: float = 3.0
    max_mean_word_len: float = 10.0
    max_symbol_ratio: float = 0.1
    max_bullet_lines: float = 0.9
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2
    max_duplicate_lines: float = 0.3
    max_top_bigram: float = 0.2
    max_digit_ratio: float = 0.25


SIGNAL_COLUMNS = (
    "n_words",
    "mean_word_len",
    "symbol_ratio",
    "bullet_lines",
    "ellipsis_lines",
    "alpha_words",
    "stop_words",
    "duplicate_lines",
    "top_bigram",
    "digit_ratio",
)


def signals(text: str) -> tuple[float, ...]:
    words = _WORD.findall(text)
    n = max(len(words), 1)
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    nl = max(len(lines), 1)
    lower = [w.lower().strip(".,;:!?\"'()[]") for w in words]
    bigrams = Counter(zip(lower, lower[1:]))
    top = bigrams.most_common(1)
    top_chars = (len(top[0][0][0]) + len(top[0][0][1])) * top[0][1] if top else 0
    return (
        float(len(words)),
        sum(len(w) for w in words) / n,
        (text.count("#") + text.count("...") + text.count("\u2026")) / n,
        sum(ln.startswith(("-", "*", "\u2022")) for ln in lines) / nl,
        sum(ln.endswith(("...", "\u2026")) for ln in lines) / nl,
        sum(any(c.isalpha() for c in w) for w in words) / n,
        float(len(STOP_WORDS.intersection(lower))),
        1.0 - len(set(lines)) / nl,
        top_chars / max(sum(len(w) for w in lower), 1),
        sum(c.isdigit() for c in text) / max(len(text), 1),
    )


def _char_class(test) -> str:
    """A regex class (Rust syntax) of every code point for which Python's `test` holds, so the
    vectorised signals agree with `signals` character for character."""
    ranges, start = [], None
    for i in range(0x110000 + 1):
        ok = i < 0x110000 and test(chr(i))
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            ranges.append(f"\\x{{{start:x}}}-\\x{{{i - 1:x}}}" if i - 1 > start else f"\\x{{{start:x}}}")
            start = None
    return "[" + "".join(ranges) + "]"


@cache
def _classes() -> tuple[str, str, str, str]:
    space = "".join(chr(i) for i in range(0x3001) if chr(i).isspace())
    return space, _char_class(str.isspace), _char_class(str.isalpha), _char_class(str.isdigit)


def signals_frame(texts: list[str] | pl.Series) -> pl.DataFrame:
    """`signals` for a whole batch at once, as polars string expressions that run on every core; the
    same values as the per-document rules, which a test checks on every corpus document."""
    space, is_space, is_alpha, is_digit = _classes()
    strip = ".,;:!?\"'()[]"
    text = pl.col("text")
    words = text.str.extract_all(f"[^{is_space[1:-1]}]+").fill_null([])
    lines = (
        text.str.split("\n")
        .list.eval(pl.element().str.strip_chars(space))
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    n, nl = pl.col("n").clip(lower_bound=1), pl.col("nl").clip(lower_bound=1)
    frame = pl.DataFrame({"text": pl.Series(texts, dtype=pl.Utf8)}).with_row_index("doc")
    base = frame.with_columns(
        words.alias("words"),
        lines.alias("lines"),
        words.list.eval(pl.element().str.to_lowercase().str.strip_chars(strip)).alias("lower"),
    ).with_columns(pl.col("words").list.len().alias("n"), pl.col("lines").list.len().alias("nl"))
    pairs = (
        base.select("doc", "lower")
        .explode("lower")
        .filter(pl.col("lower").is_not_null())
        .with_columns(pl.col("lower").shift(-1).alias("next"), pl.int_range(pl.len()).alias("at"))
        .filter(pl.col("doc").shift(-1) == pl.col("doc"))
        .group_by("doc", "lower", "next")
        .agg(pl.len().alias("count"), pl.col("at").min())
        # Counter.most_common: the highest count, and among ties the bigram seen first
        .filter(pl.col("count") == pl.col("count").max().over("doc"))
        .filter(pl.col("at") == pl.col("at").min().over("doc"))
        .select(
            "doc",
            ((pl.col("lower").str.len_chars() + pl.col("next").str.len_chars()) * pl.col("count")).alias(
                "top"
            ),
        )
    )

    def share(expr) -> pl.Expr:
        return expr.list.sum().cast(pl.Float64)

    return (
        base.join(pairs, on="doc", how="left")
        .sort("doc")
        .select(
            pl.col("n").cast(pl.Float64).alias("n_words"),
            (share(pl.col("words").list.eval(pl.element().str.len_chars())) / n).alias("mean_word_len"),
            (
                (
                    text.str.count_matches("#", literal=True)
                    + text.str.count_matches("...", literal=True)
                    + text.str.count_matches("\u2026", literal=True)
                ).cast(pl.Float64)
                / n
            ).alias("symbol_ratio"),
            (share(pl.col("lines").list.eval(pl.element().str.contains(r"^[-*\u2022]"))) / nl).alias(
                "bullet_lines"
            ),
            (share(pl.col("lines").list.eval(pl.element().str.contains(r"(\.\.\.|\u2026)$"))) / nl).alias(
                "ellipsis_lines"
            ),
            (share(pl.col("words").list.eval(pl.element().str.contains(is_alpha))) / n).alias("alpha_words"),
            pl.col("lower")
            .list.eval(pl.element().filter(pl.element().is_in(sorted(STOP_WORDS))))
            .list.n_unique()
            .cast(pl.Float64)
            .alias("stop_words"),
            (1.0 - pl.col("lines").list.n_unique() / nl).alias("duplicate_lines"),
            (
                pl.col("top").fill_null(0).cast(pl.Float64)
                / share(pl.col("lower").list.eval(pl.element().str.len_chars())).clip(lower_bound=1)
            ).alias("top_bigram"),
            (
                text.str.count_matches(is_digit).cast(pl.Float64) / text.str.len_chars().clip(lower_bound=1)
            ).alias("digit_ratio"),
        )
    )


def rule_score(s: pl.DataFrame, rules: QualityRules) -> np.ndarray:
    r = rules
    passed = [
        (s["n_words"] >= r.min_words) & (s["n_words"] <= r.max_words),
        (s["mean_word_len"] >= r.min_mean_word_len) & (s["mean_word_len"] <= r.max_mean_word_len),
        s["symbol_ratio"] <= r.max_symbol_ratio,
        s["bullet_lines"] <= r.max_bullet_lines,
        s["ellipsis_lines"] <= r.max_ellipsis_lines,
        s["alpha_words"] >= r.min_alpha_words,
        s["stop_words"] >= r.min_stop_words,
        s["duplicate_lines"] <= r.max_duplicate_lines,
        s["top_bigram"] <= r.max_top_bigram,
        s["digit_ratio"] <= r.max_digit_ratio,
    ]
    return np.mean([p.to_numpy() for p in passed], axis=0)


def load_classifier(path: str | Path):
    """A scikit-learn pipeline (joblib file, texts in, predict_proba out) or a fastText .bin model."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: quality classifier file does not exist")
    if path.suffix == ".bin":
        try:
            import fasttext  # optional: only for users who bring a fastText model
        except ImportError as e:
            raise ImportError(f"{path}: a fastText model needs `pip install fasttext`") from e
        return fasttext.load_model(str(path))
    import joblib

    return joblib.load(path)


def classifier_score(model, texts: list[str], positive_label: str = "__label__hq") -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(texts))[:, -1]
    labels, probs = model.predict([t.replace("\n", " ") for t in texts], k=-1)
    return np.array([dict(zip(ls, ps)).get(positive_label, 0.0) for ls, ps in zip(labels, probs)])


def score_documents(
    texts: list[str], rules: QualityRules = QualityRules(), classifier=None, classifier_weight: float = 0.5
) -> pl.DataFrame:
    """One row per text: every signal, the rule score and the combined `quality` in [0, 1]."""
    s = signals_frame(texts)
    rs = rule_score(s, rules) if len(texts) else np.zeros(0)
    quality = rs
    if classifier is not None and len(texts):
        quality = (1 - classifier_weight) * rs + classifier_weight * classifier_score(classifier, texts)
    return s.with_columns(pl.Series("rule_score", rs), pl.Series("quality", quality))


def rule_fields() -> list[str]:
    return [f.name for f in fields(QualityRules)]
