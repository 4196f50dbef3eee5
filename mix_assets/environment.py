"""The one place the process environment and the project file are read.

The project file (`mix_assets.yaml`, or the file MIX_ASSETS_CONFIG names) describes the project;
environment variables override only where things live and the deployment profile. Both are read
when asked for, not at import, so a test or a long-lived code server sees them as they are now.
"""

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from mix_assets import project as project_file

# name -> (default, what it sets); `docs/configuration.md` lists the same
VARIABLES = {
    "MIX_ASSETS_CONFIG": ("mix_assets.yaml", "the project file"),
    "MIX_ASSETS_INPUT": ("", "input shards (default: the project file's input.path)"),
    "MIX_ASSETS_WORK": ("", "artifact root (default: the project file's work)"),
    "MIX_ASSETS_WAREHOUSE": ("", "the DuckDB file of small tables (default: the project file's warehouse)"),
    "MIX_ASSETS_PROFILE": ("local", "deployment profile: local, ray or cluster"),
    "MIX_ASSETS_WORKERS": ("", "local worker processes for shards and trials (default: the machine's cores)"),
    "MIX_ASSETS_RAY_ADDRESS": ("", "ray: the head (host:6379, ray://host:10001) or `local` to start one"),
    "MIX_ASSETS_RAY_GPUS": ("0", "ray: GPUs each gpt trial and each embedding actor asks for (0: CPUs only)"),
    "MIX_ASSETS_RAY_EMBED_ACTORS": ("", "ray: embedding actors (default: one per GPU, else one per node)"),
    "MIX_ASSETS_RAY_RUNTIME_ENV": ("", "ray: runtime_env as JSON (working_dir, pip, ...) for the workers"),
    "MIX_ASSETS_GPUS_PER_STEP": ("1", "cluster: GPUs a GPU step's pod requests"),
    "MIX_ASSETS_K8S_NAMESPACE": ("dagster", "cluster: namespace of the step pods"),
    "MIX_ASSETS_MAX_PODS": ("64", "cluster: step pods at once"),
    "MIX_ASSETS_MAX_GPU_PODS": ("8", "cluster: GPU step pods at once"),
    "MIX_ASSETS_CACHE": ("", "local copies of remote files (default: the system temp folder)"),
    "MIX_ASSETS_PAUSE_AT": ("", "crash tests: a named point where the step sleeps, to be killed there"),
    "MIX_ASSETS_FAIL_ONCE": ("", "retry tests: <point>:<marker file>, the step raises there once"),
    "MIX_ASSETS_KILL_ONCE": ("", "fault tests: <function>:<marker file>, a worker running it is killed once"),
}
# what each step pod needs to see the same project the launching process sees
FORWARDED = [
    *(n for n in VARIABLES if n not in ("MIX_ASSETS_CACHE",)),  # MIX_ASSETS_CONFIG: pods read the same file
    "HF_HUB_OFFLINE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
]


def get(name: str) -> str:
    return os.environ.get(name, VARIABLES[name][0])


def fail_point(name: str) -> None:
    """Where a retry test makes a step die: with MIX_ASSETS_FAIL_ONCE=<name>:<marker> the step raises
    an OSError the first time (and leaves the marker), as a lost disk or connection would."""
    point, _, marker = get("MIX_ASSETS_FAIL_ONCE").partition(":")
    if point == name and marker and not Path(marker).exists():
        Path(marker).write_text(name)
        raise OSError(f"injected failure at {name} (MIX_ASSETS_FAIL_ONCE)")


def pause_point(name: str, log=print) -> None:
    """Where a crash test kills a step: with MIX_ASSETS_PAUSE_AT=<name> the step says so and sleeps,
    so the kill lands at that point and not wherever the race puts it."""
    if get("MIX_ASSETS_PAUSE_AT") == name:
        import time

        log(f"paused at {name}")
        time.sleep(600)


def config_path() -> Path:
    return Path(get("MIX_ASSETS_CONFIG"))


@lru_cache(maxsize=4)
def _load(path: str, stamp: float) -> project_file.ProjectFile:
    return project_file.load(path)


def project() -> project_file.ProjectFile:
    """The project file, re-read when it changes. Without one (a bare checkout run from elsewhere,
    or MIX_ASSETS_CONFIG unset and no mix_assets.yaml here) the demo project's defaults."""
    path = config_path()
    if not path.exists():
        if "MIX_ASSETS_CONFIG" in os.environ:
            raise project_file.ProjectFileError(f"MIX_ASSETS_CONFIG={path}: no such file")
        return project_file.ProjectFile()
    return _load(str(path.resolve()), path.stat().st_mtime)


def input_dir() -> str:
    return get("MIX_ASSETS_INPUT") or project().input.path


def work_dir() -> str:
    return get("MIX_ASSETS_WORK") or project().work


def warehouse() -> str:
    return get("MIX_ASSETS_WAREHOUSE") or project().warehouse


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


def workers() -> int:
    """Local worker processes: MIX_ASSETS_WORKERS, else the cores this process may use."""
    given = get("MIX_ASSETS_WORKERS")
    if given:
        return int(given)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_env() -> dict[str, str | None]:
    """What a worker must see as this process does: the project's variables (unset ones as None) and
    the offline flags. Sent with every unit of work, so a worker kept between runs never uses stale ones."""
    names = [*VARIABLES, "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM"]
    return {n: os.environ.get(n) for n in names}


def cache_dir() -> Path:
    """The local scratch and cache folder, created on first use: on a fresh machine nothing else
    has made it yet, and a temporary directory inside it would fail."""
    path = Path(get("MIX_ASSETS_CACHE") or Path(tempfile.gettempdir()) / "mix_assets-cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def forwarded() -> list[str]:
    """The forwarded variables that are set here."""
    return [v for v in FORWARDED if v in os.environ]
