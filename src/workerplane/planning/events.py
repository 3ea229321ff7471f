"""What the console shows of a group over time: samples for its charts and events for its log.

Pure: everything is derived from a cycle's parts (the status before and after, the plan, the
failed provider call) or from published statuses, so the rules are table-tested. An unchanged
hold yields no event: a fleet holding steady writes nothing but its (rate-limited) samples.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from workerplane.planning.actions import ExecutionFailure, Invoke, Plan, Reconcile, Resize
from workerplane.planning.observe import Observation
from workerplane.planning.plan import UNSTARTED_REASON
from workerplane.planning.status import GroupStatus, Readiness, VersionStatus
from workerplane.scaling.latency import LatencySketch


class EventKind(enum.StrEnum):
    """What happened (the values are the API's ``kind``)."""

    DECISION = "decision"
    PROVIDER_ERROR = "provider_error"
    WORKER_EXIT = "worker_exit"
    METRICS_UNAVAILABLE = "metrics_unavailable"
    METRICS_RECOVERED = "metrics_recovered"
    READINESS = "readiness"
    START_FAILURE = "start_failure"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ActionKind(enum.StrEnum):
    """A scale action drawn as a marker on the charts."""

    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    INVOKE = "invoke"
    RECONCILE = "reconcile"


@dataclass(frozen=True)
class GroupEvent:
    """One entry of the event log.

    Attributes:
        at: epoch seconds.
        version_key: the :attr:`~workerplane.planning.status.ManagedVersion.key`.
        group_id: the scaling group, or ``None`` for an event of the whole version (readiness).
        reason: why, in a few words (a decision's reason is the scaler's).
        message: the whole line, as a person reads it.
    """

    at: float
    version_key: str
    group_id: str | None
    kind: EventKind
    severity: Severity
    reason: str
    message: str


@dataclass(frozen=True)
class ActionMarker:
    """A provider call the plan made: its kind, the size asked (or workers invoked), why."""

    kind: ActionKind
    size: int
    reason: str


@dataclass(frozen=True)
class GroupSample:
    """One point of a group's charts. Queue figures are ``None`` while the metrics could not
    be read (a chart gap rather than a false zero); ``workers_ready`` and ``desired`` are
    ``None`` where the provider has none (e.g. invoke providers)."""

    version_key: str
    group_id: str
    at: float
    backlog: int | None
    backlog_age_s: float | None
    in_flight: int | None
    workers_running: int
    workers_ready: int | None
    desired: int | None
    pollers: int | None
    add_rate: float | None
    dispatch_rate: float | None
    action: ActionMarker | None = None
    #: The schedule-to-start of the tasks measured since the group's previous sample.
    waited: LatencySketch | None = None

    def same_values(self, other: GroupSample) -> bool:
        """Whether ``other`` shows the same figures (its time and action aside)."""
        return _figures(self) == _figures(other)


def _figures(sample: GroupSample) -> tuple[object, ...]:
    return (
        sample.backlog,
        sample.backlog_age_s,
        sample.in_flight,
        sample.workers_running,
        sample.workers_ready,
        sample.desired,
        sample.pollers,
        sample.add_rate,
        sample.dispatch_rate,
    )


def sample_of(status: GroupStatus, action: ActionMarker | None = None) -> GroupSample:
    """The chart point of a group's status after a cycle."""
    queue = status.metrics_ok
    return GroupSample(
        version_key=status.version_key,
        group_id=status.group_id,
        at=status.updated_at,
        backlog=status.backlog if queue else None,
        backlog_age_s=status.backlog_age_s if queue else None,
        in_flight=status.in_flight,
        workers_running=status.workers_running,
        workers_ready=status.workers_ready,
        desired=status.desired,
        pollers=status.pollers if queue else None,
        add_rate=status.add_rate if queue else None,
        dispatch_rate=status.dispatch_rate if queue else None,
        action=action,
    )


def action_marker(plan: Plan, previous: GroupStatus | None, running: int) -> ActionMarker | None:
    """The marker of the plan's provider call, or ``None`` when it changes nothing (no call, or
    a resize to the size already held). ``running`` is the census of this cycle: the size a
    group without a previous status is compared to."""
    action = plan.action
    if isinstance(action, Invoke):
        return ActionMarker(ActionKind.INVOKE, action.count, plan.decision.reason)
    if isinstance(action, Reconcile):
        return ActionMarker(ActionKind.RECONCILE, action.size, action.reason)
    if not isinstance(action, Resize):
        return None
    before = previous.desired if previous is not None and previous.desired is not None else None
    if before == action.size or (before is None and running == action.size):
        return None
    grows = action.size > (before if before is not None else running)
    kind = ActionKind.SCALE_UP if grows else ActionKind.SCALE_DOWN
    return ActionMarker(kind, action.size, action.reason)


def cycle_events(
    previous: GroupStatus | None,
    plan: Plan,
    failure: ExecutionFailure | None,
    status: GroupStatus,
    observation: Observation,
) -> list[GroupEvent]:
    """The events of one group cycle: what changed since ``previous`` (the status before it)."""
    at, key, group = status.updated_at, status.version_key, status.group_id
    events: list[GroupEvent] = []

    def add(kind: EventKind, severity: Severity, reason: str, message: str) -> None:
        events.append(GroupEvent(at, key, group, kind, severity, reason, message))

    marker = action_marker(plan, previous, observation.census.running)
    if marker is not None and marker.kind is not ActionKind.RECONCILE:
        add(EventKind.DECISION, Severity.INFO, marker.reason, _decision_message(marker, previous))
    if failure is not None and (previous is None or previous.last_error != failure.message):
        reason, severity = _provider_error(failure.kind)
        add(
            EventKind.PROVIDER_ERROR,
            severity,
            reason,
            f"provider {reason} ({failure.kind or 'error'}): {failure.message}",
        )
    exit_ = status.last_worker_exit
    if exit_ is not None and (previous is None or previous.last_worker_exit != exit_):
        add(EventKind.WORKER_EXIT, Severity.ERROR, "worker crashed", f"worker exited: {exit_}")
    was_ok = previous is None or previous.metrics_ok
    if was_ok and not status.metrics_ok:
        reason = observation.metrics_error or "metrics unavailable"
        add(
            EventKind.METRICS_UNAVAILABLE,
            Severity.WARNING,
            reason,
            f"{reason}: holding the size until they are back",
        )
    elif not was_ok and status.metrics_ok:
        add(
            EventKind.METRICS_RECOVERED,
            Severity.INFO,
            "metrics readable again",
            "queue metrics are readable again",
        )
    return events


def _decision_message(marker: ActionMarker, previous: GroupStatus | None) -> str:
    if marker.kind is ActionKind.INVOKE:
        return f"started {marker.size} worker(s): {marker.reason}"
    verb = "scaled up" if marker.kind is ActionKind.SCALE_UP else "scaled down"
    before = f" from {previous.desired}" if previous is not None and previous.desired else ""
    return f"{verb}{before} to {marker.size}: {marker.reason}"


def _provider_error(kind: str | None) -> tuple[str, Severity]:
    """throttled (a passing fault), denied (access) or failed (anything else)."""
    if kind == "throttled":
        return "throttled", Severity.WARNING
    if kind == "access_denied":
        return "denied", Severity.ERROR
    return "failed", Severity.ERROR


def version_events(
    previous: VersionStatus | None, current: VersionStatus, at: float
) -> list[GroupEvent]:
    """A readiness event when the version's readiness changes (or its failure reason does)."""
    readiness = current.readiness
    if readiness is None:
        return []
    if previous is not None and previous.readiness == readiness:
        same_failure = previous.reason == current.reason
        if readiness is not Readiness.UPDATE_FAILED or same_failure:
            return []
    severity = {
        Readiness.READY: Severity.INFO,
        Readiness.UPDATE_IN_PROGRESS: Severity.INFO,
        Readiness.UPDATE_FAILED: Severity.ERROR,
    }[readiness]
    reason = current.reason or "ready"
    message = f"{readiness.value}: {reason}"
    return [
        GroupEvent(at, current.version_key, None, EventKind.READINESS, severity, reason, message)
    ]


def start_failure_event(previous: GroupStatus | None, current: GroupStatus) -> GroupEvent | None:
    """An event when a group's provider could not start, or failed again for another reason."""
    if current.last_reason != UNSTARTED_REASON or current.last_error is None:
        return None
    if previous is not None and previous.last_error == current.last_error:
        return None
    return GroupEvent(
        current.updated_at,
        current.version_key,
        current.group_id,
        EventKind.START_FAILURE,
        Severity.ERROR,
        current.last_error,
        f"{UNSTARTED_REASON}: {current.last_error}",
    )
