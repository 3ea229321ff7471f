"""Inferred recurrence: surges the group saw, their period, and the warm-ups it predicts."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tests.planning.test_periods import EVERY, TOLERANCE, storms_at
from workerplane.planning.actions import GroupState
from workerplane.planning.observe import Observation
from workerplane.planning.periods import find_period
from workerplane.planning.plan import GroupIntent, plan_cycle
from workerplane.planning.recurrence import INFERRED_ID, Recurrence
from workerplane.planning.status import GroupStatus
from workerplane.planning.warmups import RunWork, UpcomingRun
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus


def test_periodic_surges_give_a_period_and_the_next_run() -> None:
    onsets = [30.0, 930.0, 1830.0]
    period = find_period(storms_at(onsets), TOLERANCE, now=1900.0)
    assert period is not None
    assert (period.period_s, period.anchor_at, period.misses) == (EVERY, 1830.0, 0)
    runs = Recurrence(surges=tuple(storms_at(onsets))).upcoming(1900.0, TOLERANCE)
    assert [r.at for r in runs] == [2730.0]
    assert runs[0].schedule_id == INFERRED_ID
    assert runs[0].basis == "inferred: every 15m0s from 3 surges"
    assert runs[0].work == RunWork(tasks=500, mean_task_s=2.0, spread_s=2.0, runs=3)


# ---------------------------------------------------------------- from observations, in the plan


def _reading(now: float, arrived: int, waiting: int = 0) -> Observation:
    """An idle group at zero: what arrived has completed, except ``waiting`` tasks the uncached
    backlog hint shows (so the reading is exact)."""
    census = WorkerCensus(
        running=0, ready=0, in_flight=0, desired=0, tasks_completed=arrived - waiting
    )
    stats = QueueStats(backlog_count=waiting)
    metrics = GroupMetrics(stats, census, observed_at=now, by_type={"ACTIVITY": stats})
    return Observation(
        census, metrics, wall_time=now, fresh_backlog={"ACTIVITY": waiting}
    ).with_fresh_backlog()


def _storms(onsets: list[float], until: float, size: int = 200) -> list[Observation]:
    """A reading every second; each storm lands within a second and is done the next."""
    readings, arrived = [], 0
    for t in np.arange(0.0, until, 1.0):
        waiting = 0
        for onset in onsets:
            if onset < t <= onset + 1.0:
                arrived += size
                waiting = size
        readings.append(_reading(float(t), arrived, waiting))
    return readings


def test_surges_are_counted_from_the_readings() -> None:
    rec = Recurrence()
    for observed in _storms([30.2, 130.2, 230.2], until=300.0):
        rec = rec.observe(observed, duration_s=1.5)
    assert [(s.onset_at, s.tasks, s.mean_task_s) for s in rec.surges] == [
        (30.5, 200, 1.5),
        (130.5, 200, 1.5),
        (230.5, 200, 1.5),
    ]
    assert [r.at for r in rec.upcoming(300.0, TOLERANCE)] == [330.5]


def _intent(prewarm: dict[str, Any], slo_ms: int = 2000) -> GroupIntent:
    details = {"schedule_to_start_slo_ms": slo_ms, "max_count": 8, "target_per_worker": 4,
               "worker_startup_ms": 2000, "prewarm": prewarm}  # fmt: skip
    return GroupIntent(
        version_key="v", group_id="g", provider_type="k8s", scaler_type="slo",
        strategy=Strategy.WORKER_SET, scaler=build_scaler("slo", details, Strategy.WORKER_SET),
    )  # fmt: skip


def _run(intent: GroupIntent, readings: list[Observation]) -> tuple[GroupState, GroupStatus]:
    state = GroupState(scaler_state=intent.scaler.initial_state(0.0))
    status = None
    for reading in readings:
        # The provider reports the size last asked for (its workers never start here).
        census = dataclasses.replace(reading.census, desired=state.held_size or 0)
        metrics = reading.metrics and dataclasses.replace(reading.metrics, workers=census)
        observed = dataclasses.replace(reading, census=census, metrics=metrics)
        plan, status = plan_cycle(observed, intent, state, now=observed.wall_time)
        state = plan.state
    assert status is not None
    return state, status


def test_the_plan_warms_for_an_inferred_period_and_says_why() -> None:
    readings = _storms([30.2, 130.2, 230.2], until=331.0)  # the warm-up starts 1-2 s ahead
    state, status = _run(_intent({}), readings)  # recurring is on by default
    assert isinstance(state.recurrence, Recurrence) and len(state.recurrence.surges) == 3
    (warmup,) = status.warmups
    assert (warmup.schedule_id, warmup.action_at) == (INFERRED_ID, 330.5)
    assert warmup.basis.startswith("inferred: every 1m40s from 3 surges; learned: 200 tasks")
    assert "pre-warming" in state.last_reason and INFERRED_ID in state.last_reason


def test_turned_off_nothing_is_inferred() -> None:
    state, status = _run(_intent({"recurring": False}), _storms([30.2, 130.2, 230.2], 327.0))
    assert state.recurrence is None and status.warmups == ()


def test_a_schedule_takes_precedence_over_an_inferred_run() -> None:
    readings = _storms([30.2, 130.2, 230.2], until=327.0)
    scheduled = UpcomingRun("every-100s", 330.0, RunWork(200, 1.0, 1.0, 3))
    readings[-1] = Observation(
        readings[-1].census,
        readings[-1].metrics,
        wall_time=readings[-1].wall_time,
        fresh_backlog=readings[-1].fresh_backlog,
        upcoming_runs=(scheduled,),
    )
    _, status = _run(_intent({"enabled": True}), readings)
    assert [w.schedule_id for w in status.warmups] == ["every-100s"]


def test_a_fan_out_is_timed_from_its_workflow_task() -> None:
    """On an idle queue, the workflow task that starts a fan-out waits for a worker (a cold
    start) before its activities show: the surge began when the workflow task was seen."""

    def observed(now: float, workflow: int, activities: int) -> Observation:
        census = WorkerCensus(running=1, ready=1, in_flight=activities, slots=100)
        by_type = {"WORKFLOW": QueueStats(backlog_count=workflow), "ACTIVITY": QueueStats()}
        metrics = GroupMetrics(QueueStats(backlog_count=workflow), census, now, by_type=by_type)
        return Observation(census, metrics, wall_time=now, fresh_backlog={"WORKFLOW": workflow})

    rec = Recurrence()
    for t in range(10):
        rec = rec.observe(observed(float(t), 0, 0), duration_s=None)
    for t, (workflow, activities) in enumerate([(1, 0), (1, 0), (0, 30)], start=10):
        rec = rec.observe(observed(float(t), workflow, activities), duration_s=None)
    assert rec.surge is not None and rec.surge.onset_at == 9.5


def test_a_fan_out_counted_across_two_readings_is_one_surge() -> None:
    """The server's backlog and the workers' reports are not read together: a fan-out can show
    its waiting tasks in one reading and those that started since only in the next, each short of
    a surge (``MIN_SURGE_TASKS``). The rise carries over to the next readings."""

    def observed(now: float, workflow: int, running: int, waiting: int, done: int) -> Observation:
        census = WorkerCensus(running=1, ready=1, in_flight=running, slots=4, tasks_completed=done)
        activity = QueueStats(backlog_count=waiting)
        by_type = {"WORKFLOW": QueueStats(backlog_count=workflow), "ACTIVITY": activity}
        total = QueueStats(backlog_count=workflow + waiting)
        metrics = GroupMetrics(total, census, now, by_type=by_type)
        fresh = {"WORKFLOW": workflow, "ACTIVITY": waiting}
        return Observation(census, metrics, wall_time=now, fresh_backlog=fresh)

    rec = Recurrence()
    # Idle; the workflow task; once it ran, 7 of its 11 activities waiting (the report of the 4
    # that started is not written yet); then the report: 4 running, 7 waiting; then all done.
    readings = [(0, 0, 0, 0)] * 10 + [(1, 0, 0, 0), (0, 0, 7, 1), (0, 4, 7, 1)]
    readings += [(0, 0, 0, 12)] * 5
    for t, counts in enumerate(readings):
        rec = rec.observe(observed(float(t), *counts).with_fresh_backlog(), duration_s=None)
    # Timed from the workflow task; its 11 activities (the workflow task came before the rise).
    assert [(s.onset_at, s.tasks) for s in rec.surges] == [(9.5, 11)]


def test_storms_that_recur_within_a_long_slo_are_batched_not_warmed_for() -> None:
    """Storms every 10 s at a 30 s SLO (target 18 s): a cold group may wait 12 s with one for
    the next (the scaler's deferral), so no worker is warmed for each; at 2 s each is."""
    readings = _storms([30.2, 40.2, 50.2], until=61.0, size=10)
    state, status = _run(_intent({}, slo_ms=30_000), readings)
    assert isinstance(state.recurrence, Recurrence) and len(state.recurrence.surges) == 3
    assert status.warmups == ()
    _, status = _run(_intent({}, slo_ms=2_000), readings)
    assert [(w.schedule_id, w.action_at) for w in status.warmups] == [(INFERRED_ID, 60.5)]
