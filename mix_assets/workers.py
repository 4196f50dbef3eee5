"""Where the shard stages and the proxy trials fan out: local worker processes, or a Ray cluster
reached through dagster-ray (the `ray` profile). The assets ask `workers.pool(...)` for a pool of
core.fanout and hand it plain functions; nothing else in an asset knows which one it got."""

import json
import socket
from urllib.parse import urlsplit

from dagster import ConfigurableResource
from dagster_ray import RayResource
from pydantic import Field

from mix_assets import environment
from mix_assets.core import fanout


class RayUnreachable(RuntimeError):
    """Not a ConnectionError: dagster-ray retries those for two minutes, and an address that
    nothing answers should fail the step at once."""


def _host_port(address: str) -> tuple[str, int] | None:
    if address in ("", "auto", "local"):
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    default = 10001 if address.startswith("ray://") else 6379
    return parts.hostname or "127.0.0.1", parts.port or default


class RayCluster(RayResource):
    """An existing Ray cluster: its head's address (`host:6379`, or `ray://host:10001` for Ray
    Client), or `local` to start a single-node Ray inside the step. Any other dagster-ray resource
    (KubeRayCluster, KubeRayInteractiveJob) can stand in its place in Workers.ray."""

    address: str = Field(
        default_factory=lambda: environment.get("MIX_ASSETS_RAY_ADDRESS"),
        description="the head's address, or `local`; MIX_ASSETS_RAY_ADDRESS by default",
    )
    probe_seconds: float = Field(5.0, description="how long to try the address before failing the step")

    @property
    def host(self) -> str:
        found = _host_port(self.address)
        return found[0] if found else "127.0.0.1"

    @property
    def name(self) -> str:
        return f"Ray cluster at {self.address or '(no address)'}"

    @property
    def ray_address(self) -> str | None:  # type: ignore[override]
        return None if self.address == "local" else self.address

    @property
    def created(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return True

    def connect(self, context):
        if not self.address:
            raise RayUnreachable(
                "MIX_ASSETS_PROFILE=ray needs the cluster's address: set MIX_ASSETS_RAY_ADDRESS to its head "
                "(host:6379, or ray://host:10001 for Ray Client), or to `local` to start Ray in the step"
            )
        found = _host_port(self.address)
        if found:
            try:
                socket.create_connection(found, timeout=self.probe_seconds).close()
            except OSError as e:
                raise RayUnreachable(
                    f"no Ray cluster answers at {self.address} ({found[0]}:{found[1]}: {e}). Start one "
                    f"(`ray start --head --port {found[1]}`) or set MIX_ASSETS_RAY_ADDRESS to a running "
                    f"head; MIX_ASSETS_PROFILE=local runs without Ray"
                ) from None
        runtime_env = environment.get("MIX_ASSETS_RAY_RUNTIME_ENV")
        if runtime_env and "runtime_env" not in self.ray_init_options:
            self.ray_init_options["runtime_env"] = json.loads(runtime_env)
        self.ray_init_options.setdefault("log_to_driver", False)  # units report through their outcomes
        return super().connect(context)


class Workers(ConfigurableResource):
    """How many units of work run at once, and where. `ray` unset: `processes` local processes
    (MIX_ASSETS_WORKERS, default the machine's cores). `ray` set: Ray tasks, and for embeddings a
    pool of Ray actors, one model and `gpus` GPUs each."""

    processes: int = Field(default_factory=environment.workers, ge=1)
    ray: RayResource | None = None
    gpus: float = Field(
        default_factory=lambda: float(environment.get("MIX_ASSETS_RAY_GPUS")),
        description="ray: GPUs a gpt trial and an embedding actor ask for (0: a CPU cluster)",
    )
    embedding_actors: int | None = Field(
        default_factory=lambda: int(environment.get("MIX_ASSETS_RAY_EMBED_ACTORS") or 0) or None,
        description="ray: embedding actors; None: one per GPU of the cluster, else one per node",
    )
    task_retries: int = Field(3, description="times a unit runs again when its worker dies under it")

    def pool(self, work_dir: str, kind: str = "cpu", units: int = 2, **setup) -> fanout.Pool:
        """A pool for `units` units: `kind` cpu (a shard stage), trial (`gpu=True` for the gpt proxy)
        or embed (`setup=fn, setup_args=(...)` loads the model once per worker)."""
        env = environment.worker_env()
        # other processes cannot see this one's memory:// files, and one unit needs no local pool
        # (on Ray it still goes where the GPUs are)
        if work_dir.startswith("memory://") or (units < 2 and self.ray is None):
            return fanout.InProcess(env)
        if self.ray is None:
            if kind == "embed" or setup.get("gpu") or self.processes < 2:
                # torch already spreads one model over every core (or holds the one GPU); a second
                # process would hold a second copy and compete for the same cores or card
                return fanout.InProcess(env)
            return fanout.Processes(min(self.processes, units), env, self.task_retries)
        if kind == "embed":
            return fanout.RayActors(
                self.embedding_actors,
                setup.get("setup"),
                setup.get("setup_args", ()),
                cpus=1.0,
                gpus=self.gpus,
                env=env,
                max_retries=self.task_retries,
            )
        gpus = self.gpus if setup.get("gpu") else 0.0
        return fanout.RayTasks(1.0, gpus, self.task_retries, env)
