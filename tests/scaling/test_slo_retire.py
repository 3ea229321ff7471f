"""``slo`` keeps a worker whose tasks ran far past the mean until the smaller size has been
wanted that long (scaling.retire): retired, it would bill on until its task ends while the group
lost its free slots, and a group that grows back meanwhile pays twice."""

from __future__ import annotations

from dataclasses import replace

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler
from workerplane.scaling.types import (
    GroupMetrics,
    QueueStats,
    SetSize,
    Strategy,
    WorkerCensus,
    WorkerLoad,
)

NOW_MS = 1_000_000
IDLE = WorkerLoad()
HELD = WorkerLoad(in_flight=1, running_s=120.0)  # one task two minutes in; tasks average 2 s
LONGER = WorkerLoad(in_flight=1, running_s=200.0)


def shrink(loads: tuple[WorkerLoad, ...] | None, wanted_3_ago_s: float) -> SetSize:
    """A group of 3 workers on 2 s tasks running two tasks (``loads``: on which workers) that
    asked for 3 workers ``wanted_3_ago_s`` ago and 1 since."""
    s = build_scaler("slo", {"max_count": 10, "feedback": False}, Strategy.WORKER_SET)
    assert isinstance(s, SloScaler)
    asked_ms = NOW_MS - round(1000 * wanted_3_ago_s)
    state = replace(
        s.initial_state(0.0), duration_s=2.0, load=1.0, slow_load=1.0, slots=4.0,
        startup_ms=2000.0, reported_s=2.0, reported_n=50.0, arrival_rate=0.0, arrival_sample=0.0,
        fresh_ms=NOW_MS - 1000, fresh_backlog=0.0, fresh_in_flight=2.0, last_ms=NOW_MS - 1000,
        last_in_flight=2.0, last_completed=50, size=3, recent=((NOW_MS - 1000, 2.0),),
        last_stats=QueueStats(), window=((asked_ms, 3), (asked_ms + 1000, 1)),
    )  # fmt: skip
    census = WorkerCensus(
        running=3, ready=3, in_flight=2, desired=3, slots=4, tasks_completed=50, loads=loads,
    )  # fmt: skip
    _, decision = s.decide(state, GroupMetrics(QueueStats(), census, 1000.0), NOW_MS / 1000)
    assert isinstance(decision, SetSize), decision
    return decision


def test_the_idle_worker_goes_and_those_holding_long_tasks_stay() -> None:
    # The load would keep one worker; the two holding long tasks would bill on if retired.
    assert shrink(None, wanted_3_ago_s=10.0).size == 1  # without per-worker loads
    decision = shrink((IDLE, HELD, LONGER), wanted_3_ago_s=10.0)
    assert decision.size == 2
    assert "their tasks ran long" in decision.reason


def test_a_held_worker_goes_once_the_smaller_size_has_lasted_as_long_as_its_task_ran() -> None:
    assert shrink((IDLE, HELD, LONGER), wanted_3_ago_s=150.0).size == 1
