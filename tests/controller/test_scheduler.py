"""The cycle scheduler's order and jitter, and the idle read plan, with a fake clock."""

from __future__ import annotations

import dataclasses
import random

import pytest

from workerplane.controller.scheduler import CycleScheduler, has_activity, plan_idle_reads
from workerplane.planning.plan import unstarted_status


def test_due_cycles_come_out_earliest_first_and_only_when_due() -> None:
    schedule = CycleScheduler(jitter=0.0)
    schedule.at(1, 5.0)
    schedule.at(2, 1.0)
    schedule.at(3, 3.0)
    assert schedule.pop_due(0.5) == []
    assert schedule.pop_due(3.0) == [2, 3]
    assert schedule.next_due() == 5.0
    assert schedule.pop_due(10.0) == [1]
    assert schedule.next_due() is None and len(schedule) == 0


def test_rescheduling_and_removal_replace_the_old_due_time() -> None:
    schedule = CycleScheduler(jitter=0.0)
    schedule.at(1, 1.0)
    schedule.at(1, 4.0)  # moved later: the old entry is skipped
    schedule.at(2, 2.0)
    schedule.remove(2)
    assert schedule.pop_due(3.0) == []
    assert schedule.pop_due(4.0) == [1]
    assert 2 not in schedule


def test_waking_moves_a_later_cycle_to_now_only() -> None:
    schedule = CycleScheduler(jitter=0.0)
    schedule.at(1, 60.0)
    schedule.at(2, 0.5)
    assert schedule.wake(1, 1.0) is True
    assert schedule.wake(2, 1.0) is False  # due already
    assert schedule.wake(3, 1.0) is False  # not scheduled (running, or gone)
    assert schedule.pop_due(1.0) == [2, 1]


@pytest.mark.parametrize("jitter", [0.0, 0.1, 0.5])
def test_jitter_stays_within_its_bounds(jitter: float) -> None:
    schedule = CycleScheduler(jitter=jitter, rng=random.Random(7))
    dues = [schedule.after(handle, 100.0, 10.0) for handle in range(500)]
    assert all(100.0 + 10.0 * (1 - jitter) <= d <= 100.0 + 10.0 * (1 + jitter) for d in dues)
    firsts = [schedule.first(handle, 100.0, 10.0) for handle in range(500, 1000)]
    assert all(100.0 <= d <= 100.0 + 10.0 * jitter for d in firsts)
    bounded = [schedule.within(handle, 100.0, 10.0) for handle in range(1000, 1500)]
    assert all(100.0 + 10.0 * (1 - jitter) <= d <= 110.0 for d in bounded), "never past the bound"
    if jitter:
        assert len({round(d, 6) for d in dues}) > 400, "groups sharing an interval spread out"


def test_jitter_is_a_fraction_below_one_half() -> None:
    with pytest.raises(ValueError):
        CycleScheduler(jitter=0.6)


def test_a_simulated_fleet_keeps_its_period() -> None:
    """Driven with a fake clock: every group cycles once per interval on average."""
    schedule = CycleScheduler(jitter=0.1, rng=random.Random(1))
    runs = dict.fromkeys(range(100), 0)
    for handle in runs:
        schedule.first(handle, 0.0, 5.0)
    now = 0.0
    while now < 500.0:
        for handle in schedule.pop_due(now):
            runs[handle] += 1
            schedule.after(handle, now, 5.0)
        now += 0.05
    assert all(99 <= count <= 102 for count in runs.values())


def test_activity_is_work_or_workers() -> None:
    idle = unstarted_status(
        "v", "g", "subprocess", "backlog", "worker-set", error=None, wall_time=0
    )
    assert not has_activity(None) and not has_activity(idle)
    assert has_activity(dataclasses.replace(idle, workers_running=1))
    assert has_activity(dataclasses.replace(idle, backlog=3))
    assert has_activity(dataclasses.replace(idle, pollers=1))


@pytest.mark.parametrize(
    ("case", "budget", "active_rps", "idle_calls", "bound", "expected"),
    [
        ("the budget reads every idle group at the user's bound", 40, 10, 100, 10, 10.0),
        ("5,000 idle queue types at 40 RPS: 5000 / 36 s", 40, 0, 5000, 10, 5000 / 36),
        ("active groups leave less for idle ones", 40, 26, 100, 1, 10.0),
        ("idle groups always keep a tenth of the budget", 40, 100, 100, 1, 25.0),
        ("no idle group: the bound", 40, 5, 0, 30, 30.0),
    ],
)
def test_the_idle_read_interval_fits_the_budget(
    case: str, budget: float, active_rps: float, idle_calls: float, bound: float, expected: float
) -> None:
    plan = plan_idle_reads(
        rps_budget=budget, active_rps=active_rps, idle_calls=idle_calls, idle_bound_s=bound
    )
    assert plan.interval_s == pytest.approx(expected), case
