"""The in-flight cohorts of ``slo``: how long the tasks in flight have run, and the slot time the
young ones hold beyond the fluid model (pure functions; the storms they change are in
tests/sim/test_storm_seeds.py)."""

from __future__ import annotations

import pytest

from workerplane.scaling.slo_inflight import (
    SlotSupply,
    advance_cohorts,
    young_slot_seconds,
)


def advance(young, last, now_in_flight, completed, now_ms=10_000, dt_ms=1_000, half_ms=1_000.0):  # type: ignore[no-untyped-def]
    return advance_cohorts(
        young,
        last_in_flight=last,
        in_flight=now_in_flight,
        completed=completed,
        now_ms=now_ms,
        dt_ms=dt_ms,
        half_duration_ms=half_ms,
    )


def test_the_starts_since_the_last_observation_join_as_one_cohort_halfway() -> None:
    assert advance((), 0.0, 160.0, 0) == ((9_500, 160.0),)


def test_completions_leave_the_youngest_first() -> None:
    """A task still young when it ends was short: of 30 in flight (10 older than any cohort,
    10 at 9.2 s, 10 at 9.6 s), 5 new started and 12 ended: the new cohort and 7 of 9.6 s go."""
    young = ((9_200, 10.0), (9_600, 10.0))
    assert advance(young, 30.0, 23.0, 12) == ((9_200, 10.0), (9_600, 3.0))


def test_without_a_completion_count_only_the_rise_in_flight_is_a_start() -> None:
    assert advance(((9_600, 4.0),), 10.0, 12.0, None) == ((9_600, 4.0), (9_500, 2.0))
    assert advance(((9_600, 4.0),), 10.0, 7.0, None) == ((9_600, 1.0),)


def test_never_more_than_in_flight_and_never_older_than_half_a_task() -> None:
    # A retired worker's 8 tasks left the census uncounted: the oldest go.
    assert advance(((9_200, 10.0), (9_600, 10.0)), 20.0, 12.0, 0) == ((9_200, 2.0), (9_600, 10.0))
    # A cohort that reached half a task's length is the fluid model's again.
    assert advance(((8_900, 10.0), (9_600, 10.0)), 20.0, 20.0, 0) == ((9_600, 10.0),)


@pytest.mark.parametrize(
    ("age_s", "horizon_s", "held"),
    [
        (0.0, 3.0, 2.0 * 100),  # just started: its slot frees a task's length on
        (0.5, 3.0, 1.0 * 100),
        (1.0, 3.0, 0.0),  # half a task old: as the fluid model counts
        (0.0, 1.0, 1.0 * 100),  # never more than the horizon
    ],
)
def test_young_tasks_hold_their_slots_beyond_the_fluid_model(
    age_s: float, horizon_s: float, held: float
) -> None:
    young = ((10_000 - round(age_s * 1000), 100.0),)
    got = young_slot_seconds(young, now_ms=10_000, duration_s=2.0, horizon_s=horizon_s)
    assert got == pytest.approx(held)


def supply(duration_s: float, ready: int, busy: int, new: int) -> SlotSupply:
    """4-slot workers: ``ready`` polling, ``new`` polling in 2 s."""
    return SlotSupply(
        duration_s=duration_s, slots=4, ready=ready, busy=busy, starting=0,
        starting_left_s=0.0, new=new, startup_s=2.0,
    )  # fmt: skip


def test_a_free_slot_starts_one_task_at_its_poll_and_the_next_when_that_ends() -> None:
    """One new 4-slot worker polling in 2 s, 35 s tasks: by 3 s its slots have started one task
    each (the fluid count said 4 x 1 s / 35 s = 0.11 tasks), by 72 s two each; in between they
    turn over at the fluid rate (the fifth task at 2 + 1.25 x 35 s)."""
    pool = supply(duration_s=35.0, ready=0, busy=0, new=1)
    by = pool.started_by
    assert by(1.0) == 0
    assert by(3.0) == 4
    assert by(72.0) == 8
    assert pool.time_to_start(5, at_most_s=100.0) == pytest.approx(45.75)


def test_busy_slots_start_tasks_as_theirs_end() -> None:
    """A polling worker with 3 of 4 slots busy on 2 s tasks: its free slot starts one at once;
    over 4 s the busy ones start 3 x 4 / 2 = 6 and the free one 2."""
    pool = supply(duration_s=2.0, ready=1, busy=3, new=0)
    by = pool.started_by
    assert by(0.0) == 1
    assert by(4.0) == 8
    assert pool.time_to_start(100, at_most_s=10.0) == 10.0  # not by then
