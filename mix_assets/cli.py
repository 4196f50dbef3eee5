"""`mix-assets` console commands."""

from __future__ import annotations

import argparse
import json
import sys


def register_shards(input_dir: str | None = None) -> list[str]:
    """Add a shard partition for every file in the input folder to the Dagster instance ($DAGSTER_HOME)."""
    from dagster import DagsterInstance

    from mix_assets.partitions import shard_partitions
    from mix_assets.resources import ProjectStorage

    storage = ProjectStorage() if input_dir is None else ProjectStorage(input_dir=input_dir)
    keys = list(storage.shard_files())
    instance = DagsterInstance.get()
    known = set(instance.get_dynamic_partitions(shard_partitions.name))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(shard_partitions.name, new)
    return keys


def register_searches() -> list[str]:
    """Add a search partition for every search of the project file; return their names."""
    from dagster import DagsterInstance

    from mix_assets.resources import Searches
    from mix_assets.sensors import register_search

    instance = DagsterInstance.get()
    names = Searches().names()
    for name in names:
        register_search(instance, name)
    return names


def add_next_round(name: str | None) -> str | None:
    """Register and return the round of search `name` to run next (see sensors.next_round); None when
    its schedule is done. `name` may be left out when the project file has one search."""
    from dagster import DagsterInstance

    from mix_assets.partitions import round_partitions
    from mix_assets.resources import ProjectStorage, Searches
    from mix_assets.sensors import next_round, register_search

    searches = Searches()
    if name is None:
        if len(searches.names()) != 1:
            raise SystemExit(f"the project has searches {searches.names()}: name one with --search")
        name = searches.names()[0]
    instance = DagsterInstance.get()
    register_search(instance, name)
    key = next_round(instance, name, searches.get(name), ProjectStorage())
    if key is not None and key not in instance.get_dynamic_partitions(round_partitions.name):
        instance.add_dynamic_partitions(round_partitions.name, [key])
    return key


def run_pipeline(args) -> int:
    """`make run` in one process: shards to super-clusters, then each search to its final mixture."""
    import time

    from mix_assets import environment, profiles
    from mix_assets.core.storage import as_path, read_json
    from mix_assets.runner import Runner, StageFailed, result_line

    if profiles.profile() == "cluster":
        raise SystemExit(
            "mix-assets run runs every step in this process; under the cluster profile launch runs "
            "from the UI or with `dagster asset materialize`, which start a pod per step"
        )
    keys = register_shards()
    if not keys:
        raise SystemExit(f"no shard files found in {environment.input_dir()}")
    names = register_searches()
    if args.search:
        unknown = sorted(set(args.search) - set(names))
        if unknown:
            raise SystemExit(f"no search {', '.join(unknown)} in the project file; it has {', '.join(names)}")
        names = args.search
    began = time.perf_counter()
    runner = Runner()
    print(f"shards: {keys[0]}...{keys[-1]} ({len(keys)})", flush=True)
    try:
        if args.stages in ("all", "foundation"):
            runner.foundation(keys)
        if args.stages in ("all", "search"):
            runner.proxy_corpus(keys)
            for name in names:
                runner.search(name, add_next_round)
                work = as_path(environment.work_dir())
                print(result_line(read_json(work / "final_mixture" / f"{name}.json")), flush=True)
                print(f"report: {work}/run_report/{name}/index.html", flush=True)
    except StageFailed as e:
        print(e, file=sys.stderr)
        return 1
    total = time.perf_counter() - began
    print(json.dumps({"seconds": round(total, 1), "stages": runner.seconds}, indent=1))
    return 0


def init_project(args) -> int:
    """Write a commented project file for a folder of shards, with the columns it finds there."""
    from pathlib import Path

    from mix_assets.core.ingest import discover_shards, read_columns
    from mix_assets.project_template import template

    out = Path(args.out)
    if out.exists() and not args.force:
        raise SystemExit(f"{out} exists; pass --force to overwrite it")
    shards = discover_shards(args.input)
    if not shards:
        raise SystemExit(f"{args.input}: no parquet or JSONL shards found")
    columns = read_columns(next(iter(shards.values())))
    text = args.text_column or next((c for c in ("text", "content", "body") if c in columns), None)
    if text is None:
        raise SystemExit(f"{args.input}: no text column among {columns}; pass --text-column")
    ident = args.id_column or next((c for c in ("id", "doc_id", "uid") if c in columns), None)
    searches: dict[str, list[str]] = {}
    for spec in args.search or []:
        name, _, files = spec.partition("=")
        searches[name] = [f for f in files.split(",") if f]
    root = out.resolve().parent

    def rel(p: str) -> str:
        path = Path(p).resolve()
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    body = template(
        rel(args.input),
        text,
        ident,
        {n: [rel(f) for f in fs] for n, fs in (searches or {"main": []}).items()},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body)
    print(f"wrote {out}: {len(shards)} shards, text column {text!r}, id column {ident!r}")
    return 0


