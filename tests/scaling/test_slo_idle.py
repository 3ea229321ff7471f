"""``slo``'s ski rental on an idle group: keep one worker warm, or let the group go to zero.

The expected gap to the next task decides. A Poisson stream's arrival rate gives it, but tasks
that come in clusters do not: after a storm of 40 tasks a minute, the average rate says the
next task is a second or two away, when it is most of a minute away. So once a group has
ended a few idle stretches, their mean length is the gap.
"""

from __future__ import annotations

from dataclasses import replace

from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_idle import (
    IDLE_GAP_CAP_STARTUPS,
    IDLE_GAP_MEMORY,
    MIN_IDLE_GAPS,
    first_worker_deferred,
    learn_idle_gap,
    mean_idle_gap,
    warm_or_release,
)

NOW_MS = 1_000_000
STARTUP_S = 2.0


def idle_group(arrival_rate: float) -> tuple[SloScaler, SloState]:
    """A 5 s SLO group whose tasks arrived at ``arrival_rate`` on average, idle for 1 s."""
    s = build_scaler("slo", {"max_count": 100, "schedule_to_start_slo_ms": 5_000}, "worker-set")
    assert isinstance(s, SloScaler)
    state = replace(
        s.initial_state(0.0),
        arrival_rate=arrival_rate,
        arrival_sample=arrival_rate,
        idle_since_ms=NOW_MS - 1_000,
    )
    return s, state


def stretches(state: SloState, *gaps_s: float) -> SloState:
    """``state`` after idle stretches of ``gaps_s``, each ended by a task."""
    now = NOW_MS
    for gap_s in gaps_s:
        state = learn_idle_gap(replace(state, idle_since_ms=None), True, now)
        now += round(1000 * gap_s)
        state = learn_idle_gap(state, False, now)
        now += 5_000
    return state


def test_an_idle_stretch_begins_once_and_ends_with_its_length_learned() -> None:
    state = SloState()
    state = learn_idle_gap(state, True, NOW_MS)
    assert learn_idle_gap(state, True, NOW_MS + 3_000).idle_since_ms == NOW_MS
    ended = learn_idle_gap(state, False, NOW_MS + 5_000)
    assert ended.idle_since_ms is None
    assert ended.idle_gaps == (5.0,)
    # A busy group with no stretch open learns nothing.
    assert learn_idle_gap(ended, False, NOW_MS + 6_000) == ended
    # Kept as it was: ski rental caps it, the deferral of a storm reads it whole.
    longer = learn_idle_gap(state, False, NOW_MS + 30_000)
    assert longer.idle_gaps == (30.0,)


def test_ski_rental_counts_a_long_stretch_as_a_few_startups() -> None:
    # Beyond a few startups every stretch gives ski rental the same answer.
    state = stretches(SloState(), 30.0, 30.0)
    cap_s = IDLE_GAP_CAP_STARTUPS * STARTUP_S
    assert mean_idle_gap(state, cap_s) == cap_s
    assert mean_idle_gap(state) == 30.0


def test_the_estimate_follows_the_last_few_stretches() -> None:
    state = stretches(SloState(), *[60.0] * 10, *[1.0] * IDLE_GAP_MEMORY)
    assert len(state.idle_gaps) == IDLE_GAP_MEMORY
    assert mean_idle_gap(state, IDLE_GAP_CAP_STARTUPS * STARTUP_S) == 1.0


def test_one_night_idle_does_not_hold_the_estimate_up() -> None:
    # Uncapped, a 3-hour stretch among five would make the mean over half an hour.
    state = stretches(SloState(), 3 * 3600.0, 1.0, 1.0, 1.0, 1.0)
    estimate = mean_idle_gap(state, IDLE_GAP_CAP_STARTUPS * STARTUP_S)
    assert estimate is not None and estimate < 2 * STARTUP_S


