"""How ``slo`` sizes a group before it knows how long a task takes: the first seconds of a group's
life, often a storm landing on an idle queue.

Without a task duration the queue cannot be projected. Only one size is safe whatever the tasks
take: a slot for every task (none of them may finish before the newest must start). But that is
also the dearest, and it is rarely needed for long: the first tasks finish within seconds of the
first worker polling, and then :class:`workerplane.scaling.slo_plan.QueuePlanner` sizes the group
on what it learned. So, while the SLO leaves time:

* **a first share**: the waiting tasks get a slot each for the share of the wait target that a
  worker's start and one poll take (``H / target``; all of it when the target is that short).
  Those workers start the work and teach the scaler the duration, and the fewer they are, the
  sooner more tasks have finished than run (when the reported mean is trusted);
* **a deadline**: once a worker asked at the next observation would poll too late for the oldest
  waiting task to start within the target, every waiting task gets its slot, as if no task would
  finish before then (the duration still unknown: long tasks).

A storm of 500 two-second tasks at a 30 s SLO got 54 workers from its first reading, then 90:
more than twice what a pool that meets the SLO needs.
"""

from __future__ import annotations

import math
from dataclasses import replace

from workerplane.scaling.slo_model import (
    DOWN_HYSTERESIS,
    DRAIN_FRACTION,
    MIN_DRAIN_DURATIONS,
    ROUNDING_SLACK,
    SloDetails,
    SloState,
)
from workerplane.scaling.types import IDLE_RATE_EPSILON, QueueStats


def first_share(target_s: float, poll_s: float, startup_s: float) -> float:
    """The share of the waiting tasks given a slot at once while the duration is unknown: what a
    worker's start and a poll take of the wait target (all of them when the target is shorter)."""
    if target_s <= 0:
        return 1.0
    return min(1.0, (poll_s + startup_s) / target_s)


def deadline_passed(
    oldest_ms: int | None, now_ms: int, target_s: float, poll_s: float, startup_s: float
) -> bool:
    """Whether a worker asked at the next observation (a poll away), once started, would take a
    task at its first poll after the oldest waiting task (seen first at ``oldest_ms``) must
    start: then every waiting task needs its slot now."""
    if oldest_ms is None:
        return True
    polls_at_ms = now_ms + 1000.0 * (2 * poll_s + startup_s)
    return polls_at_ms > oldest_ms + 1000.0 * target_s


def oldest_waiting_ms(
    state: SloState, stats: QueueStats, backlog: int, fresh: bool, now_ms: int, poll_s: float
) -> int | None:
    """When the oldest waiting task arrived, as far as the observations tell: its age in fresh
    stats, else a poll before the observation that first saw it wait (the backlog hint knows no
    ages). ``None`` once fresh stats show nothing waiting."""
    if backlog == 0:
        return None if fresh else state.waiting_since_ms
    aged = now_ms - round(1000.0 * (stats.backlog_age_s if stats.backlog_age_s > 0 else poll_s))
    if state.waiting_since_ms is None:
        return aged
    return min(state.waiting_since_ms, aged) if fresh else state.waiting_since_ms


def still_waiting(state: SloState, in_flight: float, completed: int | None) -> float:
    """Of the tasks the last fresh reading saw waiting, those that cannot have started since:
    every start has completed since or is in flight (without the census's running total of
    completions, at least the rise in flight has started)."""
    started = in_flight - state.fresh_in_flight
    if completed is not None and state.last_completed is not None:
        started += completed - state.last_completed
    return max(0.0, state.fresh_backlog - max(0.0, started))


