"""A group's workers and their tasks counted from their heartbeats
(:mod:`workerplane.planning.worker_beats`): what an ECS, Cloud Run or webhook group's census
cannot count itself.

A fake clock and hand-made heartbeats (``identity -> WorkerBeat``), as ``ListWorkers`` returns
them; the heartbeats of real workers are read in ``tests/controller/test_worker_beats_e2e.py``.
"""

from __future__ import annotations

import pytest

from workerplane.planning.identity import WorkerMarker, worker_identity
from workerplane.planning.worker_beats import (
    DEFAULT_GONE_AFTER_S,
    FORGET_AFTER_S,
    MAX_COUNTING_INTERVAL_S,
    MarkedWorkersCensus,
    WorkerBeat,
)
from workerplane.scaling.types import WorkerCensus

MARKER = WorkerMarker("shop", "v2", "acts")
ECS_CENSUS = WorkerCensus(running=3, desired=3)  # what ECS says: tasks, nothing about slots


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def beat(
    identity: str,
    at: float,
    in_flight: int,
    processed: int,
    *,
    running: bool = True,
    interval_s: float = 1.0,
) -> WorkerBeat:
    return WorkerBeat(
        identity, "orders", running, at, in_flight, processed, activity_slots=4,
        interval_s=interval_s,
    )  # fmt: skip


def ours(base: str) -> str:
    return worker_identity(base, MARKER)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def census(clock: Clock) -> MarkedWorkersCensus:
    return MarkedWorkersCensus(MARKER, clock=clock)


def test_until_a_worker_of_the_group_beats_the_census_is_left_as_the_provider_gave_it(
    census: MarkedWorkersCensus,
) -> None:
    """An older server, heartbeats off, or workers not on workerplane's runtime: the scalers go on
    taking every polling worker as full."""
    census.observe({})
    assert census.fill_in(ECS_CENSUS) == ECS_CENSUS
    census.observe({"1@host": beat("1@host", 1000.0, 2, 5)})  # unmarked: not ours
    other_group = worker_identity("2@host", WorkerMarker("shop", "v2", "other"))
    census.observe({other_group: beat(other_group, 1000.0, 2, 5)})
    assert census.fill_in(ECS_CENSUS) == ECS_CENSUS


def test_the_group_s_marked_workers_give_ready_in_flight_slots_and_completions(
    census: MarkedWorkersCensus,
) -> None:
    other_build = worker_identity("9@host", WorkerMarker("shop", "v1", "acts"))
    census.observe(
        {
            ours("1@a"): beat(ours("1@a"), 1000.0, 3, 10),
            ours("2@b"): beat(ours("2@b"), 1000.2, 1, 4),
            other_build: beat(other_build, 1000.1, 4, 50),
            "7@c": beat("7@c", 1000.0, 4, 50),
        }
    )
    filled = census.fill_in(ECS_CENSUS)
    assert (filled.ready, filled.in_flight, filled.slots) == (2, 4, 4)
    assert filled.tasks_completed == filled.tasks_finished == 14
    assert filled.running == 3 and filled.desired == 3
    # A census that counts its tasks itself (pods that report) is not touched.
    counted = WorkerCensus(running=2, ready=2, in_flight=1)
    assert census.fill_in(counted) == counted


def test_the_workers_beating_are_never_fewer_than_the_provider_runs(
    census: MarkedWorkersCensus,
) -> None:
    """The provider's count lags (a webhook receiver's last reply); a worker that beats runs."""
    census.observe({ours(f"{i}@a"): beat(ours(f"{i}@a"), 1000.0, 1, 0) for i in range(5)})
    filled = census.fill_in(WorkerCensus(running=3))
    assert (filled.running, filled.ready, filled.in_flight) == (5, 5, 5)


