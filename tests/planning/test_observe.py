"""The fresh backlog hint raises the cached stats' backlog, and only raises it: a table."""

from __future__ import annotations

import pytest

from workerplane.planning.observe import Observation, kept_backlogs, needs_fresh_backlog
from workerplane.scaling.types import GroupMetrics, QueueStats, WorkerCensus

CENSUS = WorkerCensus(running=0, ready=0)


def observed(by_type: dict[str, int], fresh: dict[str, int]) -> Observation:
    stats = {
        kind: QueueStats(backlog_count=n, pollers=1, add_rate=0.5) for kind, n in by_type.items()
    }
    metrics = GroupMetrics(
        stats=sum(stats.values(), QueueStats()), workers=CENSUS, observed_at=0.0, by_type=stats
    )
    return Observation(census=CENSUS, metrics=metrics, fresh_backlog=fresh)


@pytest.mark.parametrize(
    ("cached", "fresh", "want_by_type", "want_total"),
    [
        ({"WORKFLOW": 0, "ACTIVITY": 0}, {}, {"WORKFLOW": 0, "ACTIVITY": 0}, 0),
        ({"WORKFLOW": 0, "ACTIVITY": 0}, {"WORKFLOW": 2}, {"WORKFLOW": 2, "ACTIVITY": 0}, 2),
        ({"WORKFLOW": 5, "ACTIVITY": 0}, {"WORKFLOW": 2}, {"WORKFLOW": 5, "ACTIVITY": 0}, 5),
        (
            {"WORKFLOW": 1, "ACTIVITY": 0},
            {"WORKFLOW": 0, "ACTIVITY": 3},
            {"WORKFLOW": 1, "ACTIVITY": 3},
            4,
        ),
        ({"ACTIVITY": 0}, {"NEXUS": 1}, {"ACTIVITY": 0, "NEXUS": 1}, 1),
    ],
)
def test_fresh_backlog_only_raises_the_cached_one(
    cached: dict[str, int], fresh: dict[str, int], want_by_type: dict[str, int], want_total: int
) -> None:
    metrics = observed(cached, fresh).with_fresh_backlog().metrics
    assert metrics is not None
    assert {k: s.backlog_count for k, s in metrics.by_type.items()} == want_by_type
    assert metrics.stats.backlog_count == want_total
    # Everything else still comes from the stats.
    assert all(s.pollers == 1 for k, s in metrics.by_type.items() if k in cached)


def test_without_metrics_the_hint_changes_nothing() -> None:
    observation = Observation(census=CENSUS, metrics=None, fresh_backlog={"WORKFLOW": 3})
    assert observation.with_fresh_backlog() is observation


def test_metrics_without_per_type_stats_take_the_summed_hint() -> None:
    metrics = GroupMetrics(stats=QueueStats(backlog_count=1), workers=CENSUS, observed_at=0.0)
    observation = Observation(census=CENSUS, metrics=metrics, fresh_backlog={"A": 2, "B": 2})
    raised = observation.with_fresh_backlog().metrics
    assert raised is not None and raised.stats.backlog_count == 4


@pytest.mark.parametrize(
    ("cached", "fresh", "read_now"),
    [
        ({"ACTIVITY": 5}, {"ACTIVITY": 7}, {"ACTIVITY"}),  # the hint's backlog: now
        ({"ACTIVITY": 5}, {"ACTIVITY": 5}, {"ACTIVITY"}),
        ({"ACTIVITY": 5}, {"ACTIVITY": 2}, set()),  # the cached copy's, as old as it is
        ({"WORKFLOW": 1, "ACTIVITY": 5}, {"ACTIVITY": 6}, {"ACTIVITY"}),  # the types read
        ({"WORKFLOW": 4, "ACTIVITY": 5}, {"WORKFLOW": 0, "ACTIVITY": 6}, {"ACTIVITY"}),
    ],
)
def test_the_backlogs_that_are_the_hint_s_are_marked_read_now(
    cached: dict[str, int], fresh: dict[str, int], read_now: set[str]
) -> None:
    observation = observed(cached, fresh)
    assert observation.metrics is not None and not observation.metrics.backlog_read_now
    metrics = observation.with_fresh_backlog().metrics
    assert metrics is not None and metrics.backlog_read_now == read_now


IDLE = {"ACTIVITY": QueueStats()}
CACHED = {"ACTIVITY": QueueStats(backlog_count=3)}


