"""``slo`` on sparse load of long tasks (tables on hand-made observations; scalers are pure).

* The queue projection counts what a free slot does at once: it takes a waiting task the moment
  it polls. Counted as slot-seconds over the task length alone, a slot served a fraction of a
  long task within the horizon, and one long task waiting looked like a queue that several
  workers must drain.
* A cold group's first worker for a few tasks starts as late as the oldest task's target allows,
  and so do a storm's workers when the group's tasks come back within that time.
"""

from __future__ import annotations

from dataclasses import replace

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus

NOW_MS = 1_000_000


def learned(
    duration_s: float, workers: int, in_flight: int, slo_ms: int = 5_000
) -> tuple[SloScaler, SloState]:
    """A group at a ``slo_ms`` SLO that has learned its tasks take ``duration_s`` on 4-slot
    workers, has seen one task every two minutes, and now runs ``in_flight`` tasks on ``workers``
    workers."""
    s = build_scaler(
        "slo",
        {"max_count": 100, "schedule_to_start_slo_ms": slo_ms, "feedback": False},
        Strategy.WORKER_SET,
    )
    assert isinstance(s, SloScaler)
    state = replace(
        s.initial_state(0.0), duration_s=duration_s, load=float(in_flight),
        slow_load=float(in_flight), slots=4.0, startup_ms=2000.0, reported_s=duration_s,
        reported_n=20.0, arrival_rate=1 / 120, arrival_sample=0.0, fresh_ms=NOW_MS - 1000,
        fresh_backlog=0.0, fresh_in_flight=float(in_flight), last_ms=NOW_MS - 1000,
        last_in_flight=float(in_flight), last_completed=20, size=workers,
        recent=((NOW_MS - 1000, float(in_flight)),),
        last_stats=QueueStats(backlog_count=0, add_rate=0.0, dispatch_rate=0.0),
    )  # fmt: skip
    return s, state


def arrived(
    s: SloScaler,
    state: SloState,
    waiting: int,
    workers: int,
    in_flight: int,
    age_s: float = 0.5,
    now_ms: int = NOW_MS,
) -> int:
    """Fresh stats: ``waiting`` tasks, the oldest ``age_s`` old; nothing completed."""
    stats = QueueStats(backlog_count=waiting, backlog_age_s=age_s, add_rate=0.0, dispatch_rate=0.0)
    census = WorkerCensus(
        running=workers, ready=workers, in_flight=in_flight, desired=workers, slots=4,
        tasks_completed=20,
    )  # fmt: skip
    _, size, _ = s.desired(state, GroupMetrics(stats, census, 1000.0), now_ms, workers)
    return size


def test_one_long_task_on_an_idle_queue_gets_one_worker() -> None:
    """One 35 s task lands on an idle group: one new worker starts it at its first poll, 2 s on.
    Counted as slot-seconds, a new worker served 0.1 of it over the 3 s horizon, so the plan
    asked three workers and let two go four seconds later (sparse 60 s tasks: 1.2x the cost of
    Temporal's no-sync with idle exit, in the lab)."""
    s, state = learned(duration_s=35.0, workers=0, in_flight=0)
    assert arrived(s, state, waiting=1, workers=0, in_flight=0) == 1


def test_a_task_waiting_beside_free_slots_needs_no_worker() -> None:
    """One worker runs one 60 s task and has three slots free: the two tasks the stats show
    waiting start at its next poll (cached stats, or another partition), with no new worker."""
    s, state = learned(duration_s=60.0, workers=1, in_flight=1)
    assert arrived(s, state, waiting=2, workers=1, in_flight=1) == 1


def test_a_queue_longer_than_the_free_slots_still_grows() -> None:
    """Ten 60 s tasks waiting beside three free slots: seven wait a task's length unless new
    workers come, so the group grows (to two more workers at least)."""
    s, state = learned(duration_s=60.0, workers=1, in_flight=1)
    assert arrived(s, state, waiting=10, workers=1, in_flight=1) >= 3


def test_a_cold_group_s_first_worker_waits_while_the_slo_allows() -> None:
    """At a 30 s SLO (target 18 s) one 35 s task lands on a cold group: its worker can start at
    any observation that still polls in time, so it waits and a task that comes meanwhile shares
    it. Once a worker asked a poll later would poll too late, it starts."""
    s, state = learned(duration_s=35.0, workers=0, in_flight=0, slo_ms=30_000)
    assert arrived(s, state, waiting=1, workers=0, in_flight=0, age_s=0.5) == 0
    assert arrived(s, state, waiting=1, workers=0, in_flight=0, age_s=16.0) == 1


