"""Schedule-aware pre-warming: a floor under a group's size so that the workers a Temporal
Schedule's next run needs are polling when it fires.

A reactive scaler sees a scheduled storm only once it has landed, and its first tasks then wait a
signal, a poll and a worker startup. A schedule's action times are known in advance
(``ListSchedules``), and how much work a run brings can be learned from its past runs or given as a
hint. So for each upcoming run the plan holds ``workers`` as a floor (like ``min_count``) from one
worker startup (and a margin) before the action time until the run has
landed; then the floor is released and the scaler's normal scale-down lets go of whatever the run
did not need.

This module applies the floor, times each warm-up and teaches the scaler what a warm-up
learned; which runs are warmed for and with how many workers is
:mod:`workerplane.planning.warmups`. Pure: the runs come in with the observation (the controller
reads them with :mod:`workerplane.temporal.schedules`, the simulator from its trace), times are
epoch seconds compared with the observation's ``wall_time``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workerplane.planning.actions import GroupState
from workerplane.planning.status import Warmup
from workerplane.planning.warmups import (
    STARTUP_LEAD,
    UpcomingRun,
    WarmupSizing,
    plan_warmups,
)
from workerplane.providers.registry import PROVIDER_TYPES
from workerplane.scaling.slo import SloScaler
from workerplane.scaling.slo_floor import DEFAULT_STARTUP_MS
from workerplane.scaling.slo_model import SloState, wait_fraction
from workerplane.scaling.types import Decision, SetSize, StartWorkers, Strategy, WorkerCensus

if TYPE_CHECKING:  # plan.py and observe.py import this module
    from workerplane.planning.observe import Observation
    from workerplane.planning.plan import GroupIntent

#: Until a warm-up has been timed, a startup the ``slo`` scaler timed on its own scale-ups is
#: taken this many times ahead: those started fewer workers than a warm-up may, and many workers
#: starting at once start slower (on the dev server, 5 workers took 6.1 s where the scaler had
#: timed 4.7 s, and the first warmed run found none polling).
SCALE_UP_TIMED_LEAD = 1.5


def clock(epoch_s: float) -> str:
    """A time of day (UTC) for a decision reason."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%H:%M:%S")


def active_warmups(warmups: Sequence[Warmup], now: float) -> list[Warmup]:
    """The warm-ups whose floor holds at ``now``."""
    return [w for w in warmups if w.starts_at <= now < w.ends_at]


def apply_warm_floor(
    decision: Decision,
    warmups: Sequence[Warmup],
    *,
    now: float,
    strategy: Strategy,
    max_count: int,
    held_size: int | None,
    census: WorkerCensus,
) -> Decision:
    """``decision`` raised to the warm-ups active at ``now`` (their workers add up, never above
    ``max_count``); unchanged when it already asks for as many."""
    active = active_warmups(warmups, now)
    if not active:
        return decision
    floor = min(max_count, sum(w.workers_at(now) for w in active))
    first = min(active, key=lambda w: w.action_at)
    names = ", ".join(sorted({w.schedule_id for w in active}))
    label = "schedules" if len(active) > 1 else "schedule"
    reason = f"pre-warming {floor} workers for {label} {names} at {clock(first.action_at)} UTC"
    if strategy is Strategy.INVOKE:
        starting = decision.count if isinstance(decision, StartWorkers) else 0
        if census.running + starting >= floor:
            return decision
        return StartWorkers(floor - census.running, reason)
    if isinstance(decision, SetSize):
        size = decision.size
    elif held_size is not None:
        size = held_size
    else:
        size = census.desired if census.desired is not None else census.running
    return decision if size >= floor else SetSize(floor, reason)


def trusting_the_warmup(
    decision: Decision,
    active: Sequence[Warmup],
    runs: Sequence[UpcomingRun],
    *,
    held: int,
    shown: float,
) -> Decision:
    """``decision`` held at ``held`` (the warm floor, or the group's size if larger) while the
    warm-ups active were all sized on their runs' learned work and the run has not shown more
    tasks (``shown``: waiting and in flight) than those runs brought.

    The warm-up planned the run with the scaler's own target wait, on the run's learned size,
    spread and task length. The scaler's queue projection, which cannot see the run's end,
    takes its newest task as the first of many more and tops the pool up (35 warmed workers
    and 9 more for the policy lab's scheduled storm at 5 s, whose p95 was 3.5 s). A run larger
    than learned shows it, and a hint (no learned work) is not trusted: the scaler decides.
    """
    if not isinstance(decision, SetSize) or not active:
        return decision
    learned = 0
    for warmup in active:
        work = next(
            (
                r.work
                for r in runs
                if r.schedule_id == warmup.schedule_id and r.at == warmup.action_at
            ),
            None,
        )
        if work is None or not work.mean_task_s:
            return decision
        learned += work.tasks
    if decision.size <= held or shown > learned:
        return decision
    return SetSize(
        held,
        f"{decision.reason}; held at {held}: the warm-up was sized for the run's {learned} "
        f"tasks, {shown:.0f} shown",
    )


