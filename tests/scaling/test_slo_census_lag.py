"""The ``slo`` scaler when the census lags the queue: a census counted from the workers'
heartbeats (ECS, Cloud Run, webhook, Lambda) is up to a heartbeat old, so tasks can leave the queue
before any count shows them started. Replays the decisions of a real webhook group on a fast-stats
server (``bench/remote_census.py --timeline``), where that lag read a burst's first tasks as no
work at all and the group went 0 -> 2 -> 0 -> 2 -> 5 -> 0 -> 7 within five seconds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_inflight import census_lag
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus


def burst_began() -> tuple[SloScaler, SloState]:
    """3 s tasks learned from an earlier burst, a quiet minute since; the last fresh reading
    (one second ago) saw 3 tasks waiting and none running, and asked for 2 workers."""
    s = build_scaler("slo", {"max_count": 10, "feedback": False}, Strategy.WORKER_SET)
    assert isinstance(s, SloScaler)
    state = replace(
        s.initial_state(0.0), duration_s=3.24, load=0.0, slow_load=0.0, slots=4.0,
        startup_ms=1300.0, reported_s=3.24, reported_n=60.0, arrival_rate=0.05,
        arrival_sample=3.0, fresh_ms=61_000, fresh_backlog=3.0, fresh_in_flight=0.0,
        backlog_est=3.0, last_ms=61_000, last_in_flight=0.0, last_completed=60, size=2,
        last_up_ms=61_000, window=((61_000, 2),),
        last_stats=QueueStats(backlog_count=3, add_rate=0.1, dispatch_rate=0.1),
    )  # fmt: skip
    return s, state


def fresh_reading(waiting: int, running: int, ready: int, in_flight: int) -> GroupMetrics:
    stats = QueueStats(backlog_count=waiting, add_rate=0.2, dispatch_rate=0.2)
    census = WorkerCensus(
        running=running, ready=ready, in_flight=in_flight, slots=4, tasks_completed=60,
        in_flight_lag_s=1.0,
    )  # fmt: skip
    return GroupMetrics(stats, census, 62.0, backlog_read_now=frozenset({"*"}))


def test_tasks_that_left_the_queue_before_the_census_shows_them_are_running() -> None:
    """The 3 waiting tasks are gone from the queue and the heartbeats still say nothing runs:
    the 2 new workers took them. Their group is not idle, and is not released."""
    s, state = burst_began()
    _, size, why = s.desired(state, fresh_reading(0, 2, 2, 0), 62_000, 2)
    assert size >= 1, why
    assert "released" not in why and "in_flight=3" in why


def test_a_census_that_agrees_with_the_queue_is_taken_as_it_is() -> None:
    """The same reading with the 3 tasks counted in flight: nothing to correct. A census read as
    it is (status files: no lag) is never corrected: tasks that vanish from it are no lag."""
    s, state = burst_began()
    _, size, why = s.desired(state, fresh_reading(0, 2, 2, 3), 62_000, 2)
    assert size >= 1 and "in_flight=3" in why, why
    current = fresh_reading(0, 2, 2, 0)
    current = replace(current, workers=replace(current.workers, in_flight_lag_s=0.0))
    _, _, why = s.desired(state, current, 62_000, 2)
    assert "in_flight=0" in why, why


def test_the_count_of_arrivals_waits_for_the_census_to_catch_up() -> None:
    """The lagging reading counts no arrivals (not a burst that stopped): the next reading, with
    the heartbeats caught up, counts the 3 tasks and 2 more over the two seconds."""
    s, state = burst_began()
    lagging, _, _ = s.desired(state, fresh_reading(0, 2, 2, 0), 62_000, 2)
    assert lagging.fresh_ms == 61_000 and not lagging.count_fell
    caught_up = replace(fresh_reading(0, 2, 2, 5), observed_at=63.0)
    counted, _, _ = s.desired(lagging, caught_up, 63_000, 2)
    assert counted.fresh_ms == 63_000
    assert counted.arrival_sample is not None and 0.9 <= counted.arrival_sample <= 1.1


def test_a_gap_that_stays_past_a_few_heartbeats_is_no_lag() -> None:
    """A worker that exited before its last heartbeat counted its last tasks leaves a gap that
    never closes: after three heartbeat intervals the reading is taken as it is."""
    s, state = burst_began()
    state = replace(state, lagging_since_ms=58_000)
    st, _, why = s.desired(state, fresh_reading(0, 2, 2, 0), 62_000, 2)
    assert st.fresh_ms == 62_000 and st.lagging_since_ms is None
    assert "in_flight=0" in why, why


@pytest.mark.parametrize(
    ("came", "lag_s", "since", "now", "lagging"),
    [
        (-3.0, 1.0, None, 10_000, 10_000),  # starts lagging now
        (-3.0, 1.0, 8_000, 10_000, 8_000),  # still, within 3 beats
        (-3.0, 1.0, 6_000, 10_000, None),  # 4 s: no lag any more
        (-3.0, 0.0, None, 10_000, None),  # a census read as it is never lags
        (2.0, 1.0, 8_000, 10_000, None),  # it caught up
    ],
)
def test_census_lag(
    came: float, lag_s: float, since: int | None, now: int, lagging: int | None
) -> None:
    assert census_lag(came, lag_s, since, now) == lagging