def first_sizing(
    details: SloDetails,
    state: SloState,
    stats: QueueStats,
    *,
    backlog: int,
    in_flight: float,
    completed: int | None,
    fresh: bool,
    capacity: float,
    target_s: float,
    poll_s: float,
    startup_s: float,
    now_ms: int,
) -> tuple[SloState, float, float, str]:
    """The load and the drain (in slots) while the slots or the duration are still being learned,
    with the state and a description (``completed``: the census's running total of completions).
    The duration may be known without the census's in-flight count (then the drain spreads the
    backlog over what is left of the SLO)."""
    slo_s = details.schedule_to_start_slo_ms / 1000.0
    dur = state.duration_s
    avg = state.load
    assert avg is not None
    oldest = oldest_waiting_ms(state, stats, backlog, fresh, now_ms, poll_s)
    state = replace(state, waiting_since_ms=oldest)
    if fresh:
        # What the queue planner carries forward once the duration is known: the tasks waiting
        # now, and the reading the arrivals are counted from (else it starts from "nothing
        # waits" and a storm's backlog goes unplanned until the next fresh stats).
        state = replace(
            state,
            backlog_est=float(backlog),
            fresh_ms=now_ms,
            fresh_backlog=float(backlog),
            fresh_in_flight=in_flight,
            tail_ms=now_ms if backlog > 0 else None,
            done_since=0.0,
            last_in_flight=in_flight,
            last_completed=completed,
        )
    age = stats.backlog_age_s
    if backlog == 0:
        # Nothing waits: every arrival starts at once, so what runs IS the load.
        # The average smooths noise; the recent peak cuts its lag when work falls away.
        load = min(avg, state.recent[0][1])
        if in_flight == 0 and stats.add_rate <= IDLE_RATE_EPSILON:
            load = 0.0
        return state, load, 0.0, "no backlog"
    # Tasks wait: what runs is capped by capacity; the arrival rate may say more.
    offered = stats.add_rate * dur if dur is not None else 0.0
    load = max(avg, in_flight, offered)
    if dur is None:
        due = deadline_passed(oldest, now_ms, target_s, poll_s, startup_s)
        if due and fresh:
            return (
                state,
                load,
                float(backlog),
                (
                    f"backlog {backlog}, task duration not learned and the oldest task's wait "
                    "target near: a slot each"
                ),
            )
        if not fresh or in_flight > 0:
            # The cached copy was acted on, or the first workers already run and will teach the
            # duration: hold what runs and what was asked for while tasks may wait, and once the
            # deadline is near, a slot for every task that may still wait.
            waiting = float(backlog) if fresh else still_waiting(state, in_flight, completed)
            held = max(load, in_flight + waiting)
            if not due:
                held = max(load, min(held, float(state.size or 0) * (state.slots or 1.0)))
            return (
                state,
                held,
                0.0,
                (
                    f"backlog {backlog}{'' if fresh else ' (cached stats, already handled)'}, "
                    f"~{waiting:.0f} may wait, task duration not learned: holding while the "
                    "first tasks run"
                ),
            )
        share = first_share(target_s, poll_s, startup_s)
        return (
            state,
            load,
            share * backlog,
            (
                f"backlog {backlog}, task duration not learned: a slot each for {share:.0%} of it "
                "while the first tasks run"
            ),
        )
    if not fresh:
        # The server's cached copy of stats already acted on: these waiting tasks have been
        # dispatched to the workers started for them since.
        return state, load, 0.0, f"backlog {backlog} (cached stats, already handled)"
    # FIFO: the newest waiting task starts once the running capacity has worked through the
    # tasks ahead of it.
    wait = max(age, backlog * dur / capacity) if capacity > 0 else math.inf
    if wait < target_s:
        return (
            state,
            load,
            0.0,
            (f"backlog {backlog} age {age:.1f}s, expected wait {wait:.1f}s: absorbed"),
        )
    horizon = max(MIN_DRAIN_DURATIONS * dur, DRAIN_FRACTION * slo_s - age)
    return (
        state,
        load,
        backlog * dur / horizon,
        (
            f"backlog {backlog} age {age:.1f}s, expected wait {wait:.1f}s: drain over "
            f"{horizon:.1f}s (d={dur:.2f}s)"
        ),
    )


def rounded(slots_needed: float, k: float, current: int) -> int:
    """Workers for ``slots_needed``, rounded with hysteresis around ``current``: grow only when
    short by more than ``ROUNDING_SLACK`` of a worker (a sliver of missing capacity is absorbed
    by the queue, and the backlog term reacts if it is not); shrink only when
    ``DOWN_HYSTERESIS`` of a worker would still be spare."""
    workers = slots_needed / k
    up = max(0, math.ceil(workers - ROUNDING_SLACK))
    down = math.ceil(workers + DOWN_HYSTERESIS - 1e-9) if workers > 0 else 0
    return up if up > current else (down if down < current else current)
