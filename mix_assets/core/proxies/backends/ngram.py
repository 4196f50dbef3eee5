"""The default proxy: an interpolated Kneser-Ney n-gram model on the mixture's sample (METHODS §7),
seconds per trial on a CPU, with per-document losses for the final choice's standard error."""

from dataclasses import dataclass

import numpy as np

from mix_assets.core.proxies.backends.base import Backend


@dataclass(frozen=True)
class NgramSettings:
    order: int = 3
    discount: float = 0.75


def run(job: dict, s: NgramSettings) -> tuple[dict, dict | None]:
    from mix_assets.core.proxies.corpus import ngram_trial_documents
    from mix_assets.core.proxies.trial import load_corpus

    return ngram_trial_documents(
        load_corpus(**job["corpus"]),
        np.asarray(job["weights"]),
        job["token_budget"],
        job["seed"],
        job["max_epochs"],
        s.order,
        s.discount,
        job["evaluate"],
        job["pool_share"],
    )


BACKEND = Backend(
    "ngram", NgramSettings, "ngram", run, needs_corpus=True, summary="Kneser-Ney n-gram, CPU, seconds"
)
