"""``plan_cycle``: everything the controller decides for one scaling group in one cycle.

The scaler's decision, then the rules that override it (a draining version goes to zero once
idle for its cooldown, a group removed from the spec never grows), the warm floor ahead of a
Temporal Schedule's run or of a surge that recurs (:mod:`workerplane.planning.prewarm`,
:mod:`workerplane.planning.recurrence`), then the action that carries it out (with the
held-size reconcile), the decision log line and the status. The controller executes the plan and
the simulator runs the same function, so what the policy lab measures is what production does.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from workerplane.config.rollout import DEFAULT_IDLE_COOLDOWN_S
from workerplane.planning.achieved import STATUS_WINDOW_S, achieved_over, latency_target
from workerplane.planning.actions import (
    Action,
    ExecutionFailure,
    GroupState,
    Invoke,
    LogLine,
    NoAction,
    Plan,
    Reconcile,
    Resize,
)
from workerplane.planning.observe import Observation
from workerplane.planning.pollers import (
    PollerCensus,
    counted_metrics,
    managed_share,
    unmanaged_summary,
)
from workerplane.planning.prewarm import prewarm
from workerplane.planning.recurrence import infer_runs
from workerplane.planning.status import GroupStatus
from workerplane.planning.sunset import SCALED_DOWN_REASON, SunsetStatus
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
)

RETIRING_REASON = "group removed from the spec: finishing its open work"
DRAINED_REASON = "version is draining and has no work left"
#: The reason of a draining group with no work, before its idle cooldown has passed.
COOLING_REASON = "version is draining: no work left, holding through the idle cooldown"
#: The reason of a group whose provider could not be built or started (:func:`unstarted_status`).
UNSTARTED_REASON = "the provider could not start"


class Decider(Protocol):
    """The part of a scaler the plan calls."""

    def decide(
        self, state: Any, metrics: GroupMetrics | None, now: float
    ) -> tuple[Any, Decision]: ...


@dataclass(frozen=True)
class GroupIntent:
    """What the spec asks of one scaling group, compiled for planning.

    Attributes:
        draining: its version is draining (serve pinned work, then go to zero).
        retiring: the group left the spec (finish its open work, never grow).
        sunset: its version's sunset (:mod:`workerplane.planning.sunset`), when it has one.
        idle_cooldown_s: how long a draining group must have been idle before it goes to zero
            (its version's ``rollout.sunset.idle_cooldown``).
        deployment: the workerplane deployment (the spec's name) whose marker its own workers'
            identities carry (:mod:`workerplane.planning.identity`).
        count_unmanaged: pollers without that marker count as capacity
            (``unmanaged_pollers: count``; :mod:`workerplane.planning.pollers`).
        typical_startup_ms: the provider's typical worker startup when its type is not in the
            provider registry (the simulator's workers); ``None``: the registry's figure.
    """

    version_key: str
    group_id: str
    provider_type: str
    scaler_type: str
    strategy: Strategy
    scaler: Decider
    draining: bool = False
    retiring: bool = False
    sunset: SunsetStatus | None = None
    idle_cooldown_s: float = DEFAULT_IDLE_COOLDOWN_S
    deployment: str = ""
    count_unmanaged: bool = False
    typical_startup_ms: float | None = None


def plan_cycle(
    observed: Observation, intent: GroupIntent, state: GroupState, now: float
) -> tuple[Plan, GroupStatus]:
    """Plan one cycle of a group from what was observed; ``now`` is monotonic seconds."""
    read = observed
    copy_starts = state.copy_starts.after(read.metrics, read.census)
    observed = observed.with_fresh_backlog(copy_starts.taken_since(read.census))
    metrics = observed.metrics
    pollers = observed.poller_census(intent.deployment, state.pollers)
    counted = pollers.unmanaged if intent.count_unmanaged else 0
    scaler_state, decision = intent.scaler.decide(
        state.scaler_state, counted_metrics(metrics, counted), now
    )
    covered = state.covered
    if intent.strategy is Strategy.WORKER_SET:
        decision, covered = managed_share(decision, counted, state.held_size, state.covered)
    idle_since = idle_since_after(metrics, state.idle_since, now)
    idle_for_s = None if idle_since is None else now - idle_since
    decision = apply_rules(decision, intent, metrics, idle_for_s)
    # Inferred recurrence counts arrivals from exact readings only. The hint read while every
    # slot is busy lags the tasks being dispatched (on a real server it counted a draining
    # fan-out's tasks twice), so recurrence takes the hint only as read while no worker polls.
    exact = observed if read.census.polling == 0 else dataclasses.replace(read, fresh_backlog={})
    inferred, recurrence = infer_runs(exact, intent, scaler_state, state)
    observed = dataclasses.replace(observed, upcoming_runs=inferred.upcoming_runs)
    warm = prewarm(decision, intent, observed, scaler_state, state)
    decision = ask_unknown_size(warm.decision, observed)
    next_state = dataclasses.replace(
        advance(state, warm.scaler_state, decision),
        prewarm=warm.timing,
        recurrence=recurrence,
        latency=state.latency.observe(observed.census.schedule_to_start, observed.wall_time),
        pollers=pollers,
        covered=covered,
        idle_since=idle_since,
        copy_starts=copy_starts,
    )
    plan = Plan(
        decision=decision,
        action=action_for(decision, state.held_size, observed.census.running),
        log=decision_log_line(intent, observed, decision, state),
        state=next_state,
        notice=unmanaged_notice(intent, state.pollers, next_state.pollers),
    )
    status = group_status(intent, observed, next_state, decision, observed.metrics_error)
    return plan, dataclasses.replace(status, warmups=warm.warmups, sunset=intent.sunset)


def idle_since_after(
    metrics: GroupMetrics | None, previous: float | None, now: float
) -> float | None:
    """Since when the group has had nothing waiting and nothing running, after this reading:
    ``previous`` while it stays idle (or nothing was read), ``now`` when it just went idle,
    ``None`` while it has work."""
    if metrics is None:
        return previous
    if metrics.stats.backlog_count > 0 or metrics.workers.in_flight:
        return None
    return previous if previous is not None else now


def apply_rules(
    decision: Decision,
    intent: GroupIntent,
    metrics: GroupMetrics | None,
    idle_for_s: float | None,
) -> Decision:
    """Override the scaler for a version its sunset scaled down (held at zero), a retiring
    group (it never grows, and goes to zero once idle) and a draining version (it starts nothing
    once it has no work left, goes to zero once idle for ``intent.idle_cooldown_s``, and serves
    pinned work that arrives, from zero if need be). ``idle_for_s`` is how long the group has
    had no work (``None``: it has some). Without metrics, nothing is known to be idle, so the
    size holds."""
    if intent.sunset is not None and intent.sunset.holds_zero:
        if intent.strategy is Strategy.WORKER_SET:
            return SetSize(0, SCALED_DOWN_REASON)
        return Hold(SCALED_DOWN_REASON)
    if intent.retiring:
        decision = Hold(RETIRING_REASON)
    elif not intent.draining:
        return decision
    if metrics is None or idle_for_s is None:
        return decision
    if intent.strategy is Strategy.INVOKE:
        # Invoked workers leave by themselves once idle; only starting more is stopped.
        return Hold(DRAINED_REASON) if isinstance(decision, StartWorkers) else decision
    if not intent.retiring and idle_for_s < intent.idle_cooldown_s:
        return Hold(COOLING_REASON)
    return SetSize(0, DRAINED_REASON)


def ask_unknown_size(decision: Decision, observed: Observation) -> Decision:
    """A hold, made a request for the size the scaler holds, while the provider cannot tell the
    size it holds (``WorkerCensus.size_unknown``: a webhook receiver has no list API). A
    receiver left holding workers by an earlier controller run would otherwise keep them, idle
    and billed, until the size next changes. Not without metrics: then nothing is known of the
    work they may be doing."""
    census = observed.census
    if not census.size_unknown or observed.metrics is None or not isinstance(decision, Hold):
        return decision
    return SetSize(
        census.running,
        f"{decision.reason}; the provider cannot tell the size it holds: asking for"
        f" {census.running}",
    )


def advance(state: GroupState, scaler_state: Any, decision: Decision) -> GroupState:
    """The state after ``decision``: the scaler's new state, the size now held, the decision."""
    return dataclasses.replace(
        state,
        scaler_state=scaler_state,
        held_size=decision.size if isinstance(decision, SetSize) else state.held_size,
        last_decision=describe(decision),
        last_reason=decision.reason,
    )


def action_for(decision: Decision, held_size: int | None = None, running: int = 0) -> Action:
    """The provider call that carries out ``decision``. A hold asks again for the held size
    when ``running`` workers exist instead: workers crash and get evicted."""
    if isinstance(decision, StartWorkers):
        return Invoke(decision.count)
    if isinstance(decision, SetSize):
        return Resize(decision.size, decision.reason)
    if held_size is not None and running != held_size:
        return Reconcile(held_size, running)
    return NoAction()


def describe(decision: Decision) -> str:
    """A decision in a few words, for the status and the log."""
    if isinstance(decision, StartWorkers):
        return f"start {decision.count}"
    if isinstance(decision, SetSize):
        return f"set size {decision.size}"
    return "hold"


def unmanaged_notice(
    intent: GroupIntent, previous: PollerCensus, current: PollerCensus
) -> LogLine | None:
    """A warning when the unmanaged pollers changed since the last read, an info line when the
    last one left; ``None`` while they stay the same."""
    seen = (current.unmanaged, current.unmanaged_identities)
    if seen == (previous.unmanaged, previous.unmanaged_identities):
        return None
    name = f"{intent.version_key}/{intent.group_id}"
    if current.unmanaged == 0:
        return LogLine(logging.INFO, f"{name}: no unmanaged pollers any more")
    summary = unmanaged_summary(
        current.unmanaged, current.unmanaged_identities, intent.count_unmanaged
    )
    return LogLine(logging.WARNING, f"{name} has {summary}")


def decision_log_line(
    intent: GroupIntent, observed: Observation, decision: Decision, previous: GroupState
) -> LogLine:
    """A line per cycle: INFO when something is done or the decision changed, else DEBUG."""
    described = describe(decision)
    changed = described != previous.last_decision or decision.reason != previous.last_reason
    level = logging.INFO if not isinstance(decision, Hold) or changed else logging.DEBUG
    metrics, census = observed.metrics, observed.census
    stats = metrics.stats if metrics is not None else None
    message = (
        f"{intent.version_key}/{intent.group_id} {described}: {decision.reason}"
        f" | backlog={stats.backlog_count if stats else '?'}"
        f" age={stats.backlog_age_s if stats else 0.0:.1f}s"
        f" add={stats.add_rate if stats else 0.0:.2f}/s"
        f" dispatch={stats.dispatch_rate if stats else 0.0:.2f}/s"
        f" pollers={stats.pollers if stats else '?'}"
        f" running={census.running} ready={census.ready} in_flight={census.in_flight}"
    )
    if observed.fresh_backlog:
        message += f" fresh_backlog={sum(observed.fresh_backlog.values())}"
    return LogLine(level, message)


def group_status(
    intent: GroupIntent,
    observed: Observation,
    state: GroupState,
    decision: Decision,
    last_error: str | None,
) -> GroupStatus:
    """The status a group reports after a cycle (``state`` is the state after it)."""
    metrics = observed.metrics
    stats = metrics.stats if metrics is not None else QueueStats()
    census = observed.census
    if last_error is None and census.last_worker_exit is not None:
        # Workers that keep failing are the group's error (a version short of its minimum is
        # then UPDATE_FAILED with this reason, not in progress for ever).
        last_error = f"workers fail: {census.last_worker_exit}"
    return GroupStatus(
        version_key=intent.version_key,
        group_id=intent.group_id,
        provider_type=intent.provider_type,
        scaler_type=intent.scaler_type,
        strategy=intent.strategy.value,
        workers_running=census.running,
        workers_ready=census.ready,
        in_flight=census.in_flight,
        pollers=stats.pollers,
        backlog=stats.backlog_count,
        backlog_age_s=stats.backlog_age_s,
        add_rate=stats.add_rate,
        dispatch_rate=stats.dispatch_rate,
        desired=state.held_size if intent.strategy is Strategy.WORKER_SET else None,
        last_decision=state.last_decision,
        last_reason=decision.reason,
        last_error=last_error,
        provider_validation_error=state.validation_error,
        metrics_ok=metrics is not None,
        updated_at=observed.wall_time,
        last_worker_exit=census.last_worker_exit,
        unmanaged_pollers=state.pollers.unmanaged,
        unmanaged_identities=state.pollers.unmanaged_identities,
        unmanaged_counted=intent.count_unmanaged,
        schedule_to_start=achieved_over(
            state.latency,
            STATUS_WINDOW_S,
            observed.wall_time,
            latency_target(intent.scaler, state.scaler_state),
            census.running,
        ),
    )


def unstarted_status(
    version_key: str,
    group_id: str,
    provider_type: str,
    scaler_type: str,
    strategy: str,
    *,
    error: str,
    wall_time: float,
) -> GroupStatus:
    """The status of a group whose provider could not even be built or started: no workers, and
    ``error`` as its validation error, so its version is UPDATE_FAILED with the reason."""
    return GroupStatus(
        version_key=version_key,
        group_id=group_id,
        provider_type=provider_type,
        scaler_type=scaler_type,
        strategy=strategy,
        workers_running=0,
        workers_ready=0,
        in_flight=None,
        pollers=0,
        backlog=0,
        backlog_age_s=0.0,
        add_rate=0.0,
        dispatch_rate=0.0,
        desired=None,
        last_decision="hold",
        last_reason=UNSTARTED_REASON,
        last_error=error,
        provider_validation_error=error,
        metrics_ok=False,
        updated_at=wall_time,
    )


def record_failure(
    plan: Plan, status: GroupStatus, failure: ExecutionFailure
) -> tuple[GroupState, GroupStatus]:
    """The state and status after the plan's provider call failed: the error is reported, and a
    failure that retrying will not fix becomes the group's validation error."""
    validation = failure.validation_error or plan.state.validation_error
    state = dataclasses.replace(plan.state, validation_error=validation)
    return state, dataclasses.replace(
        status, last_error=failure.message, provider_validation_error=validation
    )


def open_work_done(status: GroupStatus | None) -> bool:
    """Whether a retiring group may stop: its metrics were read and show no backlog and no task
    in flight (e.g. the last workflow task after an activity has run)."""
    return status is not None and status.metrics_ok and status.backlog == 0 and not status.in_flight
