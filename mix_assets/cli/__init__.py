"""`mix-assets` console commands: instance.py (shards, searches, rounds, run), project_file.py (init,
validate) and fit.py (fit)."""

from __future__ import annotations

import argparse
import json
import sys

from mix_assets.cli import fit
from mix_assets.cli.instance import add_next_round, register_searches, register_shards, run_pipeline
from mix_assets.cli.project_file import init_project, validate_project

__all__ = ["add_next_round", "main", "register_searches", "register_shards"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mix-assets", description="`mix-assets` console commands.")
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
    fit.add_parser(sub)
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
        print(json.dumps(fit.fit_results(args), indent=1))
        return 0
    if args.command == "shards":
        keys = register_shards(args.input)
        if not keys:
            print("no shard files found", file=sys.stderr)
            return 1
        print(json.dumps(keys) if args.json else f"{keys[0]}...{keys[-1]}")
    return 0
