"""Domain-adaptation selection as an asset on a real corpus sample: each method finds the target
domain, and no document is scored by a model it trained."""

import numpy as np
import polars as pl
from dagster import materialize

from mix_assets.assets import all_assets
from mix_assets.assets.domain_selection import METHODS, DomainSelectionConfig, fit_models, score_shard
from mix_assets.core import domain_selection
from mix_assets.core.proxies import bpe
from mix_assets_tests.conftest import ROOT, TRUE_DOMAINS, corpus_sample


def test_domain_selection_finds_the_target_domain(searcher):
    p = searcher()
    materialize(
        all_assets,
        instance=p.instance,
        resources=p.resources,
        selection=["domain_selection"],
        run_config={
            "ops": {
                "domain_selection": {
                    "config": {
                        "in_domain": str(ROOT / "data" / "targets" / "mathematics.parquet"),
                        "fraction": 0.1,
                    }
                }
            }
        },
    )
    table = pl.read_parquet(p.work / "domain_selection" / "all.parquet").join(
        pl.read_parquet(TRUE_DOMAINS), on="doc_id"
    )
    base = (table["domain"] == "mathematics").mean()
    for method in ("classifier", "contrastive", "dsir"):
        chosen = table.filter(pl.col(f"selected_{method}"))
        assert chosen.height == round(0.1 * table.height)
        assert (chosen["domain"] == "mathematics").mean() > 4 * base, method  # base rate ~1/8


def test_no_document_is_scored_by_a_model_it_trained():
    docs = corpus_sample(20, seed=5).with_columns(pl.lit("s").alias("shard"))
    emb = np.random.default_rng(0).normal(size=(docs.height, 16))
    in_domain = corpus_sample(3, seed=6).filter(pl.col("domain") == "mathematics")["text"].to_list()
    in_emb = np.random.default_rng(1).normal(loc=0.5, size=(len(in_domain), 16))
    config = DomainSelectionConfig(generic_sample=10_000)
    tok = bpe.train_bpe(docs["text"].to_list(), 512)
    halves = domain_selection.half(docs["doc_id"].to_list())

    def scores(sample_rows: np.ndarray) -> dict:
        models = fit_models(docs[sample_rows], emb[sample_rows], in_domain, in_emb, config, 0, tok)
        ratio = domain_selection.dsir_log_ratio(
            domain_selection.ngram_counts(docs["text"].to_list()), in_domain
        )
        return score_shard(docs, emb, models, ratio, dict.fromkeys(METHODS, 0.0))

    everything = scores(np.arange(docs.height))
    # leave a third of half 0 out of the generic sample: half 0's models change, half 1's do not
    fewer = scores(np.flatnonzero((halves == 1) | (np.arange(docs.height) % 3 > 0)))
    zero, one = halves == 0, halves == 1
    for method in ("classifier", "contrastive"):
        np.testing.assert_array_equal(everything[method][zero], fewer[method][zero])  # scored by half 1's
        assert not np.allclose(everything[method][one], fewer[method][one])  # scored by half 0's
