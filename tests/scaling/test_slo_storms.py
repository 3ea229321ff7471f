"""The ``slo`` scaler around storms: what its counts say when arrivals surge and stop, and the
task duration a shrinking group reports (tables on hand-made observations; scalers are pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_plan import arrivals_fell_below, arrivals_rose_above, counted_arrivals
from workerplane.scaling.types import GroupMetrics, QueueStats, SetSize, Strategy, WorkerCensus


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
