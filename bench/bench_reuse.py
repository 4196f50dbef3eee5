"""Mixture reuse on the embedded corpus: an update searched again in its changed part only, against
a full search from scratch, natural, uniform and random search at the reuse's budget. Needs `make
run` first (it reads data/work); proxies and judge are bench_search's (search_cuts).

Two updates, each from an earlier corpus that a search (the default, as bench_search runs it) has
already mixed:
- refit: the earlier corpus lacks the documents of two true domains (--held-out, from
  data/eval/true_domains.parquet); both fits are k-means (K = documents / 64, seed 42) then Ward
  cut at 1.5, as the pipeline clusters; the update adds the documents back and refits;
- arrival: the earlier corpus lacks one shard (--arriving); the update assigns its documents to the
  same super-clusters (the demo's), with no refit.
Per update and seed: `reuse` (core.domain_map + core.frame as the pipeline's reuse search: the
earlier trials that translate cleanly as prior evidence, unchanged domains frozen as one block,
rounds of REUSE_ROUNDS with round 0 around the earlier mixture, the verified short list with the
earlier mixture on it), `full` (the default search from scratch on the updated corpus), `random` at
the reuse's trials (search + verification), natural and uniform; each judged on the evaluation part
of the mix objective.
    python bench/bench_reuse.py [--seeds 0 1 ... 9] [--workers 2] [--out bench/results/reuse.csv]
"""

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import bench_search as bs
import numpy as np
import polars as pl
import search_cuts
from search_cuts import JUDGE_TOKENS, MAX_EPOCHS, POOL, WORK, Bench, objective

from mix_assets.core import domain_map, final_choice, generator, kmeans, merge, rounds, surrogate, verify
from mix_assets.core.frame import Frame
from mix_assets.core.storage import load_npy, read_json, read_parquet
from mix_assets.project import REUSE_FIRST_ROUND_PER_DOMAIN, REUSE_ROUNDS

OBJ = search_cuts.OBJECTIVES["mix"]
GEN, TOTAL = generator.GeneratorSettings(max_epochs=MAX_EPOCHS), float(JUDGE_TOKENS)
MAP = domain_map.MapSettings()


class Fit:
    """One fit of the bench corpus: each document's domain, -1 for documents not in the corpus yet.
    Proxies as search_cuts' Bench over these domains; judged on the mix objective."""

    def __init__(self, b: Bench, name: str, domains: np.ndarray, ids: list[str]):
        self.bench, self.name, self.ids = b.over(domains), name, ids
        self.n, self.tokens, self.domains = self.bench.n, self.bench.tokens, self.bench.corpus.domains

    @property
    def used(self) -> int:
        return self.bench.used

    @used.setter
    def used(self, v: int) -> None:
        self.bench.used = v

    def documents(self) -> pl.DataFrame:
        keep = self.domains < self.n
        return pl.DataFrame(
            {
                "doc_id": np.asarray(self.ids)[keep],
                "domain": self.domains[keep],
                "n_tokens": self.bench.corpus.lengths[keep].astype(np.int64),
            }
        )

    def proxy(self, w: np.ndarray, seed: int) -> dict:
        return self.bench.proxy(w, seed)

    def judge(self, w: np.ndarray) -> float:
        return objective(self.bench.judge(w), OBJ)

    def allowed(self) -> dict[str, np.ndarray]:
        """Natural and uniform (off the grid, as judged), where the bound lets the pipeline train them."""
        raw = {"natural": self.tokens / self.tokens.sum(), "uniform": np.full(self.n, 1 / self.n)}
        bound = generator.upper_bounds(self.tokens, TOTAL, MAX_EPOCHS)
        return {k: raw[k] for k in rounds.baselines(self.tokens, bound, GEN.grid)}


