"""Keep the demo targets' text out of the corpus, and every document in one target only.

1. A document of both targets stays in `all_domains` and leaves the single-domain target.
2. A target document whose text recurs in more than --boilerplate corpus documents (licence
   boilerplate, stock chatbot replies) is dropped from its target: it is no held-out text.
3. Every corpus document that shares a --ngram word n-gram with a remaining target document is
   removed from the shards (and from data/eval/true_domains.parquet).

Idempotent: a second run changes nothing. `scripts/build_corpus.py` calls it last.
    python scripts/decontaminate_targets.py [--data data]
"""

import argparse
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mix_assets.core.targets import overlap_counts, shares_ngram  # noqa: E402


def write(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.write_parquet(tmp, compression="zstd", compression_level=19)
    tmp.replace(path)


def decontaminate(data: Path, ngram: int = 13, boilerplate: int = 5, spread: str = "all_domains") -> dict:
    shard_files = sorted((data / "corpus").glob("*.parquet"))
    shards = {f: pl.read_parquet(f) for f in shard_files}
    corpus_texts = [t for df in shards.values() for t in df["text"]]
    targets = {f: pl.read_parquet(f) for f in sorted((data / "targets").glob("*.parquet"))}
    wide = data / "targets" / f"{spread}.parquet"
    report = {}
    for f, df in targets.items():
        before = df.height
        if f != wide:  # 1: one target per document
            df = df.filter(~pl.col("doc_id").is_in(targets[wide]["doc_id"].implode()))
        counts = overlap_counts(corpus_texts, df["text"].to_list(), ngram)
        df = df.filter(pl.Series(counts <= boilerplate))  # 2
        targets[f] = df
        report[f.stem] = {"before": before, "after": df.height}
    kept_target_texts = [t for df in targets.values() for t in df["text"]]
    removed = []
    for f, df in shards.items():  # 3
        hit = shares_ngram(df["text"].to_list(), kept_target_texts, ngram)
        removed += df.filter(pl.Series(hit))["doc_id"].to_list()
        if hit.any():
            write(df.filter(pl.Series(~hit)), f)
    for f, df in targets.items():
        if report[f.stem]["after"] != report[f.stem]["before"]:
            write(df, f)
    labels = data / "eval" / "true_domains.parquet"
    if removed and labels.exists():
        write(pl.read_parquet(labels).filter(~pl.col("doc_id").is_in(removed)), labels)
    report["corpus_documents_removed"] = len(removed)
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data")
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--boilerplate", type=int, default=5)
    args = ap.parse_args()
    print(decontaminate(Path(args.data), args.ngram, args.boilerplate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
