"""Thin Dagster wiring around mix_assets.core, one module per stage group."""

from dagster import load_assets_from_modules

from mix_assets.assets import (
    clusters,
    corpus,
    dataset,
    domain_selection,
    embeddings,
    final,
    predictor,
    proxy_corpus,
    proxy_scores,
    report,
    search,
    smart,
    super_clusters,
    targets,
    unique_ids,
)

all_assets = load_assets_from_modules(
    [
        corpus,
        unique_ids,
        embeddings,
        clusters,
        super_clusters,
        proxy_corpus,
        search,
        targets,
        proxy_scores,
        predictor,
        final,
        dataset,
        smart,
        domain_selection,
        report,
    ]
)