@dataclass(frozen=True)
class WarmTiming:
    """What pre-warming learns of a group's worker startup: from a warm-up's ask until half its
    workers poll (as the ``slo`` scaler times its own scale-ups, which a group that is always
    warmed ahead never makes). Each warm-up is timed once, from its first ask: the floor is asked
    again every cycle until its workers poll, and timing those asks too would count only the
    last stragglers, one cycle each, and learn a startup far too short.

    Attributes:
        startup_s: the learned startup (``None`` until a warm-up has been timed).
        asked_at: when the warm-up being timed was asked for (epoch seconds; ``None``: none).
        mark: the ready count that marks half of its workers polling.
        action_at: the action time of the warm-up being timed, or of the last one timed.
    """

    startup_s: float | None = None
    asked_at: float | None = None
    mark: int = 0
    action_at: float | None = None

    def observe(self, census: WorkerCensus, now: float) -> WarmTiming:
        """This timing after seeing ``census`` at ``now``: a warm-up timed once half polls."""
        if self.asked_at is None or census.ready is None or census.ready < self.mark:
            return self
        sample = now - self.asked_at
        learned = sample if self.startup_s is None else 0.7 * self.startup_s + 0.3 * sample
        return WarmTiming(startup_s=learned, action_at=self.action_at)

    def asked(self, census: WorkerCensus, floor: int, now: float, action_at: float) -> WarmTiming:
        """This timing once the warm-up for the run at ``action_at`` asked for ``floor`` workers
        at ``now`` (one warm-up at a time, each once)."""
        if self.asked_at is not None or self.action_at == action_at:
            return self
        if census.ready is None or census.ready >= floor:
            return self
        mark = census.ready + math.ceil((floor - census.ready) / 2)
        return WarmTiming(self.startup_s, asked_at=now, mark=mark, action_at=action_at)


def sizing_of(
    scaler: SloScaler,
    scaler_state: Any,
    timing: WarmTiming,
    census: WorkerCensus,
    default_startup_ms: float,
) -> WarmupSizing:
    """The warm-up sizing of an ``slo`` group: its timed, scaler-timed (taken
    ``SCALE_UP_TIMED_LEAD`` ahead), configured or default startup, and its configured, reported
    or learned slots."""
    d = scaler.details
    learned = scaler_state if isinstance(scaler_state, SloState) else SloState()
    lead = STARTUP_LEAD
    if timing.startup_s is not None:
        startup_ms = timing.startup_s * 1000.0
    elif learned.startup_ms is not None:
        startup_ms, lead = learned.startup_ms, SCALE_UP_TIMED_LEAD
    elif d.worker_startup_ms is not None:
        startup_ms = float(d.worker_startup_ms)
    else:
        startup_ms = default_startup_ms
    slots = d.target_per_worker or (float(census.slots) if census.slots else None) or learned.slots
    return WarmupSizing(
        startup_s=startup_ms / 1000.0,
        poll_s=d.metrics_poll_interval_ms / 1000.0,
        margin_s=d.prewarm.margin_ms / 1000.0,
        slots=slots or 1.0,
        target_wait_s=wait_fraction(d, learned) * d.schedule_to_start_slo_ms / 1000.0,
        max_count=d.max_count,
        startup_lead=lead,
    )


def typical_startup_ms(intent: GroupIntent) -> float:
    """A group's worker startup before anything was timed: its provider's typical startup (the
    registry's, or the intent's own for a type the registry does not know), else the strategy's
    default. A guess far above the real startup asks the first warm-up too early, and once the
    warm-up is timed its lead shrinks: the floor is released and asked again."""
    if intent.typical_startup_ms is not None:
        return intent.typical_startup_ms
    known = PROVIDER_TYPES.get(intent.provider_type)
    return float(known.typical_startup_ms if known else DEFAULT_STARTUP_MS[intent.strategy])


def prewarm_enabled(scaler: object) -> bool:
    """Whether a group with this scaler reads its schedules to pre-warm for them."""
    return isinstance(scaler, SloScaler) and scaler.details.prewarm.enabled