def test_no_first_worker_waits_where_a_cold_start_barely_meets_the_slo() -> None:
    """At 5 s (target 3 s) a worker asked a poll later would poll too late: it starts now."""
    s, state = learned(duration_s=35.0, workers=0, in_flight=0)
    assert arrived(s, state, waiting=1, workers=0, in_flight=0, age_s=0.0) == 1


def test_a_storm_on_a_cold_group_is_not_deferred() -> None:
    """Twenty tasks are more than one worker's slots: deferring them would only make more start
    in less time (a fan-out at 30 s cost 46 % more)."""
    s, state = learned(duration_s=35.0, workers=0, in_flight=0, slo_ms=30_000)
    assert arrived(s, state, waiting=20, workers=0, in_flight=0, age_s=0.5) >= 5


def test_a_storm_waits_for_the_tasks_that_come_back_within_its_target() -> None:
    """Eight 2 s tasks on a cold group at a 30 s SLO (target 18 s) whose idle stretches last
    6-7 s: a worker started now would serve them in 6 s, so the next storm lands about 12.5 s
    on, while these can still wait (14 s), and shares its start. Until the oldest task's
    target leaves no more time. Twenty tasks take one worker 12 s: the next storm would land
    after the wait, and nothing is deferred."""
    s, state = learned(duration_s=2.0, workers=0, in_flight=0, slo_ms=30_000)
    state = replace(state, idle_gaps=(6.0, 7.0))
    assert arrived(s, state, waiting=8, workers=0, in_flight=0, age_s=0.5) == 0
    assert arrived(s, state, waiting=8, workers=0, in_flight=0, age_s=17.0) >= 1
    assert arrived(s, state, waiting=20, workers=0, in_flight=0, age_s=0.5) >= 1


def test_a_storm_nothing_follows_is_not_deferred() -> None:
    """The same storm on a group idle for minutes between storms: waiting only has more tasks
    start in less time."""
    s, state = learned(duration_s=2.0, workers=0, in_flight=0, slo_ms=30_000)
    state = replace(state, idle_gaps=(120.0, 180.0))
    assert arrived(s, state, waiting=8, workers=0, in_flight=0, age_s=0.5) >= 1


def test_no_storm_waits_where_the_slo_leaves_no_margin_for_a_late_start() -> None:
    """At 5 s a storm is not deferred, however soon its tasks come back."""
    s, state = learned(duration_s=2.0, workers=0, in_flight=0)
    state = replace(state, idle_gaps=(1.0, 1.0))
    assert arrived(s, state, waiting=20, workers=0, in_flight=0, age_s=0.0) >= 1


def test_a_storm_that_goes_on_arriving_is_not_deferred_past_its_first_reading() -> None:
    """The same group, but the tasks go on arriving: 8 waiting, then 12 a second later. The
    first reading cannot tell a storm from a stream and waits; the second starts workers. A
    storm that stood still for a reading waits, and so does the next storm that lands on it."""
    s, state = learned(duration_s=2.0, workers=0, in_flight=0, slo_ms=30_000)
    state = replace(state, idle_gaps=(2.0, 3.0))

    def observe(state: SloState, waiting: int, age_s: float, now_ms: int) -> tuple[SloState, int]:
        stats = QueueStats(
            backlog_count=waiting, backlog_age_s=age_s, add_rate=0.0, dispatch_rate=0.0
        )
        census = WorkerCensus(
            running=0, ready=0, in_flight=0, desired=0, slots=4, tasks_completed=20
        )
        next_state, size, _ = s.desired(state, GroupMetrics(stats, census, 1000.0), now_ms, 0)
        return next_state, size

    streaming, size = observe(state, 8, 0.5, NOW_MS)
    assert size == 0
    _, size = observe(streaming, 12, 1.5, NOW_MS + 1000)
    assert size >= 1
    landed, _ = observe(streaming, 8, 1.5, NOW_MS + 1000)
    _, size = observe(landed, 12, 2.5, NOW_MS + 2000)
    assert size == 0
