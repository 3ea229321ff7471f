"""The ideal warm pool: a yardstick for pre-warming on a scheduled trace (tables on small runs)."""

from __future__ import annotations

import numpy as np
import pytest

from workerplane.sim.distributions import Distribution
from workerplane.sim.oracle import whole_task_oracle
from workerplane.sim.synthetic import cron_storm, fanouts, scheduled_storm
from workerplane.sim.traces import Trace
from workerplane.sim.warm_pool import (
    cheapest_open_loop_pool,
    cheapest_storm_pools,
    ideal_warm_pool,
    random_startup_pool,
    storm_starts,
)


def _trace(arrivals: list[float], durations: list[float], actions: tuple[float, ...]) -> Trace:
    return Trace("t", np.array(arrivals), np.array(durations), 100.0, "", actions=actions)


@pytest.mark.parametrize(
    ("workers", "slots", "worker_seconds", "waits"),
    [
        # One worker of 2 slots: tasks 0 and 1 start at once, task 2 waits for the first end.
        (1, 2, 1.0 + 3.0, [0.0, 0.0, 1.0]),
        # Two workers: the first takes tasks 0 and 1 (its slots free first), the second task 2.
        (2, 2, 2.0 + 3.0 + 1.0, [0.0, 0.0, 0.0]),
        (1, 1, 1.0 + 5.0, [0.0, 1.0, 4.0]),  # one slot: one after the other
    ],
)
def test_whole_tasks_on_the_slots_that_free_first(
    workers: int, slots: int, worker_seconds: float, waits: list[float]
) -> None:
    trace = _trace([10.0, 10.0, 10.0], [1.0, 3.0, 1.0], actions=(10.0,))
    got = ideal_warm_pool(trace, workers=workers, slots=slots, startup_s=1.0)
    assert got.worker_seconds == pytest.approx(worker_seconds)
    assert got.waits.tolist() == pytest.approx(waits)


def test_each_run_is_warmed_on_its_own() -> None:
    trace = _trace([10.0, 50.0], [2.0, 2.0], actions=(10.0, 50.0))
    got = ideal_warm_pool(trace, workers=1, slots=4, startup_s=0.5)
    assert got.worker_seconds == pytest.approx(2 * (2.0 + 0.5))


def test_no_warm_pool_meets_2s_on_the_scheduled_storm_within_1_25x() -> None:
    """The figures of docs/prewarming.md: 50 workers meet p95 2 s at 1,713 worker-s (1.29x the
    whole-task oracle's 1,332), 48 miss it."""
    trace = scheduled_storm()
    at_50 = ideal_warm_pool(trace, workers=50, slots=4, startup_s=2.0)
    at_48 = ideal_warm_pool(trace, workers=48, slots=4, startup_s=2.0)
    assert at_50.p95_s <= 2.0 < at_48.p95_s
    assert round(at_50.worker_seconds) == 1713


def test_storms_are_split_where_the_oracle_splits_them() -> None:
    # Task 1 arrives 5 s after task 0 ended: a new storm when gaps over 4 s split; task 2
    # arrives while task 1 runs.
    trace = _trace([0.0, 6.0, 7.0], [1.0, 2.0, 1.0], actions=())
    assert storm_starts(trace, gap_s=5.0) == (0.0,)
    assert storm_starts(trace, gap_s=4.0) == (0.0, 6.0)


def test_each_storm_gets_the_fewest_workers_that_meet_the_slo() -> None:
    # Storm 1: four 1 s tasks at once on 1-slot workers: a p95 of 0 needs 4 workers; storm 2:
    # one task, one worker.
    trace = _trace([0.0, 0.0, 0.0, 0.0, 100.0], [1.0] * 5, actions=())
    got = cheapest_storm_pools(trace, slots=1, startup_s=0.5, slo_s=0.0)
    assert got.workers == (4, 1)
    assert got.worker_seconds == pytest.approx(5 * (1.0 + 0.5))
    assert got.staggered_worker_seconds == pytest.approx(got.worker_seconds)  # all start at once
    assert got.p95_s == 0.0


def test_a_staggered_pool_bills_each_worker_from_its_first_task() -> None:
    # Two 1-slot workers poll at 0: the first takes the task at 0, the second (its slot free
    # since 0) the task at 10; staggered, the second would have come up at 10.
    trace = _trace([0.0, 10.0], [1.0, 1.0], actions=(0.0,))
    got = ideal_warm_pool(trace, workers=2, slots=1, startup_s=0.5)
    assert got.worker_seconds == pytest.approx((1.0 + 0.5) + (11.0 + 0.5))
    assert got.staggered_worker_seconds == pytest.approx(2 * (1.0 + 0.5))


