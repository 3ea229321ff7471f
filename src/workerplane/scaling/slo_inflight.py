"""How long the tasks in flight have run: the young ones free their slots later than the plan's
fluid model assumes.

``slo`` plans as if busy slots free evenly: over a horizon ``h`` each slot starts ``h / d``
tasks, which holds while the tasks in flight have run for all sorts of times (their remaining
time averages ``d / 2``). A storm or a fan-out starts its tasks together: none of them frees a
slot for about a task's length, and a plan that counted them freeing evenly cut 54 workers to 40
with 318 tasks waiting (a cron storm: 122 tasks over a 5 s SLO).

So the scaler keeps the in-flight tasks younger than half a task's length as cohorts (when they
started, how many), first in first out, and :func:`young_slot_seconds` says how many slot-seconds
of the horizon they hold beyond what the fluid model counts. Older tasks are the fluid model's
own and are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

Cohorts = tuple[tuple[int, float], ...]
"""In-flight tasks younger than half a task's length: ``(started at ms, count)``, oldest first."""


def advance_cohorts(
    young: Cohorts,
    *,
    last_in_flight: float,
    in_flight: float,
    completed: float | None,
    now_ms: int,
    dt_ms: int,
    half_duration_ms: float,
) -> Cohorts:
    """The cohorts after one observation.

    ``completed`` is the count of tasks that finished since the previous observation, when the
    workers count them (``None`` otherwise: then only the rise in flight counts as starts, and a
    task replaced by another in between is taken for the older of the two, as the fluid model
    does). The starts since the previous observation join as one cohort started halfway
    between the two; completions leave the youngest tasks first.
    """
    if completed is None:
        completed = max(0.0, last_in_flight - in_flight)
    started = max(0.0, in_flight - last_in_flight + completed)
    cohorts = [*young, (now_ms - dt_ms // 2, started)] if started > 0 else list(young)
    # The youngest finish first: a task still young when it ends was short, and a short task
    # frees its slot as the fluid model assumes (with 90 % of tasks taking 0.2 s and 10 % a
    # minute, the young tasks in flight are the short ones, gone by the next cycle). Tasks
    # that started together and have not ended are the storm this module is for.
    kept = _without(cohorts, completed, youngest_first=True)
    # Never more than the census counts in flight (a retired worker's tasks leave it uncounted).
    kept = _without(kept, sum(n for _, n in kept) - in_flight, youngest_first=False)
    return tuple((at, n) for at, n in kept if now_ms - at < half_duration_ms)


def _without(
    cohorts: list[tuple[int, float]], count: float, *, youngest_first: bool
) -> list[tuple[int, float]]:
    """``cohorts`` less ``count`` tasks, taken from the youngest or the oldest end."""
    ordered = list(reversed(cohorts)) if youngest_first else list(cohorts)
    kept: list[tuple[int, float]] = []
    for at, n in ordered:
        gone = min(n, max(0.0, count))
        count -= gone
        if n - gone > 1e-9:
            kept.append((at, n - gone))
    return list(reversed(kept)) if youngest_first else kept


def young_slot_seconds(
    young: Cohorts, *, now_ms: int, duration_s: float, horizon_s: float
) -> float:
    """The slot-seconds of the next ``horizon_s`` that young tasks hold beyond the fluid model.

    A task that just started holds its slot for about a task's length, where the fluid model
    counts its slot as starting ``h / d`` tasks in the horizon like any other. The extra time
    held falls linearly from ``d`` at age 0 to nothing at half a task's length, where the
    cohort joins the fluid model (never more than the horizon).
    """
    held = 0.0
    for at, n in young:
        age = max(0.0, (now_ms - at) / 1000.0)
        held += n * min(horizon_s, max(0.0, duration_s - 2.0 * age))
    return held


#: A census counted from heartbeats that shows fewer tasks started than left the queue is taken
#: to lag for at most this many of its heartbeat intervals.
CENSUS_LAG_BEATS = 3.0


def census_lag(came: float, lag_s: float, lagging_since_ms: int | None, now_ms: int) -> int | None:
    """Since when the census has lagged the queue, or ``None`` when it does not now.

    ``came`` is the arrivals a reading counts (more waiting + more running + completed since the
    last count). Below zero, more tasks left the queue than the census shows started or done:
    with a census counted from heartbeats (``lag_s`` > 0, their interval) those tasks run on
    workers whose count has not caught up. Such a lag clears within a few heartbeats
    (``CENSUS_LAG_BEATS``); a gap that stays longer is no lag (a worker that exited before its
    last heartbeat counted its last tasks), and is taken as it is. A census read as it is
    (``lag_s`` 0) never lags.
    """
    if came >= 0 or lag_s <= 0:
        return None
    since = now_ms if lagging_since_ms is None else lagging_since_ms
    return since if now_ms - since <= CENSUS_LAG_BEATS * 1000.0 * lag_s else None


@dataclass(frozen=True)
class SlotSupply:
    """The slots a size of the group brings and when they take waiting tasks: ``ready`` polling
    workers (``busy`` of their slots taken), ``starting`` ones (polling in ``starting_left_s``)
    and ``new`` ones (polling in ``startup_s``), of ``slots`` slots each, for tasks of
    ``duration_s``.

    A busy slot starts one per task length once its task ends (the fluid count, less the
    ``held_slot_s`` its young tasks hold it beyond that). A free slot takes a task the moment it
    polls and the next once that one ends: by ``t`` after it polls it has started
    ``max(1, t / d)``. The fluid count alone gave it a fraction of a long task: one 35 s task
    waiting got 3 new workers, where the first slot to poll starts it. Counting the first task
    on top of the fluid count (``1 + t / d``) let a fan-out's tail wait on slots that were busy
    with the tasks they took at their first poll (p95 5.1 s at a 5 s SLO).
    """

    duration_s: float
    slots: float
    ready: int
    busy: float
    starting: int
    starting_left_s: float
    new: int
    startup_s: float
    held_slot_s: float = 0.0

    def started_by(self, t_s: float) -> float:
        """How many waiting tasks these slots start within ``t_s``."""
        d = self.duration_s
        busy = min(self.busy, self.ready * self.slots)
        started = max(0.0, busy * t_s - self.held_slot_s) / d
        started += (self.ready * self.slots - busy) * max(1.0, t_s / d)
        for workers, polls_in_s in self._polling_later():
            if workers and polls_in_s <= t_s:
                started += workers * self.slots * max(1.0, (t_s - polls_in_s) / d)
        return started

    def time_to_start(self, tasks: float, at_most_s: float) -> float:
        """When the ``tasks``-th waiting task starts; ``at_most_s`` if not by then. Exact: the
        count is linear between the times a worker polls or a slot's first task ends."""
        d = self.duration_s
        busy = min(self.busy, self.ready * self.slots)
        kinks = {0.0, d, at_most_s}
        if busy > 0:
            kinks.add(self.held_slot_s / busy)
        for _, polls_in_s in self._polling_later():
            kinks.update((polls_in_s, polls_in_s + d))
        points = sorted(t for t in kinks if 0.0 <= t <= at_most_s)
        before = self.started_by(points[0])
        if before >= tasks:
            return points[0]
        for lo, hi in pairwise(points):
            mid = (lo + hi) / 2
            slope = (self.started_by(mid) - before) / (mid - lo)
            if slope > 0 and before + slope * (hi - lo) >= tasks:
                return lo + (tasks - before) / slope
            before = self.started_by(hi)
            if before >= tasks:
                return hi  # reached by a worker's first poll
        return at_most_s

    def _polling_later(self) -> tuple[tuple[int, float], ...]:
        return ((self.starting, self.starting_left_s), (self.new, self.startup_s))
