"""What ``slo`` does with a group that runs nothing: keep one worker warm or let it go (ski
rental), and when tasks land on it, how late its workers may start.

Pure rules of :class:`workerplane.scaling.slo_plan.QueuePlanner`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

from workerplane.scaling.slo_first import deadline_passed, oldest_waiting_ms
from workerplane.scaling.slo_model import STATS_CACHE_MS, SloDetails, SloState
from workerplane.scaling.types import IDLE_RATE_EPSILON, QueueStats


def warm_or_release(
    details: SloDetails, state: SloState, startup_s: float, now_ms: int
) -> tuple[int, str]:
    """Ski rental for a group with nothing running or waiting: keep one worker warm, or let
    the group go to zero at once (without waiting out the scale-down window), with the reason.

    Keeping a worker warm is worth it only while the expected gap to the next task (``1 /
    lambda``, and at least the time already idle) costs less than a cold start (its billed
    startup). When a cold start cannot meet the SLO (signal + poll + startup > SLO),
    ``max_warm_idle_ms`` lets the user pay for a warm worker that long after the last task.
    """
    slo_ms = details.schedule_to_start_slo_ms
    cold_ms = STATS_CACHE_MS + details.metrics_poll_interval_ms + 1000.0 * startup_s
    idle_ms = 0 if state.idle_since_ms is None else now_ms - state.idle_since_ms
    if (
        cold_ms > slo_ms
        and details.max_warm_idle_ms is not None
        and idle_ms < details.max_warm_idle_ms
    ):
        return 1, f"; a cold start ({cold_ms / 1000:.1f}s) misses the SLO: kept warm"
    learned = mean_idle_gap(state, IDLE_GAP_CAP_STARTUPS * startup_s)
    if learned is not None:
        # The group's own idle stretches say when its next task comes. The arrival rate cannot
        # when tasks come in clusters: after a storm of 40 tasks a minute its average says the
        # next is a second or two away, where it is a minute away.
        expected_s = learned
        source = f" (its last {len(state.idle_gaps)} idle stretches)"
    else:
        source = ""
        rate = state.arrival_rate or 0.0
        if state.count_fell and state.arrival_sample is not None:
            # The latest fresh count fell far below the average: the arrivals stopped (a
            # storm's end), and the average only lags behind them.
            rate = min(rate, state.arrival_sample)
        expected_s = 1.0 / rate if rate > IDLE_RATE_EPSILON else math.inf
    # The rate is measured between fresh stats, and an idle queue's stats stop changing: the
    # time already spent idle is a floor of the gap (so a worker is kept warm for a startup
    # at most, the break-even of deterministic ski rental).
    gap_s = max(expected_s, idle_ms / 1000.0)
    if gap_s < startup_s:
        return 1, f"; next task in ~{gap_s:.1f}s{source} < a {startup_s:.1f}s start: kept warm"
    return 0, f"; next task in ~{gap_s:.1f}s{source} >= a {startup_s:.1f}s start: released"


#: Idle stretches a group must have ended before they replace the arrival rate, and how many
#: of the latest it keeps.
MIN_IDLE_GAPS = 2
IDLE_GAP_MEMORY = 5

#: An idle stretch is counted at most this many worker startups long. Ski rental only asks
#: whether the next task comes within a startup, and beyond a few startups every answer is the
#: same; uncapped, one night's idle stretch would hold the mean high through dozens of short
#: ones after it.
IDLE_GAP_CAP_STARTUPS = 4.0


def learn_idle_gap(state: SloState, idle: bool, now_ms: int) -> SloState:
    """``state`` with its idle stretch tracked: begun when nothing runs or waits, and, when a
    task ends it, its length kept among the last ``IDLE_GAP_MEMORY`` (``idle_gaps``)."""
    if idle:
        return state if state.idle_since_ms is not None else replace(state, idle_since_ms=now_ms)
    if state.idle_since_ms is None:
        return state
    gap_s = max(0.0, (now_ms - state.idle_since_ms) / 1000.0)
    return replace(
        state, idle_since_ms=None, idle_gaps=(*state.idle_gaps, gap_s)[-IDLE_GAP_MEMORY:]
    )


def mean_idle_gap(state: SloState, cap_s: float = math.inf) -> float | None:
    """The mean of the group's last idle stretches, each counted at most ``cap_s`` long, once
    it has ended ``MIN_IDLE_GAPS``: how soon its tasks come back after it runs dry."""
    if len(state.idle_gaps) < MIN_IDLE_GAPS:
        return None
    return statistics.fmean(min(gap, cap_s) for gap in state.idle_gaps)


def track_cold_wait(
    state: SloState,
    stats: QueueStats,
    *,
    cold: bool,
    backlog: int,
    waiting: float,
    fresh: bool,
    now_ms: int,
    poll_s: float,
) -> tuple[SloState, bool]:
    """``state`` with a cold group's wait tracked (``waiting_since_ms``, ``wait_paused``), and
    whether its tasks still arrive: the wait is older than its first reading and has grown at
    every reading since. One that stood still for a reading landed and stopped, as a storm
    does (nothing starts on a cold group: what waits grows only by arrivals; ``backlog_est``
    is the last reading's)."""
    oldest = oldest_waiting_ms(state, stats, backlog, fresh, now_ms, poll_s) if cold else None
    seen_before = state.waiting_since_ms is not None
    paused = oldest is not None and (
        state.wait_paused or (seen_before and waiting <= state.backlog_est)
    )
    return replace(state, waiting_since_ms=oldest, wait_paused=paused), seen_before and not paused


def first_worker_deferred(
    oldest_ms: int | None,
    now_ms: int,
    *,
    waiting: float,
    workers: int,
    slots: float,
    duration_s: float,
    next_task_in_s: float | None,
    still_arriving: bool,
    target_s: float,
    slo_s: float,
    poll_s: float,
    startup_s: float,
) -> bool:
    """Whether a cold group (nothing runs) with ``waiting`` tasks, the oldest seen waiting since
    ``oldest_ms``, starts the ``workers`` it plans at a later observation instead of now.

    Waiting costs nothing, the workers bill from their launch, and the tasks that come
    meanwhile share their start: sparse minute-long tasks at a 30 s SLO cost 3 % less, and
    storms of 10 tasks every 10 s a third less, several sharing one start. It may wait while
    those workers asked at the next observation (a poll away) would still start every task
    within the target: the oldest at their first poll, and the last of those now waiting once
    the ones ahead of it have drained through their slots. At SLOs a cold start barely meets
    the deadline has passed at once.

    A storm (more tasks than one worker's slots) waits only for tasks that come back within
    the time it could wait: the next lands about the group's mean idle stretch
    (``next_task_in_s``) after this one is served. A fan-out that nothing follows would only
    have more tasks start in less time (46 % dearer at a 30 s SLO), and a storm the next one
    would not find waiting only waits (storms every 10 s at a 15 s SLO: 5 % dearer).
    And not while its tasks go on arriving (``still_arriving``: the wait is older than its
    first reading, and has grown at every reading since): a burst that goes on arriving only needs
    more workers later than now (20 s bursts at 10 tasks/s: 7 % dearer). Its first reading
    cannot tell a storm that landed from a stream that began, and waiting one costs nothing.
    """
    capacity = max(1, workers) * slots
    if waiting >= slots:
        # The next storm lands about an idle stretch after this one is served (its workers
        # start, and run what waits): only if that is within the wait does waiting gather it.
        served_s = startup_s + waiting * duration_s / capacity
        span_s = storm_wait_span_s(target_s, slo_s, poll_s, startup_s)
        if next_task_in_s is None or served_s + next_task_in_s > span_s or still_arriving:
            return False
        startup_s = storm_startup_s(startup_s, target_s, slo_s)
    if deadline_passed(oldest_ms, now_ms, target_s, poll_s, startup_s):
        return False
    ready_in_s = 2 * poll_s + startup_s
    drain_s = max(0.0, waiting - capacity) * duration_s / capacity
    return ready_in_s + drain_s <= target_s


def storm_startup_s(startup_s: float, target_s: float, slo_s: float) -> float:
    """The startup a cold group plans a deferred storm's workers with: a worker that starts late
    holds every task queued behind it, so a storm keeps a startup's margin for the spread of
    startups (one mean startup covers the lab's 95th percentile of them), as far as the SLO
    beyond the target does not already."""
    return startup_s + max(0.0, startup_s - (slo_s - target_s))


def storm_wait_span_s(target_s: float, slo_s: float, poll_s: float, startup_s: float) -> float:
    """How long a cold group may wait with a storm before asking its workers: storms that
    recur within it are served together (:func:`first_worker_deferred`), not warmed for one by
    one."""
    return target_s - 2 * poll_s - storm_startup_s(startup_s, target_s, slo_s)
