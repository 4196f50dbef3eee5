"""Thin Dagster wiring around mix_assets.core, one module per stage group."""

from dagster import load_assets_from_modules

from mix_assets.assets import (
    clusters,
    corpus,
    dataset,
    domain_selection,
    embeddings,
    final,
    mixture,
    proxy_corpus,
    report,
    search,
    selection,
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
        mixture,
        final,
        dataset,
        selection,
        domain_selection,
        report,
    ]
)