def full_search(fit: Fit, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The default search from scratch: (final, trials' mixtures, their objectives, trials used)."""
    fit.used = 0
    model, xs, ys, gen, total = bs.run_rounds(
        fit, OBJ, seed, bs.default_schedule(fit.n), surrogate.SurrogateSettings(seed=seed), "lcb", True
    )
    short = final_choice.short_list(
        model.mean, xs, ys, fit.tokens, total, gen, seed, True, fit.allowed(), bs.FINAL
    )
    return bs.measured_best(fit, OBJ, short, seed).weights, xs, ys, fit.used


def reuse_search(
    old: Fit,
    new: Fit,
    old_final: np.ndarray,
    old_x,
    old_y,
    seed: int,
    reuse_rounds: tuple[int, ...] = REUSE_ROUNDS,
    hedges: tuple[str, ...] = verify.REUSE_HEDGES,
    first_round_per_domain: int = REUSE_FIRST_ROUND_PER_DOMAIN,
    replicates: int = bs.FINAL.reuse_replicates,
    block: bool = True,
    mapping: domain_map.MapSettings = MAP,
    concentration: float = generator.ProposalSettings.reuse_concentration,
) -> tuple[np.ndarray, int, dict]:
    """The pipeline's reuse search (assets/search_frame.py, then rounds and final_mixture)."""
    table = domain_map.overlap(old.documents(), new.documents())
    classes = domain_map.classify(table, new.n)
    previous = domain_map.translate(old_final[None], table, old.tokens, new.n).weights[0]
    frame = Frame.build(new.n, block=domain_map.frozen_block(classes, previous) if block else None)
    t = domain_map.translate(old_x, table, old.tokens, new.n, mapping)
    xs, ys, own = t.weights[t.clean], np.asarray(old_y)[t.clean], np.zeros(int(t.clean.sum()), dtype=bool)
    new.used, model = 0, None
    p = generator.ProposalSettings("lcb", POOL, reuse_concentration=concentration)
    schedule = (
        generator.round_schedule(list(reuse_rounds), frame.k, first_round_per_domain) if frame.k > 1 else []
    )
    for r in range(len(schedule)):
        weights = rounds.propose_round(
            r,
            schedule,
            new.tokens,
            TOTAL,
            GEN,
            seed,
            p,
            True,
            xs,
            ys,
            model and model.predict,
            False,
            frame,
            previous,
        ).weights
        xs = np.vstack([xs, weights])
        ys = np.append(ys, [objective(new.proxy(w, seed), OBJ) for w in weights])
        own = np.append(own, np.ones(len(weights), dtype=bool))
        model = surrogate.fit(xs, ys, surrogate.SurrogateSettings(seed=seed))
    first = {verify.PREVIOUS: previous}
    final = dataclasses.replace(bs.FINAL, replicates=replicates)
    if model is None:
        short = verify.shortlist(first, np.zeros((0, new.n)), np.zeros(0), 0, True, new.allowed())
    else:
        short = final_choice.short_list(
            model.mean, xs, ys, new.tokens, TOTAL, GEN, seed, True, new.allowed(), final, frame, own, first
        )
    chosen = bs.measured_best(new, OBJ, short, seed, final, hedges)
    statuses = dict(zip(*np.unique(classes["status"].to_list(), return_counts=True)))
    info = {
        "domains_old": old.n,
        "domains_new": new.n,
        "statuses": " ".join(f"{k}:{v}" for k, v in statuses.items()),
        "coordinates": frame.k,
        "prior_evidence": int((~own).sum()),
        "reuse_chose": chosen.name,
    }
    return chosen.weights, new.used, info


def random_search(fit: Fit, budget: int, seed: int) -> np.ndarray:
    """bench_search's random at `budget` trials: draws, then the best 4 re-measured 3 times (under 24
    trials: the best single draw)."""
    fit.used = 0
    if budget < 24:
        draws = generator.generate(fit.tokens, budget, TOTAL, GEN, seed + 555)
        return draws[int(np.argmin([objective(fit.proxy(w, seed), OBJ) for w in draws]))]
    draws = generator.generate(fit.tokens, budget - 12, TOTAL, GEN, seed + 555)
    scores = np.array([objective(fit.proxy(w, seed), OBJ) for w in draws])
    cands = [verify.Candidate(f"r{i}", draws[i]) for i in np.argsort(scores)[:4]]
    return bs.measured_best(fit, OBJ, cands, seed, dataclasses.replace(bs.FINAL, choice="best")).weights


def clustered(b: Bench, ids: list[str], keep: np.ndarray, seed: int = 42) -> np.ndarray:
    """The pipeline's clustering of the documents in `keep`: k-means (K = docs / 64), Ward at 1.5."""
    meta = read_json(WORK / "search_targets" / "demo" / "meta.json")
    docs = read_parquet(WORK / "search_targets" / "demo" / "documents.parquet")
    emb = {i: load_npy(WORK / "embeddings" / f"{s}.npy") for i, s in enumerate(meta["shards"])}
    x = np.stack([emb[s][r] for s, r in zip(docs["shard"], docs["row"])]).astype(np.float32)
    k = kmeans.auto_k(int(keep.sum()), None, 64)
    cents, _ = kmeans.fit_centroids(x[keep], k, seed=seed)
    cluster, _ = kmeans.assign(x, cents)
    supers = merge.merge(cents, "ward", 1.5)
    return np.where(keep, supers[cluster], -1)


def task(job: tuple[str, int, argparse.Namespace]) -> list[dict]:
    update, seed, a = job
    began = time.perf_counter()
    b = Bench("demo", 0)
    docs = read_parquet(WORK / "search_targets" / "demo" / "documents.parquet")
    ids = docs["doc_id"].to_list()
    if update == "refit":
        truth = pl.DataFrame({"doc_id": ids}).join(
            pl.read_parquet("data/eval/true_domains.parquet"), on="doc_id", how="left", maintain_order="left"
        )
        keep = ~truth["domain"].is_in(list(a.held_out)).to_numpy()
        old = Fit(b, "old", clustered(b, ids, keep), ids)
        new = Fit(b, "new", clustered(b, ids, np.ones(len(ids), dtype=bool)), ids)
    else:
        meta = read_json(WORK / "search_targets" / "demo" / "meta.json")
        keep = docs["shard"].to_numpy() != meta["shards"].index(a.arriving)
        demo = docs["super_cluster"].to_numpy()
        old, new = Fit(b, "old", np.where(keep, demo, -1), ids), Fit(b, "new", demo, ids)
    old_final, old_x, old_y, old_used = full_search(old, seed)
    chosen = {}
    chosen["reuse"], reuse_used, info = reuse_search(
        old,
        new,
        old_final,
        old_x,
        old_y,
        seed,
        tuple(a.reuse_rounds),
        tuple(a.hedges),
        a.reuse_first_round_per_domain,
        a.reuse_replicates,
        not a.no_block,
        domain_map.MapSettings(clean=a.clean),
        a.reuse_concentration,
    )
    info["reuse_rounds"] = " ".join(map(str, a.reuse_rounds))
    info["reuse_replicates"], info["reuse_first_round_per_domain"] = (
        a.reuse_replicates,
        a.reuse_first_round_per_domain,
    )
    info["reuse_block"], info["clean"] = not a.no_block, a.clean
    info["reuse_concentration"] = a.reuse_concentration
    if a.only_reuse:
        return [
            {
                "update": update,
                "seed": seed,
                "method": "reuse",
                "eval_loss": new.judge(chosen["reuse"]),
                "trials": reuse_used,
                **info,
            }
        ]
    chosen["full"], _, _, full_used = full_search(new, seed)
    chosen["random"] = random_search(new, reuse_used, seed)
    chosen["natural"], chosen["uniform"] = new.tokens / new.tokens.sum(), np.full(new.n, 1 / new.n)
    used = {"reuse": reuse_used, "full": full_used, "random": reuse_used, "natural": 0, "uniform": 0}
    rows = [
        {"update": update, "seed": seed, "method": m, "eval_loss": new.judge(w), "trials": used[m], **info}
        for m, w in chosen.items()
    ]
    print(
        f"{update} seed {seed}: {time.perf_counter() - began:.0f}s; earlier search {old_used} trials; {info}",
        flush=True,
    )
    return rows


def summary(df: pl.DataFrame) -> str:
    out = [
        "| update | method | eval loss | reuse minus it | trials | reuse's share |",
        "|---|---|---|---|---|---|",
    ]
    for update in df["update"].unique(maintain_order=True):
        d = df.filter(pl.col("update") == update)
        reuse = d.filter(pl.col("method") == "reuse").sort("seed")
        for m in ("reuse", "full", "random", "natural", "uniform"):
            o = d.filter(pl.col("method") == m).sort("seed")
            diff = reuse["eval_loss"].to_numpy() - o["eval_loss"].to_numpy()
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            share = reuse["trials"].mean() / o["trials"].mean() if o["trials"].mean() else float("nan")
            err = (o["eval_loss"].std() or 0) / np.sqrt(o.height)
            out.append(
                f"| {update} | {m} | {o['eval_loss'].mean():.3f} ± {err:.3f} "
                f"| {'' if m == 'reuse' else f'{diff.mean():+.3f} ± {se:.3f}'} | {o['trials'].mean():.0f} "
                f"| {'' if m in ('reuse', 'natural', 'uniform') else f'{share:.0%}'} |"
            )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--updates", nargs="+", default=["refit", "arrival"])
    ap.add_argument("--held-out", nargs="+", default=["code", "legal"])
    ap.add_argument("--arriving", default="shard-0007")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reuse-rounds", type=int, nargs="+", default=list(REUSE_ROUNDS))
    ap.add_argument("--reuse-first-round-per-domain", type=int, default=REUSE_FIRST_ROUND_PER_DOMAIN)
    ap.add_argument("--reuse-replicates", type=int, default=bs.FINAL.reuse_replicates)
    ap.add_argument("--no-block", action="store_true", help="search every domain (no frozen block)")
    ap.add_argument("--clean", type=float, default=domain_map.MapSettings.clean, help="MapSettings.clean")
    ap.add_argument(
        "--reuse-concentration",
        type=float,
        default=generator.ProposalSettings.reuse_concentration,
        help="round 0 draws Dirichlet(c x earlier mixture); 0: around the token prior",
    )
    ap.add_argument("--hedges", nargs="+", default=list(verify.REUSE_HEDGES), help="the SE rule's order")
    ap.add_argument("--only-reuse", action="store_true", help="only the reuse search (an ablation)")
    ap.add_argument("--out", default="bench/results/reuse.csv")
    args = ap.parse_args()
    jobs = [(u, s, args) for u in args.updates for s in args.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [r for part in pool.map(task, jobs) for r in part]
    df = pl.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    df.write_csv(args.out)
    if not args.only_reuse:
        print(summary(df))


if __name__ == "__main__":
    main()