def test_a_silent_worker_is_gone_but_what_it_finished_stays_counted(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    """A task killed outright sends no last heartbeat, and the server keeps listing its last
    one: once no newer beat came for ``gone_after_s`` it no longer counts as ready or busy."""
    a, b = ours("1@a"), ours("2@b")
    census.observe({a: beat(a, 1000.0, 3, 10), b: beat(b, 1000.0, 2, 6)})
    for step in range(1, 12):
        clock.now += 1.0
        # b goes on beating; a's last heartbeat is listed again and again.
        census.observe({a: beat(a, 1000.0, 3, 10), b: beat(b, 1000.0 + step, 2, 6 + step)})
    filled = census.fill_in(ECS_CENSUS)
    assert clock.now - 100.0 > DEFAULT_GONE_AFTER_S
    assert (filled.ready, filled.in_flight) == (1, 2)
    assert filled.tasks_completed == 10 + 17


def test_a_worker_that_says_it_shut_down_is_gone_at_once(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    a, b = ours("1@a"), ours("2@b")
    census.observe({a: beat(a, 1000.0, 1, 10), b: beat(b, 1000.0, 2, 6)})
    clock.now += 1.0
    census.observe({a: beat(a, 1001.0, 0, 11, running=False), b: beat(b, 1001.0, 2, 6)})
    filled = census.fill_in(ECS_CENSUS)
    assert (filled.ready, filled.in_flight, filled.tasks_completed) == (1, 2, 17)


def test_a_heartbeat_far_older_than_the_read_s_newest_is_not_a_live_worker(
    census: MarkedWorkersCensus,
) -> None:
    """A controller that starts after a worker was killed sees its last heartbeat first: it is
    as old as it is, not as new as the read."""
    dead, live = ours("1@dead"), ours("2@live")
    census.observe({dead: beat(dead, 900.0, 4, 3), live: beat(live, 1000.0, 1, 0)})
    filled = census.fill_in(ECS_CENSUS)
    assert (filled.ready, filled.in_flight, filled.tasks_completed) == (1, 1, 3)


def test_forgotten_workers_keep_their_totals_and_are_not_counted_twice(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    a = ours("1@a")
    census.observe({a: beat(a, 1000.0, 0, 10, running=False)})
    clock.now += FORGET_AFTER_S + 1
    census.observe({a: beat(a, 1000.0, 0, 10, running=False)})  # forgotten here, then listed
    assert census.fill_in(ECS_CENSUS).tasks_completed == 10
    clock.now += 1
    census.observe({a: beat(a, 1000.0, 0, 10, running=False)})
    assert census.fill_in(ECS_CENSUS).tasks_completed == 10, "the old beat again adds nothing"
    # The same worker beats again after its stall: only what it finished since is new.
    census.observe({a: beat(a, 2000.0, 1, 12)})
    filled = census.fill_in(ECS_CENSUS)
    assert (filled.ready, filled.in_flight, filled.tasks_completed) == (1, 1, 12)


def test_the_mean_task_is_the_slots_held_over_the_activities_finished(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    """Little's law on each worker's own heartbeats: 4 slots held for 2 s, then 2 for 2 s, 6
    activities finished: 2 s each."""
    a = ours("1@a")
    census.observe({a: beat(a, 1000.0, 4, 0)})
    clock.now += 2
    census.observe({a: beat(a, 1002.0, 2, 2)})
    clock.now += 2
    census.observe({a: beat(a, 1004.0, 0, 6)})
    assert census.fill_in(ECS_CENSUS).mean_task_s == pytest.approx(2.0)


def test_an_unreadable_read_leaves_the_census_as_the_provider_gave_it(
    census: MarkedWorkersCensus,
) -> None:
    a = ours("1@a")
    census.observe({a: beat(a, 1000.0, 2, 1)})
    assert census.fill_in(ECS_CENSUS).in_flight == 2
    census.observe(None)
    assert census.fill_in(ECS_CENSUS) == ECS_CENSUS


def test_workers_that_beat_seldom_are_not_counted_by(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    """The SDK's default heartbeat is a minute apart: a count that old would size the group on
    tasks long finished, so the census stays unknown while such a worker beats, and counts again
    once it is gone."""
    fast, slow = ours("1@fast"), ours("2@slow")
    census.observe({fast: beat(fast, 1000.0, 1, 0), slow: beat(slow, 1000.0, 3, 9, interval_s=60)})
    assert census.fill_in(ECS_CENSUS) == ECS_CENSUS
    assert census.slow_workers() == [slow]
    clock.now += 3 * 60.0 + 1  # three of its own intervals with nothing newer: gone
    census.observe({fast: beat(fast, 1181.0, 2, 4), slow: beat(slow, 1000.0, 3, 9, interval_s=60)})
    filled = census.fill_in(ECS_CENSUS)
    assert (filled.ready, filled.in_flight, filled.tasks_completed) == (1, 2, 13)


def test_a_worker_is_gone_after_three_of_its_own_intervals_when_longer_than_the_gap(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    a = ours("1@a")
    every = MAX_COUNTING_INTERVAL_S  # slow, but still counted by
    census.observe({a: beat(a, 1000.0, 2, 0, interval_s=every)})
    clock.now += 3 * every - 1
    census.observe({a: beat(a, 1000.0, 2, 0, interval_s=every)})
    assert census.fill_in(ECS_CENSUS).ready == 1
    clock.now += 2
    assert census.fill_in(ECS_CENSUS).ready == 0


def test_the_tasks_in_flight_are_aged_between_heartbeats(
    census: MarkedWorkersCensus, clock: Clock
) -> None:
    """A burst's first seconds: no task has finished, so no mean is known, and what the tasks
    in flight have run so far is what bounds their length from below (without it, ``slo``
    took 3 s tasks for 0.1 s ones from a lagging Little's law, and sized a burst as 4,600
    slots of load). 4 start within the first interval (0.5 s each on average), run on 1 s, 2
    more start; then 1 finishes (of the mean age) and none starts."""
    a = ours("1@a")
    census.observe({a: beat(a, 1000.0, 4, 0)})
    assert census.fill_in(ECS_CENSUS).in_flight_s == pytest.approx(2.0)
    clock.now += 1
    census.observe({a: beat(a, 1001.0, 6, 0)})
    assert census.fill_in(ECS_CENSUS).in_flight_s == pytest.approx(2.0 + 4 + 2 * 0.5)
    clock.now += 1
    census.observe({a: beat(a, 1002.0, 5, 1)})
    aged = (7.0 + 6) * 5 / 6
    assert census.fill_in(ECS_CENSUS).in_flight_s == pytest.approx(aged)