def validate_project(path: str | None) -> int:
    from mix_assets import environment
    from mix_assets.project import ProjectFileError, load, missing_files

    path = path or str(environment.config_path())
    try:
        project = load(path)
    except ProjectFileError as e:
        print(e, file=sys.stderr)
        return 1
    problems = missing_files(project) + pin_problems(project)
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: valid; searches {', '.join(project.searches)}; input {project.input.path}")
    return 0


def pin_problems(project) -> list[str]:
    """Pins above a domain's repetition bound, once the domains are known: from a search's own
    targets (its proxy tokens), else from the super-clusters of the warehouse."""
    import numpy as np

    from mix_assets.core import generator
    from mix_assets.core.frame import Frame, ImpossiblePins
    from mix_assets.core.storage import as_path, read_json
    from mix_assets.resources import Warehouse

    out = []
    for name, s in project.searches.items():
        if not s.fixed_weights:
            continue
        meta = as_path(project.work) / "search_targets" / name / "meta.json"
        if meta.exists():
            tokens = np.asarray(read_json(meta)["domain_tokens"], dtype=np.float64)
        else:
            warehouse = Warehouse(database=project.warehouse)
            if not warehouse.has_table("super_clusters"):
                continue  # no domains yet: the pins are checked again when the search starts
            tokens = (
                warehouse.query("SELECT n_tokens FROM mix.super_clusters ORDER BY super_cluster")["n_tokens"]
                .to_numpy()
                .astype(np.float64)
            )
        bound = generator.upper_bounds(tokens, float(s.target_tokens or tokens.sum()), s.max_epochs)
        try:
            frame = Frame.build(len(tokens), {int(k): v for k, v in s.fixed_weights.items()})
            out += [f"searches.{name}.fixed_weights: {p}" for p in frame.problems(bound)]
        except ImpossiblePins as e:
            out.append(f"searches.{name}.fixed_weights: {e}")
    return out