def warms(scaler: object) -> bool:
    """Whether a group with this scaler may pre-warm: for its schedules, or for the recurring
    surges it infers (:mod:`workerplane.planning.recurrence`)."""
    return prewarm_enabled(scaler) or (
        isinstance(scaler, SloScaler) and scaler.details.prewarm.recurring
    )


@dataclass(frozen=True)
class Prewarmed:
    """What the plan's pre-warming step gives back.

    Attributes:
        decision: the decision, raised to the active warm-up.
        warmups: the group's upcoming warm-ups (for the status).
        timing: what pre-warming has timed of the worker startup (kept in the group's state).
        scaler_state: the scaler's state, :func:`taught` what pre-warming knows.
    """

    decision: Decision
    warmups: tuple[Warmup, ...]
    timing: WarmTiming | None
    scaler_state: Any


def taught(scaler_state: Any, timing: WarmTiming, runs: Sequence[UpcomingRun]) -> Any:
    """The ``slo`` scaler's state, taught what pre-warming knows while it knows nothing of its
    own: the startup the warm-ups timed (a group that is always warmed ahead never scales up by
    itself, and the scaler's scale-down window is its startup), and the task duration of the
    schedule's past runs (before its first task finishes, the scaler sizes without one and does
    not count arrivals, so it held a first run's idle workers through the window: 90 worker-s
    after the policy lab's first scheduled storm, 2-3 after the others)."""
    if not isinstance(scaler_state, SloState):
        return scaler_state
    if scaler_state.startup_ms is None and timing.startup_s is not None:
        scaler_state = replace(scaler_state, startup_ms=timing.startup_s * 1000.0)
    durations = [r.work.mean_task_s for r in runs if r.work is not None and r.work.mean_task_s]
    if scaler_state.duration_s is None and durations:
        scaler_state = replace(scaler_state, duration_s=statistics.median(durations))
    return scaler_state


def prewarm(
    decision: Decision,
    intent: GroupIntent,
    observed: Observation,
    scaler_state: Any,
    state: GroupState,
) -> Prewarmed:
    """The plan's pre-warming step, for the runs of ``observed`` (its schedules' and those
    inferred). Only an ``slo`` group that :func:`warms`, neither draining nor retiring, warms."""
    scaler = intent.scaler
    if not isinstance(scaler, SloScaler) or not warms(scaler):
        return Prewarmed(decision, (), state.prewarm, scaler_state)
    if intent.draining or intent.retiring:
        return Prewarmed(decision, (), state.prewarm, scaler_state)
    census, now = observed.census, observed.wall_time
    kept = state.prewarm if isinstance(state.prewarm, WarmTiming) else WarmTiming()
    timing = kept.observe(census, now)
    scaler_state = taught(scaler_state, timing, observed.upcoming_runs)
    if not observed.upcoming_runs:
        return Prewarmed(decision, (), timing, scaler_state)
    sizing = sizing_of(scaler, scaler_state, timing, census, typical_startup_ms(intent))
    warmups = plan_warmups(observed.upcoming_runs, scaler.details.prewarm, sizing, now)
    raised = apply_warm_floor(
        decision,
        warmups,
        now=now,
        strategy=intent.strategy,
        max_count=sizing.max_count,
        held_size=state.held_size,
        census=census,
    )
    active = active_warmups(warmups, now)
    if active:
        floor = min(sizing.max_count, sum(w.workers_at(now) for w in active))
        size = census.desired if census.desired is not None else census.running
        cached = observed.metrics.stats.backlog_count if observed.metrics is not None else 0
        waiting = max(cached, sum(observed.fresh_backlog.values()))
        raised = trusting_the_warmup(
            raised,
            active,
            observed.upcoming_runs,
            held=max(size, floor),
            shown=(census.in_flight or 0) + waiting,
        )
    if active and isinstance(scaler_state, SloState):
        # The feedback loop judges a miss of warmed work on the warm pool's size: at an SLO
        # below a cold start, it would otherwise blame the signal delay and never grow the pool
        # (a scheduled storm at 2 s: p95 2.07-2.28 s on every run, the warm-up never larger).
        scaler_state = replace(scaler_state, warmed=True)
    if raised is not decision:
        action_at = min(w.action_at for w in active)
        if isinstance(raised, SetSize):
            timing = timing.asked(census, raised.size, now, action_at)
        elif isinstance(raised, StartWorkers):
            timing = timing.asked(census, census.running + raised.count, now, action_at)
    return Prewarmed(raised, warmups, timing, scaler_state)
