"""A small causal transformer trained from scratch (core/proxies/gpt.py), on CUDA when present.
torch is imported when a trial runs, never when the backend is looked up."""

import numpy as np

from mix_assets.core.proxies.backends.base import Backend
from mix_assets.core.proxies.gpt import GPTSettings


def run(job: dict, s: GPTSettings) -> tuple[dict, dict | None]:
    from mix_assets.core.proxies.corpus import add_objectives
    from mix_assets.core.proxies.gpt import gpt_trial
    from mix_assets.core.proxies.trial import load_corpus

    corpus = load_corpus(**job["corpus"])
    weights = np.asarray(job["weights"])
    train = corpus.sample(weights, job["token_budget"], job["seed"], job["max_epochs"], job["pool_share"])
    metrics = gpt_trial(
        train, corpus.scored_targets(job["evaluate"]), corpus.vocab_size, job["token_budget"], s, job["seed"]
    )
    return add_objectives(metrics, corpus.target_weights), None


BACKEND = Backend(
    "gpt", GPTSettings, "gpt", run, needs_corpus=True, gpu=True, summary="tiny GPT-2, GPU when present"
)