@pytest.mark.parametrize(
    ("by_type", "census", "read"),
    [
        (IDLE, WorkerCensus(running=0, ready=0), True),  # a cold group: the cache hides tasks
        (CACHED, WorkerCensus(running=0, ready=0), True),  # ... and shows a copy as old as it
        (CACHED, WorkerCensus(running=1, ready=0), True),  # its first worker starting
        (IDLE, WorkerCensus(running=2, ready=0), True),  # starting workers do not poll yet
        (IDLE, WorkerCensus(running=2, ready=2, in_flight=7, slots=4), False),  # a slot is free
        (IDLE, WorkerCensus(running=2, ready=2, in_flight=8, slots=4), True),  # none is
        (CACHED, WorkerCensus(running=2, ready=2, in_flight=8, slots=4), True),  # stale backlog
        (IDLE, WorkerCensus(running=3, ready=2, in_flight=8, slots=4), True),  # one starting
        (IDLE, WorkerCensus(running=2, ready=2, in_flight=8), False),  # slots not reported
        (IDLE, WorkerCensus(running=2, ready=None, in_flight=8, slots=4), True),  # running polls
        # In flight not counted (Lambda): read while the queue shows activity, as the scalers
        # then take every polling worker as full.
        (CACHED, WorkerCensus(running=1, ready=1, slots=4), True),
        ({"ACTIVITY": QueueStats(dispatch_rate=3.0)}, WorkerCensus(running=1, ready=1), True),
        (IDLE, WorkerCensus(running=1, ready=1, slots=4), False),
    ],
)
def test_the_hint_is_read_when_no_slot_is_free_to_take_a_new_task(
    by_type: dict[str, QueueStats], census: WorkerCensus, read: bool
) -> None:
    assert needs_fresh_backlog(by_type, census) is read


@pytest.mark.parametrize(
    ("cached", "hint", "census", "kept"),
    [
        (40, 20, WorkerCensus(running=10, ready=5, slots=4), 20),  # 5 handlers took 20 of it
        (35, 28, WorkerCensus(running=12, ready=3, slots=4), 28),  # the hint is the floor
        (40, 10, WorkerCensus(running=2, ready=2, slots=4), 32),
        (40, 20, WorkerCensus(running=0, ready=0, slots=4), 40),  # none polls: none took any
        (40, 20, WorkerCensus(running=5, ready=5, in_flight=20, slots=4), 40),  # counted
        (40, 20, WorkerCensus(running=5, ready=5), 35),  # slots unknown: one each
        (10, 20, WorkerCensus(running=5, ready=5, slots=4), 10),  # below the hint: raised anyway
    ],
)
def test_a_cached_backlog_above_the_hint_is_kept_unless_assumed_polling_slots_took_it(
    cached: int, hint: int, census: WorkerCensus, kept: int
) -> None:
    assert kept_backlogs({"ACTIVITY": (cached, hint)}, census) == {"ACTIVITY": max(kept, hint)}
    metrics = GroupMetrics(
        stats=QueueStats(backlog_count=cached),
        workers=census,
        observed_at=0.0,
        by_type={"ACTIVITY": QueueStats(backlog_count=cached)},
    )
    raised = Observation(census=census, metrics=metrics, fresh_backlog={"ACTIVITY": hint})
    got = raised.with_fresh_backlog().metrics
    assert got is not None and got.stats.backlog_count == max(kept, hint)


def test_workflow_tasks_a_handler_ran_are_counted_once_across_the_types() -> None:
    """A second wave of 40 on Lambda: the cached copy still shows the 40 workflow tasks, the hint
    shows none of them and 12 activities, and seven handlers are taken to hold 28. The 40
    workflows are 28 activities in flight and 12 waiting; per type, 12 of the cached workflow
    tasks were kept as well (24 sized)."""
    census = WorkerCensus(running=7, ready=7, slots=4)
    read = {"WORKFLOW": (40, 0), "ACTIVITY": (0, 12)}
    assert kept_backlogs(read, census) == {"WORKFLOW": 0, "ACTIVITY": 12}
    # Where the handlers cannot account for the cached tasks, the rest is kept.
    assert kept_backlogs(read, WorkerCensus(running=2, ready=2, slots=4)) == {
        "WORKFLOW": 20,
        "ACTIVITY": 12,
    }


def test_where_in_flight_is_counted_the_tasks_started_since_the_copy_are_netted() -> None:
    """40 workflows at once on Lambda with heartbeats (a default-settings server): the cached
    copy still shows the 40 workflow tasks; since it first appeared, 27 tasks started (the
    census counts them) and the hint shows 13 activities waiting. 53 were counted for 40."""
    census = WorkerCensus(running=7, ready=7, in_flight=27, slots=4, tasks_completed=0)
    read = {"WORKFLOW": (40, 0), "ACTIVITY": (0, 13)}
    assert kept_backlogs(read, census, {"WORKFLOW": 27, "ACTIVITY": 27}) == {
        "WORKFLOW": 0,
        "ACTIVITY": 13,
    }
    # Started since the copy first appeared is a lower bound: fewer counted, more kept.
    assert kept_backlogs(read, census, {"WORKFLOW": 20, "ACTIVITY": 27}) == {
        "WORKFLOW": 7,
        "ACTIVITY": 13,
    }
    # Unknown since when: kept whole, as before.
    assert kept_backlogs(read, census) == {"WORKFLOW": 40, "ACTIVITY": 13}
