"""Commands on the project file: `init` writes one for a folder of shards, `validate` checks it."""

from __future__ import annotations

import sys


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
