"""Proxy models: train on a sample drawn with a mixture, score on the target texts.

Every backend maps (training token sequences, target token sequences) -> {metric: value}. The
n-gram and GPT backends run here; `external` (Dagster Pipes) and `import` live in the asset layer
and in core.results, because they call out or read results rather than train.
"""
