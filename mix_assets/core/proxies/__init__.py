"""Proxy models: train on a sample drawn with a mixture, score on the target texts.

Every backend maps (training token sequences, target token sequences) -> {metric: value}. The
n-gram and GPT backends, and `import` (results produced elsewhere, by mixture id), run here, one
trial per job (trial.py); `external` (Dagster Pipes) lives in the asset layer, because it calls out
through the step.
"""
