"""Per search: its target texts, split into a search part and an evaluation part, in proxy tokens."""

import json
import time

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from tokenizers import Tokenizer

from mix_assets.assets.shared import materialized
from mix_assets.core import targets
from mix_assets.core.ingest import ingest_shard
from mix_assets.core.proxies import bpe
from mix_assets.core.storage import atomic_path, write_npy
from mix_assets.partitions import search_partitions
from mix_assets.resources import ProjectStorage, Searches


@asset(
    group_name="search",
    partitions_def=search_partitions,
    deps=["proxy_corpus"],
    code_version="1",
    description="One search's target files, each split by document into a search part (what its proxies "
    "score) and an evaluation part (what every reported comparison uses), tokenized with the proxies' BPE.",
)
def search_targets(
    context: AssetExecutionContext, storage: ProjectStorage, searches: Searches
) -> MaterializeResult:
    began = time.perf_counter()
    name = context.partition_key
    search = searches.get(name)
    tokenizer_path = storage.folder("proxy_corpus") / "tokenizer.json"
    if not tokenizer_path.exists():
        raise FileNotFoundError(f"{tokenizer_path}: no proxy tokenizer; materialize proxy_corpus first")
    tok = Tokenizer.from_str(tokenizer_path.read_text())  # a URI too, not only a local file
    folder = storage.folder("search_targets") / name
    weights, split_sizes = {}, {}
    for (path, weight), target in zip(search.targets.items(), search.target_names()):
        result = ingest_shard(path, search.target_text_column, id_column=None)
        if result.documents.height < 2:
            raise ValueError(
                f"{path}: target has {result.documents.height} usable documents "
                f"({result.quarantine.height} rows refused); it needs at least 2 in a "
                f"'{search.target_text_column}' column, to hold some out for evaluation"
            )
        texts = result.documents["text"].to_list()
        search_rows, eval_rows = targets.split(texts, search.eval_fraction, search.seed)
        for part, rows in (("target", search_rows), ("eval", eval_rows)):
            flat, offsets = bpe.encode(tok, [texts[i] for i in rows])
            write_npy(flat, folder / f"{part}-{target}.npy")
            write_npy(offsets, folder / f"{part}-{target}.offsets.npy")
        weights[target] = weight
        split_sizes[target] = {"search_docs": len(search_rows), "eval_docs": len(eval_rows)}
    with atomic_path(folder / "meta.json") as tmp:  # written last: its presence means complete
        tmp.write_text(json.dumps({"target_weights": weights, "target_split": split_sizes}))
    context.log.info(f"search {name}: targets {split_sizes}")
    return materialized(
        began,
        {
            "targets": MetadataValue.json(weights),
            "target_split": MetadataValue.json(split_sizes),
        },
    )
