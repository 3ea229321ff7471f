"""Staggered warm-ups: a run's arrival curve, learned from its past runs, and the ramp a warm
floor rises by to follow it (:mod:`workerplane.planning.warmups`)."""

from __future__ import annotations

import pytest

from workerplane.planning.prewarm import apply_warm_floor
from workerplane.planning.warmups import (
    ARRIVAL_QUANTILES,
    PastRun,
    RunWork,
    UpcomingRun,
    WarmupSizing,
    arrival_curve,
    landed_by,
    learn_run_work,
    plan_warmups,
    ramp_for,
)
from workerplane.scaling.prewarm import PrewarmDetails
from workerplane.scaling.types import Hold, SetSize, Strategy, WorkerCensus

NOON = 43_200.0
SIZING = WarmupSizing(
    startup_s=2.0, poll_s=1.0, margin_s=0.5, slots=4.0, target_wait_s=1.2, max_count=60
)


def test_the_arrival_curve_is_the_offsets_from_the_first_task_at_each_tenth() -> None:
    assert arrival_curve([]) == ()
    assert arrival_curve([5.0]) == (0.0,) * ARRIVAL_QUANTILES
    # Eleven tasks a second apart, in any order: the k-th tenth landed k seconds in.
    assert arrival_curve([100.0 + t for t in reversed(range(11))]) == tuple(map(float, range(11)))
    # Between two tasks, the curve is linear: three tasks at 0, 1 and 10 s.
    curve = arrival_curve([0.0, 1.0, 10.0])
    assert curve[5] == pytest.approx(1.0) and curve[2] == pytest.approx(0.4)
    assert curve[-1] == 10.0


def test_the_learned_curve_is_the_earliest_each_share_landed() -> None:
    slow = PastRun(0.0, 100, 1.0, 10.0, tuple(float(k) for k in range(11)))
    fast = PastRun(60.0, 100, 1.0, 5.0, tuple(k / 2 for k in range(11)))
    unknown = PastRun(120.0, 100, 1.0, 8.0)  # learned from surges: no curve
    work = learn_run_work([slow, fast, unknown])
    assert work is not None and work.arrivals == fast.arrivals
    assert learn_run_work([unknown]) == RunWork(100, 1.0, 8.0, 1)


@pytest.mark.parametrize(
    ("arrivals", "share", "expected"),
    [
        ((), 0.5, 5.0),  # no curve: evenly over the spread
        ((), 2.0, 10.0),
        (tuple(float(k * k) for k in range(11)), 0.3, 9.0),
        (tuple(float(k * k) for k in range(11)), 0.35, 12.5),  # linear between points
        (tuple(float(k * k) for k in range(11)), 1.0, 100.0),
    ],
)
def test_how_long_a_share_of_the_run_takes_to_land(
    arrivals: tuple[float, ...], share: float, expected: float
) -> None:
    work = RunWork(100, 1.0, 10.0, 1, arrivals)
    assert landed_by(work, share) == pytest.approx(expected)


def test_a_run_that_lands_within_a_cycle_is_warmed_at_once() -> None:
    """The policy lab's storm: 500 tasks within 2 s, 51 workers whose shares all begin within
    0.8 s: every step is less than a poll interval after the first, so all are asked for at
    once (a step a cycle late leaves its workers late for the storm's first tasks)."""
    storm = RunWork(500, 2.0, 2.0, 3, tuple(k / 5 for k in range(11)))
    assert ramp_for(storm, 51, SIZING, NOON) == ((NOON - 2.5, 51),)


def test_a_run_that_lands_over_longer_is_warmed_as_it_lands() -> None:
    """100 tasks over 20 s on 4-slot workers: the k-th worker is needed when task 4k lands;
    each tenth's workers are asked a lead (startup and margin) before it begins."""
    run = RunWork(100, 1.0, 20.0, 3, tuple(2.0 * k for k in range(11)))
    assert ramp_for(run, 6, SIZING, NOON) == (
        (NOON - 2.5, 3),  # tasks 0-9: workers 0-2
        (NOON - 0.5, 5),  # tasks 10-19 land from 2 s: workers 3-4
        (NOON + 1.5, 6),
    )
    # Without a curve, evenly over the spread: the same here.
    assert ramp_for(RunWork(100, 1.0, 20.0, 3), 6, SIZING, NOON) == ramp_for(run, 6, SIZING, NOON)


def test_the_plan_attaches_the_ramp_and_the_floor_follows_it() -> None:
    """200 tasks of 10 s over 10 s: 25 workers (each slot takes a task as it lands and little
    else), 5 more as each tenth of the tasks begins to land."""
    work = RunWork(200, 10.0, 10.0, 3, tuple(float(k) for k in range(11)))
    run = UpcomingRun("reports", NOON, work)
    (warmup,) = plan_warmups([run], PrewarmDetails(enabled=True), SIZING, now=NOON - 60)
    steps = (
        (NOON - 2.5, 5),
        (NOON - 1.5, 10),
        (NOON - 0.5, 15),
        (NOON + 0.5, 20),
        (NOON + 1.5, 25),
    )
    assert (warmup.starts_at, warmup.workers, warmup.ramp) == (NOON - 2.5, 25, steps)

    def floor(now: float) -> int:
        raised = apply_warm_floor(
            Hold("idle"), [warmup], now=now, strategy=Strategy.WORKER_SET, max_count=60,
            held_size=0, census=WorkerCensus(),
        )  # fmt: skip
        return raised.size if isinstance(raised, SetSize) else 0

    assert [floor(NOON + t) for t in range(-3, 3)] == [0, 5, 10, 15, 20, 25]
    assert floor(warmup.ends_at) == 0


def test_a_hint_warms_all_its_workers_at_once() -> None:
    details = PrewarmDetails(enabled=True, schedules={"reports": {"workers": 6}})  # type: ignore[arg-type]
    run = UpcomingRun("reports", NOON, RunWork(100, 1.0, 20.0, 3))
    (warmup,) = plan_warmups([run], details, SIZING, now=NOON - 60)
    assert warmup.ramp == () and warmup.workers_at(NOON - 2) == 6