def test_after_storms_a_minute_apart_the_group_goes_to_zero() -> None:
    # 40 tasks a minute: 0.67 tasks/s on average, "the next in 1.5 s", under a 2 s start.
    s, state = idle_group(arrival_rate=40 / 60)
    kept, why = warm_or_release(s.details, state, startup_s=2.0, now_ms=NOW_MS)
    assert kept == 1, why  # the control: the rate alone keeps a worker warm
    learned = replace(stretches(state, 50.0, 52.0), idle_since_ms=NOW_MS - 1_000)
    released, why = warm_or_release(s.details, learned, startup_s=2.0, now_ms=NOW_MS)
    assert released == 0 and "next task in ~8.0s (its last 2 idle stretches)" in why


def test_short_idle_stretches_keep_a_worker_warm_whatever_the_rate_says() -> None:
    s, state = idle_group(arrival_rate=1 / 120)
    learned = replace(stretches(state, 0.5, 1.0, 1.5), idle_since_ms=NOW_MS - 500)
    kept, why = warm_or_release(s.details, learned, startup_s=2.0, now_ms=NOW_MS)
    assert kept == 1, why


def test_one_stretch_is_not_enough_to_overrule_the_rate() -> None:
    s, state = idle_group(arrival_rate=40 / 60)
    learned = replace(stretches(state, *[50.0] * (MIN_IDLE_GAPS - 1)), idle_since_ms=NOW_MS - 1_000)
    kept, _ = warm_or_release(s.details, learned, startup_s=2.0, now_ms=NOW_MS)
    assert kept == 1


def test_the_time_already_idle_still_bounds_a_warm_worker() -> None:
    # Short stretches learned, but this one has lasted longer than a start: let it go.
    s, state = idle_group(arrival_rate=1.0)
    learned = replace(stretches(state, 0.5, 0.5), idle_since_ms=NOW_MS - 3_000)
    released, _ = warm_or_release(s.details, learned, startup_s=2.0, now_ms=NOW_MS)
    assert released == 0


def deferred(waiting: float, workers: int, age_s: float, **rule: float) -> bool:
    """A cold group of 4-slot workers with 2 s tasks at a 30 s SLO (target 25.5 s), whose
    tasks come back 6 s after it runs dry."""
    given: dict[str, float] = dict(
        slots=4, duration_s=2.0, next_task_in_s=6.0, target_s=25.5, slo_s=30.0, poll_s=1.0,
        startup_s=STARTUP_S,
    )  # fmt: skip
    given.update(rule)
    return first_worker_deferred(
        NOW_MS - round(1000 * age_s),
        NOW_MS,
        waiting=waiting,
        workers=workers,
        still_arriving=False,
        **given,
    )


def test_a_storm_waits_only_while_its_planned_workers_drain_it_in_time() -> None:
    assert deferred(waiting=40, workers=2, age_s=1.0)
    # 2 workers asked a poll later drain 200 tasks in 48 s: they are asked now.
    assert not deferred(waiting=200, workers=2, age_s=1.0)


def test_a_storm_keeps_a_startup_s_margin_where_the_slo_beyond_the_target_is_short() -> None:
    # Target 25.5 s of 30: 4.5 s beyond it cover a startup; the oldest may wait up to 21.5 s.
    assert deferred(waiting=8, workers=1, age_s=21.0)
    assert not deferred(waiting=8, workers=1, age_s=22.0)
    # Target 27.5 s of 28.5: the margin is a second startup less the 1 s beyond the target, so
    # the oldest may wait up to 27.5 - (2 polls + 2 s + 1 s) = 22.5 s.
    assert deferred(waiting=8, workers=1, age_s=22.5, target_s=27.5, slo_s=28.5)
    assert not deferred(waiting=8, workers=1, age_s=23.0, target_s=27.5, slo_s=28.5)
    # A lone task keeps none (few tasks wait on a late worker): up to 23.5 s.
    assert deferred(waiting=1, workers=1, age_s=23.0, target_s=27.5, slo_s=28.5)