def test_no_policy_meets_fanouts_at_5s_within_1_25x_of_the_whole_task_oracle() -> None:
    """Even knowing each fan-out's time and size, warming it ideally costs 1.38x the whole-task
    oracle at 5 s, and 1.32x with each worker coming up at its first task (docs/policy-lab.md):
    the oracle does not charge the packing of whole tasks of lognormal durations on 4-slot
    workers."""
    trace = fanouts()
    pools = cheapest_storm_pools(trace, slots=4, startup_s=2.0, slo_s=5.0)
    oracle = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=5.0).worker_seconds
    assert pools.p95_s <= 5.0
    assert pools.staggered_worker_seconds / oracle > 1.25  # even timed worker by worker


def test_a_warm_up_with_a_known_startup_is_the_ideal_pool() -> None:
    """Asked exactly one (constant) startup ahead, all at once: the ideal pool; staggered, each
    worker polls when its share's first task lands and bills from there (no polling before)."""
    trace = _trace([10.0, 10.5, 11.0, 11.5], [2.0, 2.0, 2.0, 2.0], actions=(10.0,))
    rng = np.random.default_rng(0)
    ideal = ideal_warm_pool(trace, workers=2, slots=2, startup_s=1.0)
    at_once = random_startup_pool(
        trace, workers=2, slots=2, startup=Distribution.const(1.0), lead_s=1.0, staggered=False,
        rng=rng,
    )  # fmt: skip
    assert at_once.worker_seconds == pytest.approx(ideal.worker_seconds)
    assert at_once.waits.tolist() == pytest.approx(ideal.waits.tolist())
    staggered = random_startup_pool(
        trace, workers=2, slots=2, startup=Distribution.const(1.0), lead_s=1.0, staggered=True,
        rng=rng,
    )  # fmt: skip
    assert staggered.worker_seconds == pytest.approx(ideal.staggered_worker_seconds)
    assert staggered.p95_s == 0.0


def test_a_random_startup_costs_the_storm_more_than_a_known_one() -> None:
    """A small scheduled storm at 2 s: with the startup known (constant), the cheapest warm-up
    costs no more than the clairvoyant pools (it meets the SLO over the trace, not storm by
    storm); with the lab's random startup, it costs more, staggered or not."""
    trace = scheduled_storm(storm_size=120, every_s=300.0, horizon_s=900.0)
    pools = cheapest_storm_pools(trace, slots=4, startup_s=2.0, slo_s=2.0)
    known = cheapest_open_loop_pool(
        trace, slots=4, startup=Distribution.const(2.0), slo_s=2.0, staggered=False, draws=2
    )
    assert known.p95_s <= 2.0 and known.worker_seconds <= pools.worker_seconds
    for staggered in (False, True):
        randomly = cheapest_open_loop_pool(
            trace, slots=4, startup=Distribution.lognormal(2.0, 0.4), slo_s=2.0,
            staggered=staggered, draws=4,
        )  # fmt: skip
        assert randomly.p95_s <= 2.0 and randomly.worker_seconds > known.worker_seconds


def test_a_reactive_pool_polls_a_startup_after_the_storm_lands() -> None:
    """Asked when the first task lands, the workers poll a startup later: the first task waits
    that startup, and each worker bills its startup and then until its last task ends."""
    trace = _trace([10.0, 10.5, 11.0, 11.5], [2.0, 2.0, 2.0, 2.0], actions=(10.0,))
    got = ideal_warm_pool(trace, workers=2, slots=2, startup_s=1.0, reactive=True)
    assert got.waits.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # Both poll at 11.0; tasks start at 11.0, 11.0, 11.0, 11.5 and end 2 s later.
    assert got.worker_seconds == pytest.approx((1.0 + 2.0) + (1.0 + 2.5))


def test_cron_storms_at_2s_are_over_budget_for_any_policy_that_reacts_when_they_land() -> None:
    """Knowing each storm's size the moment it lands and asking the cheapest pool then costs
    1.47x the whole-task oracle at 2 s (every storm of the trace unannounced), so the lab's 1.25x
    budget needs foresight there; at 5 s the same reactive pools cost 1.23x (docs/policy-lab.md)."""
    trace = cron_storm()
    kwargs = {"slots": 4, "startup_s": 2.0}
    for slo_s, over in ((2.0, True), (5.0, False)):
        pools = cheapest_storm_pools(trace, slo_s=slo_s, reactive=True, **kwargs)
        oracle = whole_task_oracle(trace, slo_s=slo_s, **kwargs).worker_seconds
        assert pools.p95_s <= slo_s
        assert (pools.worker_seconds / oracle > 1.25) is over
