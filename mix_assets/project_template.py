"""The commented project file that `mix-assets init` writes: every key of project.ProjectFile with its
default and what it sets, and what init found in the shard folder."""


def template(input_path: str, text_column: str, id_column: str | None, searches: dict[str, list[str]]) -> str:
    """A commented project file; `mix-assets init` fills in what it found in the shard folder."""
    blocks = []
    for name, files in searches.items():
        weight = round(1 / len(files), 4) if files else 1.0
        targets = (
            "\n".join(f"      {f}: {weight}" for f in files) or "      data/targets/my_target.parquet: 1.0"
        )
        blocks.append(
            f"  {name}:\n"
            f"    targets:              # text the mixture should be good at -> weight in the objective\n"
            f"{targets}\n"
            f"    text_column: text\n"
            f"    direction: minimize   # proxies report losses; maximize for accuracies\n"
            f"    eval_fraction: 0.5    # share of each target held out: judged on, never searched on\n"
            f"    rounds: [64, 32, 16]  # proxy trainings per bootstrap round (CLIMB)\n"
            f"    first_round_per_domain: 5 # round 0 takes at least this many per domain from later rounds\n"
            f"    backend: ngram        # ngram | gpt | external (your trainer, via Dagster Pipes) | import\n"
            f"    ngram: {{order: 3, discount: 0.75}}  # the backend's own block; the others:\n"
            f"      # gpt: {{n_layer: 2, ...}}, external: {{command: [python, train.py]}},\n"
            f"      # imported: {{results: results.csv}}\n"
            f"    token_budget: 1000000 # tokens each proxy trains on\n"
            f"    target_tokens: null   # tokens of the real run (bounds repetition); null: the corpus\n"
            f"    repeat_as_run: true   # proxies repeat each domain as the real run would\n"
            f"    max_epochs: 15        # no domain repeated more often than this in that run\n"
            f"    fixed_weights: {{}}     # super-cluster id -> weight in every mixture, e.g. {{3: 0.1}}\n"
            f"    reuse: null           # an earlier search to build on after the corpus changed; a search\n"
            f"      # with reuse and no rounds / first_round_per_domain of its own runs rounds [10, 10]\n"
        )
    return (
        "# mix_assets project file: `mix-assets validate` checks it; docs/configuration.md explains it.\n"
        "# Relative paths are relative to this file. MIX_ASSETS_INPUT / _WORK / _WAREHOUSE / _PROFILE\n"
        "# override the locations; run config overrides any asset for one run.\n"
        "input:\n"
        f"  path: {input_path}\n"
        f"  text_column: {text_column}\n"
        f"  id_column: {id_column if id_column else 'null'}"
        "      # null: a document's id is a hash of its text\n"
        "work: data/work                  # artifacts (a folder or an fsspec URI)\n"
        "warehouse: data/warehouse.duckdb # the small tables\n"
        "clustering:\n"
        "  n_clusters: null       # k-means K; null: one per docs_per_cluster documents, at most 1000\n"
        "  docs_per_cluster: 64\n"
        "  min_mean_quality: 0.8  # clusters whose mean quality is under this are pruned\n"
        "  merge: ward            # ward | threshold (merge centroids nearer than merge_distance)\n"
        "  merge_distance: 1.5\n"
        "  n_super_clusters: null # set: cut the merge tree into this many domains\n"
        "  drift_threshold: 1.25  # assignment drift above which the recluster sensor refits\n"
        "searches:                # one or more; each has its own rounds, final mixture and report\n"
        + "".join(blocks)
        + "dataset:\n"
        "  token_budget: 2000000  # tokens of the mixed dataset\n"
        "  sampling: uniform      # uniform | clusterclip\n"
        "  data_prefix: data/megatron/super_cluster_{id}_text_document  # Megatron blend paths\n"
        "seed: 42                 # every sample, fit and draw follows it (a search may set its own)\n"
    )
