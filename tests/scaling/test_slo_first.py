"""The ``slo`` scaler before it knows how long a task takes (:mod:`workerplane.scaling.slo_first`):
a first share of the waiting tasks while the SLO leaves time to learn, a slot each once the oldest
task's deadline is near (hand-made observations; scalers are pure)."""

from __future__ import annotations

import pytest

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_first import deadline_passed, first_share, still_waiting
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus


def slo(slo_ms: int) -> SloScaler:
    s = build_scaler(
        "slo",
        {"max_count": 100, "schedule_to_start_slo_ms": slo_ms, "worker_startup_ms": 2000},
        Strategy.WORKER_SET,
    )
    assert isinstance(s, SloScaler)
    return s


@pytest.mark.parametrize(
    ("target_s", "share"),
    [
        (18.0, 1 / 6),  # a 30 s SLO: a start and a poll (3 s) of an 18 s target
        (6.0, 0.5),
        (3.0, 1.0),  # a 5 s SLO: the start takes the whole target
        (0.0, 1.0),
    ],
)
def test_first_share(target_s: float, share: float) -> None:
    assert first_share(target_s, poll_s=1.0, startup_s=2.0) == pytest.approx(share)


@pytest.mark.parametrize(
    ("oldest_ms", "now_ms", "passed"),
    [
        (30_000, 31_000, False),  # 18 s target: a worker asked at 32 s polls at 34 s, in time
        (30_000, 44_000, False),  # asked at 45 s, it polls at 47 s, a poll before 48 s
        (30_000, 45_500, True),  # asked at 46.5 s, it polls at 48.5 s: too late
        (None, 0, True),  # no age known: as late as can be
    ],
)
def test_deadline_passed(oldest_ms: int | None, now_ms: int, passed: bool) -> None:
    assert deadline_passed(oldest_ms, now_ms, 18.0, poll_s=1.0, startup_s=2.0) is passed


@pytest.mark.parametrize(
    ("in_flight", "completed", "waiting"),
    [
        (60.0, 130, 10.0),  # 40 more run and 50 completed since: 90 of the 100 started
        (60.0, 200, 0.0),  # never below zero
        (60.0, None, 60.0),  # no running total: at least the rise in flight started
        (10.0, None, 100.0),  # in flight fell: none is known to have started
    ],
)
def test_still_waiting(in_flight: float, completed: int | None, waiting: float) -> None:
    """The last fresh reading saw 100 waiting and 20 running, 80 completed so far."""
    state = SloState(fresh_backlog=100.0, fresh_in_flight=20.0, last_completed=80)
    assert still_waiting(state, in_flight, completed) == waiting


NOTHING = QueueStats()
STORM = QueueStats(backlog_count=215, add_rate=0.0)
IDLE = WorkerCensus(running=0, ready=0, in_flight=0, desired=0, slots=4, tasks_completed=0)


def test_a_storm_at_a_30_s_slo_starts_with_a_share_not_a_slot_each() -> None:
    """215 tasks seen by the hint, no duration known. At 30 s the target (18 s) leaves time to
    learn: the first workers take a sixth of them (a start and a poll of the target), 9 workers,
    not 54. At 5 s it does not: a slot each."""
    st, size, why = slo(30_000).desired(
        SloState(last_stats=NOTHING), GroupMetrics(STORM, IDLE, 31.0), 31_000, 0
    )
    assert size == 9 and "17%" in why, why
    assert st.backlog_est == 215 and st.fresh_ms == 31_000 and st.tail_ms == 31_000
    _, size, why = slo(5_000).desired(
        SloState(last_stats=NOTHING), GroupMetrics(STORM, IDLE, 31.0), 31_000, 0
    )
    assert size == 54 and "a slot each" in why, why


def test_while_the_first_tasks_run_the_group_holds_until_the_deadline_nears() -> None:
    """The first 9 workers run 36 tasks; the stats are cached. The group holds its 9 (no share
    again: more workers would not teach the duration sooner) until a worker asked at the next
    cycle would poll too late for the oldest task: then every task the last reading saw (215)
    gets its slot, 54 workers."""
    s = slo(30_000)
    st, first, _ = s.desired(
        SloState(last_stats=NOTHING), GroupMetrics(STORM, IDLE, 31.0), 31_000, 0
    )
    st = SloState(**{**st.__dict__, "size": first})
    busy = WorkerCensus(running=9, ready=9, in_flight=36, desired=9, slots=4, tasks_completed=0)
    st, size, why = s.desired(st, GroupMetrics(NOTHING, busy, 35.0), 35_000, 9)
    assert size == 9 and "holding" in why, why
    # The oldest task was seen at 31 s, a poll after it landed (30 s): its 18 s target ends at
    # 48 s. A worker asked at the next cycle polls a startup later and takes the task at its
    # first poll: from 45 s on, that is after 48 s.
    _, size, why = s.desired(st, GroupMetrics(NOTHING, busy, 44.0), 44_000, 9)
    assert size == 9, why
    _, size, why = s.desired(st, GroupMetrics(NOTHING, busy, 45.0), 45_000, 9)
    assert size == 54, why
