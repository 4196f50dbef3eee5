"""The one place the process environment is read.

Environment variables say where things live, the proxy schedule and the deployment profile;
everything else is config. Each is read when it is asked for, not at import, so a test or a
long-lived code server sees the environment as it is now.
"""

import os
import tempfile
from pathlib import Path

# name -> (default, what it sets); `docs/configuration.md` lists the same
VARIABLES = {
    "MIX_ASSETS_INPUT": ("data/corpus", "input shards: a folder or any fsspec URI"),
    "MIX_ASSETS_WORK": ("data/work", "artifact root: a folder or any fsspec URI"),
    "MIX_ASSETS_WAREHOUSE": ("data/warehouse.duckdb", "the DuckDB file of small tables"),
    "MIX_ASSETS_ROUNDS": ("64,32,16", "proxies per round; its length is the number of rounds"),
    "MIX_ASSETS_TOKEN_BUDGET": ("1000000", "proxy training tokens per trial"),
    "MIX_ASSETS_DRIFT_THRESHOLD": ("1.25", "assignment drift above which the recluster sensor refits"),
    "MIX_ASSETS_PROFILE": ("local", "deployment profile: local or cluster"),
    "MIX_ASSETS_GPUS_PER_STEP": ("1", "cluster: GPUs a GPU step's pod requests"),
    "MIX_ASSETS_K8S_NAMESPACE": ("dagster", "cluster: namespace of the step pods"),
    "MIX_ASSETS_MAX_PODS": ("64", "cluster: step pods at once"),
    "MIX_ASSETS_MAX_GPU_PODS": ("8", "cluster: GPU step pods at once"),
    "MIX_ASSETS_CACHE": ("", "local copies of remote files (default: the system temp folder)"),
}
# what each step pod needs to see the same project the launching process sees
FORWARDED = [
    *(n for n in VARIABLES if n not in ("MIX_ASSETS_CACHE",)),
    "HF_HUB_OFFLINE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
]


def get(name: str) -> str:
    return os.environ.get(name, VARIABLES[name][0])


def input_dir() -> str:
    return get("MIX_ASSETS_INPUT")


def work_dir() -> str:
    return get("MIX_ASSETS_WORK")


def warehouse() -> str:
    return get("MIX_ASSETS_WAREHOUSE")


def rounds() -> list[int]:
    return [int(v) for v in get("MIX_ASSETS_ROUNDS").split(",") if v.strip()]


def token_budget() -> int:
    return int(get("MIX_ASSETS_TOKEN_BUDGET"))


def drift_threshold() -> float:
    return float(get("MIX_ASSETS_DRIFT_THRESHOLD"))


def profile() -> str:
    return get("MIX_ASSETS_PROFILE")


def cluster_limits() -> dict[str, str]:
    return {
        k: get(k)
        for k in (
            "MIX_ASSETS_GPUS_PER_STEP",
            "MIX_ASSETS_K8S_NAMESPACE",
            "MIX_ASSETS_MAX_PODS",
            "MIX_ASSETS_MAX_GPU_PODS",
        )
    }


def cache_dir() -> Path:
    return Path(get("MIX_ASSETS_CACHE") or Path(tempfile.gettempdir()) / "mix_assets-cache")


def forwarded() -> list[str]:
    """The forwarded variables that are set here."""
    return [v for v in FORWARDED if v in os.environ]
