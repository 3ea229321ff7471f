"""The floors a shrink keeps for the tasks in flight and for the load (the other rules of
``slo_shrink`` are tested with the scenarios that call for them: ``test_slo_standing``,
``test_slo_storms``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler
from workerplane.scaling.slo_shrink import busy_worker_floor, load_worker_floor
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus


@pytest.mark.parametrize(
    ("in_flight", "rising", "floor"),
    [
        (7, False, 1),  # the worker holding 3 may go: only whole busy workers are kept
        (7, True, 2),  # ... unless more tasks start than the load says
        (8, False, 2),
        (8, True, 2),  # a whole number stays as it is
        (0, True, 0),
        (0.5, True, 1),
    ],
)
def test_busy_worker_floor(in_flight: float, rising: bool, floor: int) -> None:
    assert busy_worker_floor(in_flight, 4.0, rising) == floor


@pytest.mark.parametrize(
    ("load_workers", "floor"),
    [
        (1.9, 2),  # a real run's 7.6 slots of load on 4-slot workers: cut to 1 before
        (1.3, 2),
        (1.25, 1),  # a quarter of a worker is duty-cycled, as a rounded size would be
        (2.0, 2),
        (0.2, 0),
        (0.0, 0),
    ],
)
def test_load_worker_floor(load_workers: float, floor: int) -> None:
    assert load_worker_floor(load_workers) == floor


def test_a_group_is_not_cut_below_the_load_it_nearly_fills() -> None:
    """The calibration run on a real server with the default 5 s stats cache (session 27): three
    workers, 6 of 12 slots busy, fresh stats with nothing waiting, 8 tasks/s of 1 s tasks still
    arriving (7.6 slots of load). The group went 3 -> 1; the next second 4 tasks waited, then 8,
    then 16 before it grew, and tasks on the starved partitions waited over 5 s (p95 5.09 s at a
    5 s SLO). The load fills 1.9 workers: two stay."""
    s = build_scaler(
        "slo",
        {"max_count": 10, "schedule_to_start_slo_ms": 5_000, "feedback": False},
        Strategy.WORKER_SET,
    )
    assert isinstance(s, SloScaler)
    state = replace(
        s.initial_state(0.0), duration_s=1.0, load=7.6, slow_load=7.6, slots=4.0,
        startup_ms=200.0, reported_s=1.0, reported_n=50.0, arrival_rate=7.6, arrival_sample=7.6,
        fresh_ms=999_000, fresh_backlog=0.0, fresh_in_flight=6.0, backlog_est=0.0,
        last_ms=999_000, last_in_flight=6.0, last_completed=40, size=3,
        recent=((999_000, 6.0),), last_scale_down_ms=0,
        last_stats=QueueStats(backlog_count=3, add_rate=17.9, dispatch_rate=17.9),
    )  # fmt: skip
    census = WorkerCensus(running=3, ready=3, in_flight=6, desired=3, slots=4, tasks_completed=47)
    stats = QueueStats(backlog_count=0, add_rate=17.882, dispatch_rate=17.862)  # fresh
    _, size, why = s.desired(state, GroupMetrics(stats, census, 1000.0), 1_000_000, 3)
    assert size == 2, why
