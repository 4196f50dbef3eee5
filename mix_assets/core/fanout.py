"""Run independent units of work (a shard, a proxy trial) side by side: in this process, on a pool of
local worker processes, or as Ray tasks and actors. Free of Dagster: the asset modules hand a pool
plain functions and plain arguments, and read back one Outcome per unit as each finishes.

A unit's function must be importable by name (a module-level function) and its arguments picklable:
a worker rebuilds what it needs from them. Its result depends on those arguments alone, never on the
worker that ran it, so a fanned-out run returns what a sequential one does.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outcome:
    key: str
    value: Any = None
    error: str | None = None  # the unit's exception with its traceback; None when it succeeded
    attempts: int = 1  # >1: a worker died under it and it was run again

    @property
    def ok(self) -> bool:
        return self.error is None


def _apply(env: dict[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def call_with_env(env: dict[str, str | None], fn: Callable, args: tuple) -> Any:
    """Run fn(*args) on a worker with the caller's view of the variables in `env` (None: unset), so
    a worker that outlives one run, or runs on another machine, sees the run's project, fail points
    and offline flags."""
    _apply(env)
    _kill_point(fn)
    return fn(*args)


def _kill_point(fn: Callable) -> None:
    """Fault tests: with MIX_ASSETS_KILL_ONCE=<function name>:<marker file>, the first worker to start
    a unit of that function (the one that creates the marker) dies at once, as a worker lost to a
    node or the OOM killer does. Never in the calling process: InProcess does not come here."""
    point, _, marker = os.environ.get("MIX_ASSETS_KILL_ONCE", "").partition(":")
    if point != getattr(fn, "__name__", None) or not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # one worker wins, even in a race
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def _described(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__, limit=6)).strip()


@dataclass
class InProcess:
    """One unit after another in the calling process: the reference every other pool must match."""

    env: dict[str, str | None] = field(default_factory=dict)
    workers: int = 1
    name: str = "in-process"

    def run(self, fn: Callable, units: dict[str, tuple]) -> Iterator[Outcome]:
        _apply(self.env)
        for key, args in units.items():
            try:
                yield Outcome(key, fn(*args))
            except Exception as e:  # noqa: BLE001 - one unit's failure is its outcome, the others go on
                yield Outcome(key, error=_described(e))


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _executor(workers: int, fresh: bool = False) -> ProcessPoolExecutor:
    """One pool per size and process, kept between runs: a worker imports the project once, not once
    per step (tests and a long-lived code server run many steps in one process)."""
    if not _POOLS:
        # A process that is itself a multiprocessing child (a step of Dagster's multiprocess
        # executor) exits through multiprocessing's exit function, which joins its children before
        # the pool's own atexit hook could stop them: it would wait forever on idle workers.
        multiprocessing.util.Finalize(None, shutdown_pools, exitpriority=100)
    broken = getattr(_POOLS.get(workers), "_broken", False)  # a worker died under an earlier run
    if fresh or broken or workers not in _POOLS:
        old = _POOLS.pop(workers, None)
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        # spawn, not fork: the caller may hold threads (torch, Dagster's log handlers) a fork would copy
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return _POOLS[workers]


@dataclass
class Processes:
    """A pool of `workers` local processes. A worker that dies (killed, out of memory) breaks the pool:
    the units it had not finished run again on a fresh pool, up to `retries` times."""

    workers: int
    env: dict[str, str | None] = field(default_factory=dict)
    retries: int = 2
    name: str = "processes"

    def run(self, fn: Callable, units: dict[str, tuple]) -> Iterator[Outcome]:
        pending, attempts = dict(units), dict.fromkeys(units, 0)
        while pending:
            pool = _executor(self.workers, fresh=max(attempts[k] for k in pending) > 0)
            futures = {pool.submit(call_with_env, self.env, fn, args): key for key, args in pending.items()}
            for key in pending:
                attempts[key] += 1
            broken = False
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    key = futures.pop(future)
                    try:
                        value = future.result()
                    except BrokenProcessPool:
                        broken = True
                        if attempts[key] > self.retries:
                            pending.pop(key)
                            yield Outcome(key, error="a worker process died", attempts=attempts[key])
                        continue
                    except Exception as e:  # noqa: BLE001
                        pending.pop(key)
                        yield Outcome(key, error=_described(e), attempts=attempts[key])
                        continue
                    pending.pop(key)
                    yield Outcome(key, value, attempts=attempts[key])
            if not broken:
                break


def shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


@dataclass
class RayTasks:
    """One Ray task per unit on the connected cluster (ray.init already called), each asking for
    `cpus` and `gpus`. Ray runs a task again when its worker or node dies (`max_retries`); an
    exception the unit itself raises is its outcome, not retried."""

    cpus: float = 1.0
    gpus: float = 0.0
    max_retries: int = 3
    env: dict[str, str | None] = field(default_factory=dict)
    name: str = "ray tasks"

    @property
    def workers(self) -> int:
        import ray

        return max(1, int(ray.available_resources().get("CPU", 1) // max(self.cpus, 1e-9)))

    def run(self, fn: Callable, units: dict[str, tuple]) -> Iterator[Outcome]:
        import ray

        remote = ray.remote(call_with_env).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.max_retries, retry_exceptions=False
        )
        env = ray.put(self.env)
        refs = {remote.remote(env, fn, args): key for key, args in units.items()}
        yield from _ray_outcomes(refs)


def _ray_outcomes(refs: dict) -> Iterator[Outcome]:
    import ray

    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        for ref in done:
            key = refs.pop(ref)
            try:
                yield Outcome(key, ray.get(ref))
            except ray.exceptions.RayTaskError as e:
                yield Outcome(key, error=str(e.cause if e.cause is not None else e))
            except ray.exceptions.RayError as e:  # the worker or node died more often than retried
                yield Outcome(key, error=f"{type(e).__name__}: {e}")


class _Worker:
    """A Ray actor that holds what `setup` loads (a model) for every unit it runs."""

    def __init__(self, env: dict, setup: Callable | None, setup_args: tuple):
        if setup is not None:
            call_with_env(env, setup, setup_args)

    def run(self, env: dict, fn: Callable, args: tuple) -> Any:
        return call_with_env(env, fn, args)


@dataclass
class RayActors:
    """`actors` Ray actors (None: one per GPU the cluster has room for, else one per node), each
    with `cpus` and `gpus` of its own, each running `setup` once (NeMo Curator's pattern for
    embedding: one model per actor, one GPU each); units go to whichever actor is free. An actor
    that dies is restarted and its unit run again."""

    actors: int | None = None
    setup: Callable | None = None
    setup_args: tuple = ()
    cpus: float = 1.0
    gpus: float = 0.0
    env: dict[str, str | None] = field(default_factory=dict)
    max_retries: int = 3
    name: str = "ray actors"

    @property
    def workers(self) -> int:
        if self.actors:
            return self.actors
        import ray

        fits = int(ray.cluster_resources().get("GPU", 0) // self.gpus) if self.gpus else 0
        return fits or max(1, sum(1 for n in ray.nodes() if n.get("Alive")))

    def run(self, fn: Callable, units: dict[str, tuple]) -> Iterator[Outcome]:
        import ray

        cls = ray.remote(_Worker).options(
            num_cpus=self.cpus,
            num_gpus=self.gpus,
            max_restarts=self.max_retries,
            max_task_retries=self.max_retries,
        )
        env = ray.put(self.env)
        pool = [cls.remote(env, self.setup, self.setup_args) for _ in range(min(self.workers, len(units)))]
        queue = list(units.items())
        busy: dict[Any, Any] = {}  # task ref -> the actor running it
        refs: dict[Any, str] = {}  # task ref -> unit key
        try:
            while queue or refs:
                while queue and len(busy) < len(pool):
                    actor = next(a for a in pool if a not in busy.values())
                    key, args = queue.pop(0)
                    ref = actor.run.remote(env, fn, args)  # type: ignore[attr-defined]
                    refs[ref], busy[ref] = key, actor
                done, _ = ray.wait(list(refs), num_returns=1)
                busy.pop(done[0])
                yield from _ray_outcomes({done[0]: refs.pop(done[0])})
        finally:
            for actor in pool:
                ray.kill(actor)  # type: ignore[arg-type]


Pool = InProcess | Processes | RayTasks | RayActors