def fit_results(args) -> dict:
    """Fit the surrogate on a results table, report held-out quality and propose a mixture."""
    import numpy as np

    from mix_assets.core import generator, predictor, results, surrogate

    train = results.load(args.mixtures, args.results, args.id_column)
    x, y, dropped = results.finite_rows(train, args.metric)
    settings = surrogate.SurrogateSettings(
        args.model,
        args.folds,
        lightgbm=predictor.PredictorSettings.preset(args.preset, seed=args.seed),
        seed=args.seed,
    )
    model = surrogate.fit(x, y, settings)
    cv = surrogate.cv_report(model)
    report = {
        "metric": args.metric,
        "direction": "minimize" if args.minimize else "maximize",
        "model": model.name,
        "preset": args.preset,
        "train_rows": len(y),
        "dropped_non_finite": dropped,
        "domains": train.domains,
        "cv": {"spearman": round(cv["spearman"], 4), "mae": round(cv["mae"], 5), "folds": settings.folds},
        "candidates": [
            {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in model.report
        ],
        "test": {},
    }
    for mix_path, res_path in zip(args.test_mixtures or [], args.test_results or []):
        test = results.load(mix_path, res_path, args.id_column)
        if test.domains != train.domains:
            raise SystemExit(f"{mix_path}: domains differ from the training mixtures")
        tx, ty, _ = results.finite_rows(test, args.metric)
        report["test"][str(res_path)] = {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in predictor.evaluate(model.mean, tx, ty).items()
        }
    # no token counts for results from elsewhere: the mean training mixture is the prior, no epoch bound
    prior_tokens = x.mean(axis=0) + 1e-9
    gen = generator.GeneratorSettings(max_epochs=np.inf)
    best = generator.best_mixture(
        model.mean,
        prior_tokens,
        1.0,
        gen,
        seed=args.seed,
        pool_size=args.pool,
        minimize=args.minimize,
        method=args.final,
        top_k=args.top_k,
    )
    report["proposed_mixture"] = {d: round(float(v), 4) for d, v in zip(train.domains, best) if v > 0}
    report["proposed_predicted"] = round(float(model.mean(best[None, :])[0]), 5)
    report["best_measured"] = round(float(y.min() if args.minimize else y.max()), 5)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mix-assets", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    sh = sub.add_parser(
        "shards", help="register the input folder's shards as partitions; print the partition range"
    )
    sh.add_argument("--input", help="input folder (default: $MIX_ASSETS_INPUT or data/corpus)")
    sh.add_argument("--json", action="store_true", help="print every key as JSON instead of the range")
    rd = sub.add_parser(
        "rounds",
        help="bootstrap rounds: `next` registers and prints the next round (exit 1 when none is due)",
    )
    rd.add_argument("action", choices=["next"])
    rd.add_argument("--search", help="which search (may be left out when the project file has one)")
    sub.add_parser("searches", help="register the project file's searches as partitions; print their names")
    rn = sub.add_parser(
        "run",
        help="the pipeline in one process (what `make run` does): shards to super-clusters, then each "
        "search's rounds, final mixture and report; runs are recorded on the instance as the CLI's are",
    )
    rn.add_argument("--search", action="append", help="only this search (repeat for more)")
    rn.add_argument("--stages", choices=["all", "foundation", "search"], default="all")
    it = sub.add_parser("init", help="write a commented project file for a folder of shards")
    it.add_argument("input", help="the folder of parquet / JSONL shards")
    it.add_argument("--out", default="mix_assets.yaml", help="where to write it (default: ./mix_assets.yaml)")
    it.add_argument(
        "--search",
        action="append",
        metavar="NAME=FILE[,FILE]",
        help="a search and its target files (repeat for more searches)",
    )
    it.add_argument("--text-column", help="default: text, content or body, whichever the shards have")
    it.add_argument("--id-column", help="default: id, doc_id or uid if present, else a hash of the text")
    it.add_argument("--force", action="store_true")
    va = sub.add_parser(
        "validate", help="check a project file (default: $MIX_ASSETS_CONFIG or ./mix_assets.yaml)"
    )
    va.add_argument("file", nargs="?")
    ft = sub.add_parser(
        "fit",
        help="fit the surrogate on results produced elsewhere; JSON report on stdout (no Dagster instance)",
    )
    ft.add_argument("--mixtures", required=True, help="CSV/parquet: id column + one weight column per domain")
    ft.add_argument(
        "--results", help="CSV/parquet: id column + metric columns (omit if --mixtures holds both)"
    )
    ft.add_argument("--metric", required=True)
    ft.add_argument("--test-mixtures", nargs="*", help="held-out mixtures (one or more files)")
    ft.add_argument("--test-results", nargs="*", help="their results, in the same order")
    ft.add_argument(
        "--minimize", action="store_true", help="lower is better (losses); default: higher is better"
    )
    ft.add_argument("--id-column", help="id column joining mixtures and results (default: auto)")
    ft.add_argument(
        "--model",
        default="auto",
        choices=["auto", "lightgbm", "gp", "quadratic", "loglinear", "ensemble"],
        help="surrogate (default: chosen by cross-validation among all, or their CV-weighted average)",
    )
    ft.add_argument(
        "--preset",
        default="regmix",
        choices=["regmix", "climb"],
        help="LightGBM settings (default: RegMix's)",
    )
    ft.add_argument("--final", default="topk_mean", choices=["topk_mean", "argmax"])
    ft.add_argument("--top-k", type=int, default=128)
    ft.add_argument("--pool", type=int, default=100_000)
    ft.add_argument("--folds", type=int, default=5)
    ft.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    if args.command == "init":
        return init_project(args)
    if args.command == "validate":
        return validate_project(args.file)
    if args.command == "run":
        return run_pipeline(args)
    if args.command == "searches":
        print("\n".join(register_searches()))
        return 0
    if args.command == "rounds":
        key = add_next_round(args.search)
        if key is None:
            print("no round due: the schedule is complete", file=sys.stderr)
            return 1
        print(key)
        return 0
    if args.command == "fit":
        print(json.dumps(fit_results(args), indent=1))
        return 0
    if args.command == "shards":
        keys = register_shards(args.input)
        if not keys:
            print("no shard files found", file=sys.stderr)
            return 1
        print(json.dumps(keys) if args.json else f"{keys[0]}...{keys[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
