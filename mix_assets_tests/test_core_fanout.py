"""The pools units of work fan out on: a local process pool returns what a sequential run does, keeps
going past a unit that raises, and runs again the units of a worker that died."""

import os

import pytest

from mix_assets.core import fanout


def noisy_sum(n: int) -> float:
    """A unit whose result depends on its argument only (floating point, in order)."""
    import numpy as np

    return float(np.random.default_rng(n).standard_normal(1000).cumsum().sum())


def fragile(n: int) -> float:
    if n == 3:
        raise ValueError("unit 3 is bad input")
    return noisy_sum(n)


UNITS = {f"u{i}": (i,) for i in range(8)}


def test_processes_return_what_a_sequential_run_returns():
    reference = {o.key: o.value for o in fanout.InProcess().run(noisy_sum, UNITS)}
    outcomes = list(fanout.Processes(2).run(noisy_sum, UNITS))
    assert sorted(o.key for o in outcomes) == sorted(UNITS)  # each unit once
    assert {o.key: o.value for o in outcomes} == reference  # to the last bit
    assert all(o.ok and o.attempts == 1 for o in outcomes)


@pytest.mark.parametrize("pool", [fanout.InProcess(), fanout.Processes(2)], ids=["in-process", "processes"])
def test_a_unit_that_raises_is_its_outcome_and_the_others_finish(pool):
    outcomes = {o.key: o for o in pool.run(fragile, UNITS)}
    assert sorted(outcomes) == sorted(UNITS)
    assert "ValueError: unit 3 is bad input" in outcomes["u3"].error
    assert all(o.ok for k, o in outcomes.items() if k != "u3")


def test_a_killed_worker_loses_no_unit_and_doubles_none(tmp_path):
    marker = tmp_path / "killed"
    env = {"MIX_ASSETS_KILL_ONCE": f"fragile:{marker}"}  # the first worker to start one dies
    outcomes = list(fanout.Processes(2, env).run(fragile, UNITS))
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker died, not this process
    assert sorted(o.key for o in outcomes) == sorted(UNITS)
    reference = {k: noisy_sum(*a) for k, a in UNITS.items() if k != "u3"}
    assert {o.key: o.value for o in outcomes if o.ok} == reference
    assert max(o.attempts for o in outcomes) == 2  # the units the dead worker held ran again
    # the pool is whole again for the next run
    assert all(o.ok for o in fanout.Processes(2).run(noisy_sum, UNITS))
