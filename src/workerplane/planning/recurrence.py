"""Inferred recurrence: warm for storms that recur on a period no Temporal Schedule announces.

Many cron storms are started from outside Temporal (a Kubernetes CronJob, Airflow, a crontab
calling ``StartWorkflow``): no schedule lists their action times, yet they recur. This module
learns them from what the plan already observes of a group, and nothing else (no call to
Temporal):

* **surges**: the tasks that arrived are counted on every reading that can be trusted (the
  census's running total of completions, plus what runs, plus what waits: fresh stats, the
  uncached backlog hint of an idle queue, or a cached copy that shows nothing waiting, a lower
  bound). A count far above the background rate (``SURGE_FACTOR`` times it and 3 standard
  deviations, Poisson, and at least ``MIN_SURGE_TASKS``) opens a surge, counted from the
  first reading that rose within ``RISE_WINDOW_S`` (one fan-out may show over two readings);
  the first reading whose arrivals are back within the background's noise closes it, with the
  tasks it brought, the time its first 90 % took, and the task duration the scaler has learned;
* **a period**: surges at near-equal intervals (within ``JITTER_POLLS`` poll intervals), of
  similar size, with few missed slots (:mod:`workerplane.planning.periods`);
* **upcoming runs**: the next slot of the period, with the work of its surges learned as a
  schedule's past runs are (:func:`~workerplane.planning.warmups.learn_run_work`), handed to
  the same warm floor as a schedule's runs (:mod:`workerplane.planning.prewarm`) under the id
  :data:`INFERRED_ID`, for storms only (surges that land faster than the scaler can follow:
  within ``STORM_LEADS`` warm-up leads). A schedule's run near the same time takes precedence.

Pure: times are epoch seconds (the observation's ``wall_time``). The state lives in the
group's planning state (``GroupState.recurrence``), in memory: a controller that restarts learns
the period again from three surges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from workerplane.planning.actions import GroupState
from workerplane.planning.periods import (
    MIN_SURGES,
    SIZE_RATIO,
    Surge,
    find_period,
    slots_passed,
)
from workerplane.planning.prewarm import WarmTiming, sizing_of, typical_startup_ms
from workerplane.planning.warmups import UpcomingRun, learn_run_work
from workerplane.scaling.slo import SloScaler
from workerplane.scaling.slo_arrivals import arrivals_rose_above
from workerplane.scaling.slo_idle import storm_wait_span_s
from workerplane.scaling.slo_model import SloState, ewma, sizing_stats
from workerplane.scaling.types import QueueStats

if TYPE_CHECKING:  # observe.py imports prewarm, which this module imports
    from workerplane.planning.observe import Observation
    from workerplane.planning.plan import GroupIntent

#: The schedule id of an inferred run (parenthesised, so as not to read as a schedule's id).
INFERRED_ID = "(inferred)"

#: Surges kept, and how far back (in periods) a period looks for its surges.
KEPT_SURGES = 8
LOOKBACK_PERIODS = 6

#: A surge is on the period within this many poll intervals of it (the onset is seen within a
#: poll, and an external cron jitters: two surges may be two polls apart from the period), and
#: never less than ``JITTER_FLOOR_S``. Random fan-outs line up within 2 s far more often (100
#: hours of the policy lab's ``fanouts`` process: 8 false periods at 2 s, 2 at 1 s).
JITTER_POLLS = 1
JITTER_FLOOR_S = 1.0

#: A surge brings at least this many tasks, and this many times what the background rate
#: predicts over the reading (the Poisson test alone fires a few times an hour on a busy queue).
MIN_SURGE_TASKS = 10
SURGE_FACTOR = 3.0

#: A surge is a storm, warmed for, when it lands within this many warm-up leads (a worker's
#: startup and the margin): faster than the scaler can follow it.
STORM_LEADS = 2.0

#: A rise in arrivals too small for a surge is added to the readings of the next this many
#: seconds: what arrived is counted from two sources that are not read together (the server's
#: backlog, the workers' reports of what runs, written every second), so one fan-out can show
#: as 8 tasks in one reading and 4 in the next, each short of ``MIN_SURGE_TASKS``.
RISE_WINDOW_S = 2.0

#: A surge counted within this long of the first task seen on an idle queue began with it.
WAKE_WINDOW_S = 60.0

#: The background arrival rate (outside surges) is averaged over this long.
BACKGROUND_TAU_S = 300.0

#: A surge still open after this long is closed (a rate that stays up is a new normal).
MAX_SURGE_S = 600.0

#: A surge's spread is the time its first ``SPREAD_SHARE`` of tasks took, over that share (the
#: last tasks are seen late, when the stats cache lets them show).
SPREAD_SHARE = 0.9


@dataclass(frozen=True)
class OpenSurge:
    """A surge still arriving: its onset, the arrivals counted before it, the readings since
    (``(time, arrivals counted)``), the rate its onset came at, and whether its onset reading was
    exact (else a lower bound: no slot was free, as when warm workers took its first tasks)."""

    onset_at: float
    baseline: float
    readings: tuple[tuple[float, float], ...]
    onset_rate: float
    exact: bool = True

    def closed(self, background: float, duration_s: float | None) -> Surge:
        """The surge as it ended: the tasks above the background, and its spread: the time its
        first ``SPREAD_SHARE`` took (between two readings, as if they came evenly), over that
        share, and at most its tasks at the rate its onset came at (readings are sparse while
        no slot is free and the stats are cached, and the last of them may be seconds late)."""
        end_at, arrived = self.readings[-1]
        tasks = max(0.0, arrived - self.baseline - background * (end_at - self.onset_at))
        goal = self.baseline + SPREAD_SHARE * tasks
        before = (self.onset_at, self.baseline)
        reached = end_at
        for at, count in self.readings:
            if count >= goal:
                (t0, c0) = before
                reached = t0 + (at - t0) * ((goal - c0) / (count - c0) if count > c0 else 1.0)
                break
            before = (at, count)
        spread = max(0.0, reached - self.onset_at) / SPREAD_SHARE
        if self.onset_rate > 0:
            spread = min(spread, tasks / self.onset_rate)
        return Surge(self.onset_at, round(tasks), spread, duration_s)


@dataclass(frozen=True)
class Rise:
    """Arrivals above the background too few for a surge so far: the reading before them
    (``since``, with ``baseline`` arrivals counted then) and the first that showed them."""

    since: float
    baseline: float
    first_at: float


@dataclass(frozen=True)
class Recurrence:
    """What a group has seen of its surges (the state kept from cycle to cycle).

    Attributes:
        arrived: tasks counted as arrived at the last trusted reading (``None``: none yet).
        outstanding: tasks running or waiting at that reading.
        read_at: when it was taken.
        last_stats: the stats of the previous observation, its backlog aside (an unchanged copy
            is the server's cache).
        background: arrivals/s outside surges, averaged (``None`` until a second reading).
        surge: the surge arriving now, if any.
        rise: arrivals above the background too few for a surge yet, within ``RISE_WINDOW_S``.
        surges: the latest surges that ended, oldest first.
        idle_at: the last observation at which nothing of any type ran or waited.
        woke_at: the first observation after it at which something did (``None``: none yet).
    """

    arrived: float | None = None
    outstanding: float = 0.0
    read_at: float | None = None
    last_stats: QueueStats | None = None
    background: float | None = None
    surge: OpenSurge | None = None
    rise: Rise | None = None
    surges: tuple[Surge, ...] = ()
    idle_at: float | None = None
    woke_at: float | None = None

    def observe(self, observed: Observation, duration_s: float | None) -> Recurrence:
        """This state after ``observed``; a surge that ends is kept with ``duration_s`` (the task
        duration the scaler has learned) as its tasks' duration.

        A reading is exact when :func:`trusted`; a cached copy that shows nothing waiting while
        no slot is free is a lower bound (tasks may wait unseen): it may open a surge or carry
        one on (it proves that many arrived), never close one nor teach the background rate.
        A cached copy that shows tasks waiting is not read (they may have started since)."""
        metrics, census, now = observed.metrics, observed.census, observed.wall_time
        if metrics is None or census.in_flight is None:
            return self
        stats, _ = sizing_stats(metrics)
        kept = replace(self, last_stats=replace(stats.cached_part(), backlog_count=0))
        if metrics.stats.backlog_count == 0 and census.in_flight == 0:
            kept = replace(kept, idle_at=now, woke_at=None)
        elif self.woke_at is None and self.idle_at is not None:
            kept = replace(kept, woke_at=now)
        exact = trusted(observed, stats, self.last_stats)
        if not exact and stats.backlog_count > 0:
            return kept
        outstanding = float(census.in_flight + stats.backlog_count)
        if census.tasks_completed is not None:
            arrived = float(census.tasks_completed) + outstanding
        else:  # no running total: what runs or waits grew by at least what arrived
            arrived = (self.arrived or 0.0) + max(0.0, outstanding - self.outstanding)
        if self.arrived is None or self.read_at is None or now <= self.read_at:
            return replace(kept, arrived=arrived, outstanding=outstanding, read_at=now)
        came, span = max(0.0, arrived - self.arrived), now - self.read_at
        read = replace(
            kept, arrived=max(arrived, self.arrived), outstanding=outstanding, read_at=now
        )
        background = self.background
        if background is None:
            return replace(read, background=came / span) if exact else kept
        rose = arrivals_rose_above(background, came, span)
        if self.surge is not None:
            surge = self.surge
            if rose and now - surge.onset_at < MAX_SURGE_S:
                return replace(
                    read, surge=replace(surge, readings=(*surge.readings, (now, arrived)))
                )
            if not exact:
                return kept
            ended = surge.closed(background, duration_s)
            if not surge.exact:
                ended = replace(ended, spread_s=min(ended.spread_s, self.spread_like(ended)))
            return replace(read, surge=None, surges=(*self.surges, ended)[-KEPT_SURGES:])
        rise = self.rise if self.rise and now - self.rise.first_at <= RISE_WINDOW_S else None
        if rose and rise is None:
            rise = Rise(self.read_at, self.arrived, now)
        if rise is not None:
            run, run_s = max(0.0, arrived - rise.baseline), now - rise.since
            if (
                arrivals_rose_above(background, run, run_s)
                and run >= MIN_SURGE_TASKS
                and run >= SURGE_FACTOR * background * run_s
            ):
                onset = OpenSurge(
                    kept.onset_of((rise.since + rise.first_at) / 2.0, now),
                    rise.baseline,
                    ((now, arrived),),
                    run / run_s,
                    exact,
                )
                return replace(read, surge=onset, rise=None)
        read = replace(read, rise=rise)
        if not exact:
            return replace(kept, rise=rise)
        return replace(read, background=ewma(background, came / span, span, BACKGROUND_TAU_S))

    def onset_of(self, seen_at: float, now: float) -> float:
        """When a surge seen at ``seen_at`` began: from an idle queue, when the first task of any
        type showed (the workflow task that starts a fan-out waits for a worker before its
        activities show)."""
        if self.idle_at is None or self.woke_at is None:
            return seen_at
        woke = (self.idle_at + self.woke_at) / 2.0
        return min(seen_at, woke) if now - woke <= WAKE_WINDOW_S else seen_at

    def spread_like(self, surge: Surge) -> float:
        """The spread of the latest surge of a size like ``surge``'s (``inf``: none). A surge
        whose first tasks filled every slot (warm workers took them) shows its arrivals only
        as the cached stats let them: its measured spread is seconds long (4.9 s for the
        policy lab's 2 s storms) and would shrink every later warm-up (12 -> 10 workers at 30 s:
        the scaler then grew each storm, about 315 -> 355 worker-s); it keeps the one measured
        before."""
        for kept in reversed(self.surges):
            if max(kept.tasks, surge.tasks) <= SIZE_RATIO * max(1, min(kept.tasks, surge.tasks)):
                return kept.spread_s
        return math.inf

    def upcoming(
        self, now: float, tolerance_s: float, batched_within_s: float = 0.0
    ) -> tuple[UpcomingRun, ...]:
        """The runs the period predicts: the last surge's while it lands (when the period had
        predicted it) and the next slot's; none for a period within ``batched_within_s`` (the
        scaler serves such runs together)."""
        period = find_period(self.surges, tolerance_s, now)
        if period is None or period.period_s <= batched_within_s:
            return ()
        learned = learn_run_work([s.past_run() for s in period.surges])
        # A surge is seen no earlier than it lands (sparse readings while no slot is free): every
        # measured spread is an upper bound, so the smallest is the best (a schedule's, read from
        # its history, is exact, and its runs' widest counts).
        work = learned and replace(learned, spread_s=min(s.spread_s for s in period.surges))
        passed = slots_passed(period, tolerance_s, now)
        basis = period.describe()
        runs = [
            UpcomingRun(INFERRED_ID, period.anchor_at + (passed + 1) * period.period_s, work, basis)
        ]
        if passed == 0 and len(period.surges) > MIN_SURGES:
            runs.insert(0, UpcomingRun(INFERRED_ID, period.anchor_at, work, basis))
        return tuple(runs)


def trusted(observed: Observation, stats: QueueStats, previous: QueueStats | None) -> bool:
    """Whether what waits in ``stats`` is what waits now: fresh stats (not the ``previous``
    copy, its backlog and live pollers aside: the uncached hint raises the backlog), the uncached
    backlog hint, or a cached copy that shows nothing waiting while a slot is free (a free slot
    takes a task as it lands). A cached copy is seconds old: tasks that started since would
    count twice, or those that landed since not at all."""
    if observed.fresh_backlog or replace(stats.cached_part(), backlog_count=0) != previous:
        return True
    census = observed.census
    if stats.backlog_count > 0 or census.ready is None or census.slots is None:
        return False
    return (census.in_flight or 0) < census.ready * census.slots


def infer_runs(
    observed: Observation, intent: GroupIntent, scaler_state: Any, state: GroupState
) -> tuple[Observation, Recurrence | None]:
    """The plan's inference step: ``observed`` with the runs inferred for an ``slo`` group with
    ``prewarm.recurring`` on, and the group's recurrence after it (``None`` for a group that does
    not infer). A draining or retiring group learns nothing.

    Only storms are warmed for: surges that land within ``STORM_LEADS`` warm-up leads (the
    startup and margin). The scaler follows a surge that lands over longer as it lands; warming
    ahead of it only pays workers early (the policy lab's ``bursts``, 1,800 tasks over 60 s every
    5 minutes: 3.7 % more worker-seconds, for a p95 already within the SLO). A schedule's run near
    the same time takes precedence (its spread after it)."""
    scaler = intent.scaler
    if not isinstance(scaler, SloScaler) or not scaler.details.prewarm.recurring:
        return observed, None
    recurrence = state.recurrence if isinstance(state.recurrence, Recurrence) else Recurrence()
    if intent.draining or intent.retiring:
        return observed, recurrence
    learned = scaler_state if isinstance(scaler_state, SloState) else SloState()
    recurrence = recurrence.observe(observed, learned.duration_s)
    timing = state.prewarm if isinstance(state.prewarm, WarmTiming) else WarmTiming()
    sizing = sizing_of(scaler, learned, timing, observed.census, typical_startup_ms(intent))
    tolerance = max(JITTER_FLOOR_S, JITTER_POLLS * sizing.poll_s)
    scheduled = observed.upcoming_runs
    # Storms that recur within the time a cold group may wait with one are served together by
    # the scaler (:func:`~workerplane.scaling.slo_idle.first_worker_deferred`): warming for each
    # would pay a worker's lead per storm (10 tasks every 10 s at a 30 s SLO: a third dearer).
    slo_s = scaler.details.schedule_to_start_slo_ms / 1000.0
    batched_s = storm_wait_span_s(sizing.target_wait_s, slo_s, sizing.poll_s, sizing.startup_s)
    inferred = [
        run
        for run in recurrence.upcoming(observed.wall_time, tolerance, batched_s)
        if run.work is not None
        and run.work.spread_s <= STORM_LEADS * sizing.lead_s
        and not any(abs(run.at - s.at) <= tolerance + covered(s) for s in scheduled)
    ]
    if not inferred:
        return observed, recurrence
    return replace(observed, upcoming_runs=(*scheduled, *inferred)), recurrence


def covered(run: UpcomingRun) -> float:
    """How long after its action time a schedule's run lands (its learned spread)."""
    return run.work.spread_s if run.work is not None else 0.0
