"""The ``slo`` scaler around storms: what its counts say when arrivals surge and stop, and the
task duration a shrinking group reports (tables on hand-made observations; scalers are pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_arrivals import (
    arrivals_fell_below,
    arrivals_rose_above,
    counted_arrivals,
)
from workerplane.scaling.slo_shrink import starting_not_needed
from workerplane.scaling.types import (
    ALL_TYPES,
    GroupMetrics,
    QueueStats,
    SetSize,
    Strategy,
    WorkerCensus,
)


def slo(**details: object) -> SloScaler:
    s = build_scaler(
        "slo", {"max_count": 100, "schedule_to_start_slo_ms": 5000, **details}, Strategy.WORKER_SET
    )
    assert isinstance(s, SloScaler)
    return s


@pytest.mark.parametrize(
    ("rate", "arrived", "span_s", "fell"),
    [
        (100.0, 0.0, 1.0, True),  # a storm's end: 100/s expected, none came
        (100.0, 75.0, 1.0, False),  # within 3 sigma of 100
        (100.0, 65.0, 1.0, True),
        (3.0, 0.0, 1.0, False),  # a quiet second of 3/s is noise
        (3.0, 0.0, 5.0, True),  # five quiet seconds are not
        (0.0, 0.0, 1.0, False),
    ],
)
def test_arrivals_fell_below(rate: float, arrived: float, span_s: float, fell: bool) -> None:
    assert arrivals_fell_below(rate, arrived, span_s) is fell


@pytest.mark.parametrize(
    ("rate", "arrived", "span_s", "rose"),
    [
        (0.3, 241.0, 1.0, True),  # a storm's first second on a quiet queue
        (0.3, 1.0, 1.0, False),  # one task of a trickle
        (0.0, 3.0, 1.0, False),  # a few tasks are not a surge
        (0.0, 4.0, 1.0, True),
        (100.0, 120.0, 1.0, False),  # within 3 sigma of 100
        (100.0, 140.0, 1.0, True),
    ],
)
def test_arrivals_rose_above(rate: float, arrived: float, span_s: float, rose: bool) -> None:
    assert arrivals_rose_above(rate, arrived, span_s) is rose


@pytest.mark.parametrize(
    ("fresh", "started", "dt_s", "windows"),
    [
        # cached stats 3 s after fresh ones that saw 10 waiting and 20 running; 50 started or
        # running since, 4 of them in the last second (2 were waiting then)
        (False, 4.0, 1.0, [(20.0, 3.0), (2.0, 1.0)]),
        (True, 4.0, 1.0, [(2.0, 1.0)]),  # fresh stats: only the last second is counted
        (False, None, 1.0, [(20.0, 3.0)]),  # no running total of completions
        (False, 1.0, 1.0, [(20.0, 3.0), (0.0, 1.0)]),  # never below zero
    ],
)
def test_counted_arrivals(
    fresh: bool, started: float | None, dt_s: float, windows: list[tuple[float, float]]
) -> None:
    state = SloState(fresh_ms=0, fresh_backlog=10.0, fresh_in_flight=20.0, backlog_est=2.0)
    assert counted_arrivals(state, fresh, started, 50.0, 3000, dt_s) == windows


def census(ready: int, in_flight: int, completed: int, **kw: object) -> WorkerCensus:
    return WorkerCensus(
        running=ready, ready=ready, in_flight=in_flight, desired=ready, slots=4,
        tasks_completed=completed, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_storm_on_an_idle_queue_is_counted_from_the_last_reading_that_nothing_waited() -> None:
    """The idle queue's stats stopped changing minutes ago; the uncached reading said nothing
    waits one poll before 241 tasks show. Counted from the last fresh stats (300 s), that is
    0.8 tasks/s; counted from that reading, a storm of 241/s, carried on while stats are cached."""
    s = slo()
    idle = QueueStats()
    st = replace(
        s.initial_state(0.0), duration_s=2.0, load=0.0, slots=4.0, arrival_rate=0.0,
        fresh_ms=0, last_ms=299_000, last_completed=0, reported_s=2.0, reported_n=500.0,
    )  # fmt: skip
    st, _ = s.decide(st, GroupMetrics(idle, census(0, 0, 0), 300.0), 300.0)
    assert st.fresh_ms == 300_000
    storm = QueueStats(backlog_count=241, backlog_age_s=0.9)
    st, dec = s.decide(st, GroupMetrics(storm, census(0, 0, 0), 301.0), 301.0)
    assert st.surge_rate == pytest.approx(241.0)
    assert isinstance(dec, SetSize) and dec.size >= 30
    # One worker polls now (the reading stops); the stats are the cached copy: the surge goes on.
    st, _ = s.decide(st, GroupMetrics(storm, census(1, 4, 0), 302.0), 302.0)
    assert st.backlog_est >= 241 + 241 - 4 - 1


def test_a_storm_s_end_releases_its_idle_workers_without_the_window() -> None:
    """Cached stats, 40 workers, 100 tasks/s counted until now; in the last second no task
    started and 60 completed: the arrivals have stopped, so the idle workers go now rather than
    after the scale-down window (the storm's workers idled through it)."""
    s = slo()
    st = replace(
        s.initial_state(0.0), duration_s=2.0, load=160.0, slow_load=160.0, slots=4.0,
        arrival_rate=100.0, arrival_sample=100.0, fresh_ms=10_000, fresh_in_flight=160.0,
        last_ms=12_000, last_in_flight=160.0, last_completed=500, recent=((12_000, 160.0),),
        window=((11_000, 40), (12_000, 40)), size=40, startup_ms=2000.0, reported_s=2.0,
        reported_n=500.0, last_stats=QueueStats(add_rate=100.0, dispatch_rate=100.0),
    )  # fmt: skip
    stats = QueueStats(add_rate=100.0, dispatch_rate=100.0)
    st, dec = s.decide(st, GroupMetrics(stats, census(40, 100, 560), 13.0), 13.0)
    assert st.release_now
    assert isinstance(dec, SetSize) and dec.size == 25  # the workers the tasks in flight fill


def test_the_duration_is_not_learned_from_a_shrinking_group_s_last_survivors() -> None:
    """400 tasks averaged 5 s; the group shrank, keeping the workers whose tasks ran longest,
    and the 3 tasks of the last survivor average 12 s: not a sample of the next storm's tasks."""
    s = slo()
    stats = QueueStats()
    st = s.initial_state(0.0)
    st, _ = s.decide(
        st, GroupMetrics(stats, census(40, 0, 400, mean_task_s=5.0, tasks_finished=400), 0.0), 0.0
    )
    assert st.duration_s == 5.0
    tail = census(1, 0, 400, mean_task_s=12.0, tasks_finished=3)
    st, _ = s.decide(st, GroupMetrics(stats, tail, 20.0), 20.0)
    assert st.duration_s == 5.0
    # Much later, a sample of its own size is trusted again (the old one has decayed).
    st, _ = s.decide(st, GroupMetrics(stats, tail, 1000.0), 1000.0)
    assert st.duration_s == 12.0


@pytest.mark.parametrize(
    ("in_flight_s", "duration_s"),
    [
        (None, 0.2),  # workers that do not report their tasks' ages: the finished mean
        (0.0, 0.2),  # the tasks in flight just started
        # 90 short tasks finished (0.2 s each, 18 s); 10 long ones have run 30 s each (300 s):
        # every task started so far averages at least 318 / 100 s.
        (300.0, 3.18),
        # Nothing finished yet: the tasks' ages alone (a storm's first seconds) are no estimate.
        (300.0, None),
    ],
)
def test_the_duration_is_at_least_what_the_tasks_started_so_far_average(
    in_flight_s: float | None, duration_s: float | None
) -> None:
    """A bimodal load's short tasks finish first: the finished mean says 0.2 s while 60 s tasks
    hold the slots. How long those have run so far bounds the mean from below."""
    s = slo()
    finished = 90 if duration_s is not None else 0
    mean = 0.2 if finished else None
    early = census(3, 10, 90, mean_task_s=mean, tasks_finished=finished, in_flight_s=in_flight_s)
    st, _ = s.decide(s.initial_state(0.0), GroupMetrics(QueueStats(), early, 30.0), 30.0)
    assert st.duration_s == (None if duration_s is None else pytest.approx(duration_s))


@pytest.mark.parametrize(("rate", "size"), [(39.3, 12), (0.0, 12)])
def test_a_shrink_floor_never_grows_the_group(rate: float, size: int) -> None:
    """12 workers warmed for a scheduled storm, whose 500 tasks landed 3 s ago at 100/s; fresh
    stats show 351 waiting at a 30 s SLO. The queue drains in time on what runs: the load the
    counted rate fills (39/s of 1.7 s tasks, 16 workers) is a floor of a shrink, not a reason to
    grow (it grew the group to 16, then 18, mid-run). The workers the tasks in flight fill (12)
    stay a floor."""
    s = slo(schedule_to_start_slo_ms=30_000)
    st = replace(
        s.initial_state(0.0), duration_s=1.7, load=48.0, slow_load=48.0, slots=4.0,
        arrival_rate=rate, arrival_sample=100.0, fresh_ms=30_000, last_ms=34_000,
        last_in_flight=48.0, last_completed=100, recent=((34_000, 48.0),), size=12,
        startup_ms=2000.0, reported_s=1.7, reported_n=100.0, last_stats=QueueStats(),
    )  # fmt: skip
    stats = QueueStats(backlog_count=351, backlog_age_s=4.0, add_rate=rate, dispatch_rate=rate)
    _, dec = s.decide(st, GroupMetrics(stats, census(12, 48, 101), 35.0), 35.0)
    assert not isinstance(dec, SetSize) or dec.size == size


# ------------------------------------------------------------ a storm's tail, at a 30 s SLO


def storm_at_30s() -> tuple[SloScaler, SloState]:
    """500 tasks landed by 33 s (the hint's last reading); one worker polls, 4 tasks run."""
    s = slo(schedule_to_start_slo_ms=30_000)
    state = replace(
        s.initial_state(0.0), duration_s=2.0, load=80.0, slow_load=0.0, slots=4.0,
        startup_ms=2000.0, reported_s=2.0, reported_n=500.0, arrival_rate=80.0,
        arrival_sample=240.0, fresh_ms=33_000, fresh_backlog=500.0, fresh_in_flight=0.0,
        backlog_est=500.0, tail_ms=33_000, last_ms=34_000, last_in_flight=4.0, last_completed=0,
        last_stats=QueueStats(backlog_count=500, add_rate=80.0), recent=((34_000, 4.0),),
    )  # fmt: skip
    return s, state


FRESH_493 = QueueStats(backlog_count=493, backlog_age_s=5.0, add_rate=100.0, dispatch_rate=2.0)


def one_polling(asked: int) -> WorkerCensus:
    return WorkerCensus(
        running=asked, ready=1, in_flight=4, desired=asked, slots=4, tasks_completed=0
    )


def test_a_storm_s_aged_tail_is_planned_on_the_workers_asked_now() -> None:
    """Fresh stats at 35 s count no arrival since 33 s (493 wait, 4 run, of 500): the storm has
    stopped, its newest task is 2 s old already. The group is sized for it to start within the
    target (18 workers), not held at 1 worker for a top-up a later cycle would ask once the
    tail is older still (1 worker for 9 s, p95 31.9 s at a 30 s SLO). While arrivals go on,
    the newest waiting task is taken as new: the 493 must still start within the target, with
    no age counted (16 workers)."""
    s, state = storm_at_30s()
    st, size, why = s.desired(state, GroupMetrics(FRESH_493, one_polling(1), 35.0), 35_000, 1)
    assert st.count_fell and size == 18, why
    going = replace(state, fresh_backlog=300.0)  # 197 more came since 33 s
    st, size, why = s.desired(going, GroupMetrics(FRESH_493, one_polling(1), 35.0), 35_000, 1)
    assert not st.count_fell and size == 16, why


def test_starting_workers_a_fresh_count_does_not_need_go_at_once() -> None:
    """At 34 s the surge carried past the storm's end estimated 933 waiting and asked for 25
    workers; the fresh stats at 35 s count 493. The 24 still starting are not all needed: the
    group goes to 17 now (without the scale-down window), the one polling keeps draining."""
    s, state = storm_at_30s()
    state = replace(state, size=25, last_up_ms=34_000, window=((34_000, 25),))
    st, dec = s.decide(state, GroupMetrics(FRESH_493, one_polling(25), 35.0), 35.0)
    assert isinstance(dec, SetSize) and dec.size == 17 and st.release_now


@pytest.mark.parametrize(
    ("planned", "current", "ready", "starting", "busy", "size"),
    [
        (17, 25, 1, 24, 1.0, 17),
        (11, 13, 2, 11, 2.0, 13),  # 2 of 13: noise of the plan, not worth a relaunch
        (5, 25, 10, 15, 12.0, 12),  # never below the workers the tasks in flight fill
        (5, 25, 20, 5, 20.0, 25),  # those that poll stay
        (5, 25, 10, 15, 11.5, 12),  # a worker half filled is needed
    ],
)
def test_starting_not_needed(
    planned: int, current: int, ready: int, starting: int, busy: float, size: int
) -> None:
    assert starting_not_needed(planned, current, ready, starting, busy) == size


def test_a_fresh_count_of_no_arrivals_releases_a_storm_s_idle_workers() -> None:
    """At 55 s the fresh stats count no arrival in the 5 s since the last (94 waited and 56
    ran then; 134 completed, 16 run, none waits) where 18/s came before: the storm stopped, so
    the idle workers go now, not after the scale-down window (14 workers held 4 s idle, then
    let go one by one). At 1 task/s, 5 quiet seconds are noise: the window holds them."""
    s, state = storm_at_30s()
    state = replace(
        state, load=35.0, slow_load=35.0, arrival_rate=18.0, arrival_sample=18.0,
        fresh_ms=50_000, fresh_backlog=94.0, fresh_in_flight=56.0, backlog_est=0.0,
        tail_ms=None, last_ms=54_000, last_in_flight=35.0, last_completed=900, size=14,
        recent=((54_000, 35.0),), window=((53_000, 14), (54_000, 14)),
        last_stats=QueueStats(backlog_count=94, add_rate=18.0),
    )  # fmt: skip
    stats = QueueStats(add_rate=5.0, dispatch_rate=15.0)
    st, dec = s.decide(state, GroupMetrics(stats, census(14, 16, 1034), 55.0), 55.0)
    assert st.count_fell and st.release_now
    assert isinstance(dec, SetSize) and dec.size == 4  # the workers the tasks in flight fill
    quiet = replace(state, arrival_rate=1.0, arrival_sample=1.0)
    st, dec = s.decide(quiet, GroupMetrics(stats, census(14, 16, 1034), 55.0), 55.0)
    assert not st.count_fell and not st.release_now
    assert not isinstance(dec, SetSize) or dec.size == 14


def test_a_lower_backlog_read_uncached_is_current_not_a_cached_copy() -> None:
    """34 busy workers mid-storm; the last reading (the hint) saw 281 waiting, this one sees 100
    with the same cached rates. Read uncached, 100 is what waits: not the cached copy that a
    hint no longer read leaves behind, from which the estimate would carry the storm's rate on
    (281 -> 450 -> 615 estimated while the storm had ended)."""
    s = slo()
    cached = QueueStats(backlog_count=281, backlog_age_s=1.0, add_rate=50.0, dispatch_rate=40.0)
    state = replace(
        s.initial_state(0.0), duration_s=1.9, load=136.0, slow_load=136.0, slots=4.0,
        startup_ms=2000.0, reported_s=1.9, reported_n=500.0, arrival_rate=200.0,
        arrival_sample=250.0, surge_rate=250.0, fresh_ms=932_000, fresh_backlog=281.0,
        fresh_in_flight=136.0, backlog_est=281.0, last_ms=932_000, last_in_flight=136.0,
        last_completed=40, last_stats=cached, recent=((932_000, 136.0),), size=34,
    )  # fmt: skip
    now = replace(cached, backlog_count=100)
    read = GroupMetrics(now, census(34, 136, 110), 933.0, backlog_read_now=frozenset({ALL_TYPES}))
    st, _, _ = s.desired(state, read, 933_000, 34)
    assert st.backlog_est == 100.0
    copy = GroupMetrics(now, census(34, 136, 110), 933.0)
    st, _, _ = s.desired(state, copy, 933_000, 34)
    assert st.backlog_est > 281.0


def test_a_fan_out_of_tasks_longer_than_the_target_keeps_the_workers_starting_for_it() -> None:
    """A fan-out of 3.8 s tasks at a 5 s SLO: 9 workers poll, their 36 slots just filled, 4
    more are starting; fresh, the hint counts 43 waiting. The fluid plan counts busy slots as
    freeing evenly and says 9 workers start the newest in time, but 20 slots started their task
    within the last second (a young cohort) and none frees for 3 s: the 4 starting workers are
    the ones the waiting tasks need (cut to 9, 25 of the fan-out's 79 tasks waited over 5 s)."""
    s = slo(feedback=False)
    state = replace(
        s.initial_state(0.0), duration_s=3.84, load=26.0, slow_load=26.0, slots=4.0,
        startup_ms=2100.0, reported_s=3.84, reported_n=300.0, arrival_rate=2.0,
        arrival_sample=10.0, fresh_ms=2429_000, fresh_backlog=63.0, fresh_in_flight=16.0,
        backlog_est=63.0, last_ms=2429_000, last_in_flight=16.0, last_completed=500,
        size=13, last_up_ms=2428_000, window=((2428_000, 13),), recent=((2429_000, 16.0),),
        last_stats=QueueStats(backlog_count=63, add_rate=2.0),
    )  # fmt: skip
    nine_of_13 = WorkerCensus(
        running=13, ready=9, in_flight=36, desired=13, slots=4, tasks_completed=500
    )
    stats = QueueStats(backlog_count=43, add_rate=2.0)
    read = GroupMetrics(stats, nine_of_13, 2430.0, backlog_read_now=frozenset({ALL_TYPES}))
    _, size, why = s.desired(state, read, 2430_000, 13)
    assert size == 13, why


def test_a_storm_s_last_worker_goes_once_a_fresh_count_says_the_arrivals_stopped() -> None:
    """A storm of 40 tasks/s ended; its last worker is idle, nothing runs or waits. The rate's
    average still says 40/s, a task every 25 ms, where ski rental keeps a worker warm. The last
    fresh count saw none arrive: the worker goes now, not a startup later (2.5 s idle after each
    storm of the policy lab's scheduled storm). Without that count, it is kept warm."""
    s = slo()
    empty = QueueStats(backlog_count=0, add_rate=0.0, dispatch_rate=0.0)
    ended = replace(
        s.initial_state(0.0), duration_s=2.0, load=0.0, slow_load=0.0, slots=4.0,
        startup_ms=2000.0, reported_s=2.0, reported_n=500.0, arrival_rate=40.0,
        arrival_sample=0.0, count_fell=True, fresh_ms=910_000, fresh_backlog=0.0,
        fresh_in_flight=0.0, backlog_est=0.0, last_ms=911_000, last_in_flight=0.0,
        last_completed=500, last_stats=empty, recent=((911_000, 0.0),), size=1,
        idle_since_ms=911_000,
    )  # fmt: skip
    metrics = GroupMetrics(empty, census(1, 0, 500), 912.0)
    st, size, reason = s.desired(ended, metrics, 912_000, 1)
    assert size == 0 and st.release_now, reason
    going_on = replace(ended, arrival_sample=40.0, count_fell=False)
    st, size, reason = s.desired(going_on, metrics, 912_000, 1)
    assert size == 1 and "kept warm" in reason, reason
