"""A proxy trainer that the `external` backend runs through Dagster Pipes, as a user's GPU job would be.

It reads the mixture from the Pipes extras, trains the n-gram proxy on the shared proxy corpus and
reports the metrics back, with each target's per-document losses. FAIL_ONCE_ID / FAIL_ONCE_MARKER
make one mixture fail on its first try, FAIL_ALWAYS_ID one fail every time.
"""

import os
import sys

import numpy as np
from dagster_pipes import open_dagster_pipes

from mix_assets.core.proxies.corpus import ProxyCorpus, ngram_trial_documents

with open_dagster_pipes() as pipes:
    extras = pipes.extras
    marker = os.environ.get("FAIL_ONCE_MARKER")
    if marker and extras["mixture_id"] == os.environ.get("FAIL_ONCE_ID") and not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(3)
    if extras["mixture_id"] == os.environ.get("FAIL_ALWAYS_ID"):
        sys.exit(4)
    corpus = ProxyCorpus.load(extras["proxy_corpus"], extras["search_targets"])
    metrics, documents = ngram_trial_documents(
        corpus,
        np.array(extras["weights"]),
        extras["token_budget"],
        extras["seed"],
        extras["max_epochs"],
        evaluate=extras.get("evaluate", False),
        pool_share=extras["pool_share"],
    )
    pipes.log.info(f"trained proxy for {extras['mixture_id']}: {metrics}")
    pipes.report_custom_message({"metrics": metrics, "documents": documents})
