"""Table tests of the telemetry derivations: a cycle's events and action marker, a status's chart
sample, and the events of published statuses (readiness, start failures)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

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
from workerplane.planning.events import (
    ActionKind,
    ActionMarker,
    EventKind,
    Severity,
    action_marker,
    cycle_events,
    sample_of,
    start_failure_event,
    version_events,
)
from workerplane.planning.observe import Observation
from workerplane.planning.plan import UNSTARTED_REASON, unstarted_status
from workerplane.planning.status import GroupStatus, Readiness, VersionStatus
from workerplane.scaling.types import Decision, Hold, SetSize, StartWorkers, WorkerCensus

E, INFO, W = Severity.ERROR, Severity.INFO, Severity.WARNING


def status(**changes: Any) -> GroupStatus:
    base = GroupStatus(
        version_key="orders/v1",
        group_id="g",
        provider_type="subprocess",
        scaler_type="backlog",
        strategy="worker-set",
        workers_running=1,
        workers_ready=1,
        in_flight=0,
        pollers=1,
        backlog=0,
        backlog_age_s=0.0,
        add_rate=0.0,
        dispatch_rate=0.0,
        desired=1,
        last_decision="hold",
        last_reason="steady",
        last_error=None,
        provider_validation_error=None,
        metrics_ok=True,
        updated_at=100.0,
    )
    return dataclasses.replace(base, **changes)


def plan(action: Action, decision: Decision | None = None) -> Plan:
    if decision is None:
        reason = getattr(action, "reason", "steady")
        decision = SetSize(action.size, reason) if isinstance(action, Resize) else Hold(reason)
    return Plan(decision, action, LogLine(20, ""), GroupState(scaler_state=None))


def observation(running: int = 1, error: str | None = None) -> Observation:
    return Observation(census=WorkerCensus(running=running), metrics=None, metrics_error=error)


FAIL_THROTTLED = ExecutionFailure("provider: slow down", None, "throttled")
FAIL_DENIED = ExecutionFailure("provider: no access", "access_denied: no access", "access_denied")
FAIL_OTHER = ExecutionFailure("provider: boom")
CRASH = "exit code 3 after 0.2s: Traceback ... ValueError"

CASES: list[
    tuple[str, GroupStatus | None, Plan, ExecutionFailure | None, GroupStatus, list[Any]]
] = [
    ("unchanged hold", status(), plan(NoAction()), None, status(), []),
    (
        "same size asked again",
        status(desired=3),
        plan(Resize(3, "steady")),
        None,
        status(desired=3),
        [],
    ),
    (
        "scale up",
        status(desired=1),
        plan(Resize(4, "backlog 40")),
        None,
        status(desired=4),
        [(EventKind.DECISION, INFO, "backlog 40", "scaled up from 1 to 4: backlog 40")],
    ),
    (
        "scale down to zero",
        status(desired=2),
        plan(Resize(0, "idle 60s")),
        None,
        status(desired=0),
        [(EventKind.DECISION, INFO, "idle 60s", "scaled down from 2 to 0: idle 60s")],
    ),
    (
        "first cycle compares with the census",
        None,
        plan(Resize(2, "min 2")),
        None,
        status(desired=2),
        [(EventKind.DECISION, INFO, "min 2", "scaled up to 2: min 2")],
    ),
    (
        "invoke",
        status(desired=None),
        plan(Invoke(2), StartWorkers(2, "2 tasks waiting")),
        None,
        status(desired=None),
        [(EventKind.DECISION, INFO, "2 tasks waiting", "started 2 worker(s): 2 tasks waiting")],
    ),
    (
        "reconcile is a marker, not a decision",
        status(desired=2),
        plan(Reconcile(2, 1)),
        None,
        status(desired=2),
        [],
    ),
    (
        "throttled",
        status(),
        plan(Resize(4, "up")),
        FAIL_THROTTLED,
        status(desired=4, last_error=FAIL_THROTTLED.message),
        [
            (EventKind.DECISION, INFO, "up", None),
            (
                EventKind.PROVIDER_ERROR,
                W,
                "throttled",
                "provider throttled (throttled): provider: slow down",
            ),
        ],
    ),
    (
        "throttled again: no new event",
        status(last_error=FAIL_THROTTLED.message),
        plan(NoAction()),
        FAIL_THROTTLED,
        status(last_error=FAIL_THROTTLED.message),
        [],
    ),
    (
        "denied",
        status(),
        plan(NoAction()),
        FAIL_DENIED,
        status(),
        [
            (
                EventKind.PROVIDER_ERROR,
                E,
                "denied",
                "provider denied (access_denied): provider: no access",
            )
        ],
    ),
    (
        "other failure",
        status(),
        plan(NoAction()),
        FAIL_OTHER,
        status(),
        [(EventKind.PROVIDER_ERROR, E, "failed", "provider failed (error): provider: boom")],
    ),
    (
        "worker crash",
        status(),
        plan(NoAction()),
        None,
        status(last_worker_exit=CRASH),
        [(EventKind.WORKER_EXIT, E, "worker crashed", f"worker exited: {CRASH}")],
    ),
    (
        "same crash still reported",
        status(last_worker_exit=CRASH),
        plan(NoAction()),
        None,
        status(last_worker_exit=CRASH),
        [],
    ),
    (
        "metrics lost",
        status(),
        plan(NoAction()),
        None,
        status(metrics_ok=False),
        [(EventKind.METRICS_UNAVAILABLE, W, "metrics unavailable: timeout", None)],
    ),
    (
        "metrics still lost",
        status(metrics_ok=False),
        plan(NoAction()),
        None,
        status(metrics_ok=False),
        [],
    ),
    (
        "metrics back",
        status(metrics_ok=False),
        plan(NoAction()),
        None,
        status(),
        [(EventKind.METRICS_RECOVERED, INFO, "metrics readable again", None)],
    ),
]


@pytest.mark.parametrize(
    ("previous", "the_plan", "failure", "after", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_cycle_events(
    previous: GroupStatus | None,
    the_plan: Plan,
    failure: ExecutionFailure | None,
    after: GroupStatus,
    expected: list[tuple[EventKind, Severity, str, str | None]],
) -> None:
    events = cycle_events(
        previous, the_plan, failure, after, observation(error="metrics unavailable: timeout")
    )
    got = [(e.kind, e.severity, e.reason) for e in events]
    assert got == [(kind, severity, reason) for kind, severity, reason, _ in expected]
    for event, (*_, message) in zip(events, expected, strict=True):
        assert (event.at, event.version_key, event.group_id) == (100.0, "orders/v1", "g")
        if message is not None:
            assert event.message == message


MARKERS: list[tuple[str, GroupStatus | None, Action, int, ActionMarker | None]] = [
    ("nothing", status(), NoAction(), 1, None),
    ("up", status(desired=1), Resize(3, "r"), 1, ActionMarker(ActionKind.SCALE_UP, 3, "r")),
    ("down", status(desired=3), Resize(1, "r"), 3, ActionMarker(ActionKind.SCALE_DOWN, 1, "r")),
    ("held", status(desired=3), Resize(3, "r"), 2, None),
    ("first, as running", None, Resize(2, "r"), 2, None),
    ("first, below running", None, Resize(1, "r"), 2, ActionMarker(ActionKind.SCALE_DOWN, 1, "r")),
    ("invoke", status(desired=None), Invoke(2), 0, ActionMarker(ActionKind.INVOKE, 2, "steady")),
    (
        "reconcile",
        status(desired=2),
        Reconcile(2, 1),
        1,
        ActionMarker(ActionKind.RECONCILE, 2, "1 workers running, holding 2: asking for it again"),
    ),
]


@pytest.mark.parametrize(
    ("previous", "action", "running", "expected"),
    [case[1:] for case in MARKERS],
    ids=[case[0] for case in MARKERS],
)
def test_action_marker(
    previous: GroupStatus | None, action: Action, running: int, expected: ActionMarker | None
) -> None:
    assert action_marker(plan(action), previous, running) == expected


def test_sample_of_leaves_gaps_when_metrics_are_missing() -> None:
    ok = sample_of(status(backlog=7, pollers=2, add_rate=1.5))
    assert (ok.backlog, ok.pollers, ok.add_rate, ok.workers_running) == (7, 2, 1.5, 1)
    lost = sample_of(status(metrics_ok=False, backlog=0, in_flight=3))
    assert (lost.backlog, lost.backlog_age_s, lost.pollers, lost.add_rate, lost.dispatch_rate) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert lost.in_flight == 3 and lost.workers_running == 1 and lost.at == 100.0
    assert ok.same_values(sample_of(status(backlog=7, pollers=2, add_rate=1.5, updated_at=9.0)))
    assert not ok.same_values(lost)


def version(readiness: Readiness | None, reason: str | None = None) -> VersionStatus:
    return VersionStatus("orders/v1", 1, False, (), readiness, reason, None, False)


FAILED = Readiness.UPDATE_FAILED
VERSIONS: list[tuple[str, VersionStatus | None, VersionStatus, list[tuple[Severity, str]]]] = [
    ("not known yet", None, version(None), []),
    ("first seen ready", None, version(Readiness.READY), [(INFO, "ready")]),
    ("still ready", version(Readiness.READY), version(Readiness.READY), []),
    (
        "fails",
        version(Readiness.READY),
        version(FAILED, "workers fail: exit 3"),
        [(E, "workers fail: exit 3")],
    ),
    ("fails again, same reason", version(FAILED, "x"), version(FAILED, "x"), []),
    ("fails for another reason", version(FAILED, "x"), version(FAILED, "y"), [(E, "y")]),
    (
        "progress is not news",
        version(Readiness.UPDATE_IN_PROGRESS, "0 of 2"),
        version(Readiness.UPDATE_IN_PROGRESS, "1 of 2"),
        [],
    ),
]


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [case[1:] for case in VERSIONS],
    ids=[case[0] for case in VERSIONS],
)
def test_version_events(
    previous: VersionStatus | None, current: VersionStatus, expected: list[tuple[Severity, str]]
) -> None:
    events = version_events(previous, current, at=5.0)
    assert [(e.severity, e.reason) for e in events] == expected
    for event in events:
        assert (event.kind, event.group_id, event.at) == (EventKind.READINESS, None, 5.0)
        assert event.message.startswith(current.readiness.value if current.readiness else "")


def test_start_failure_event() -> None:
    failed = unstarted_status(
        "orders/v1",
        "g",
        "subprocess",
        "backlog",
        "worker-set",
        error="cannot start: no such command",
        wall_time=7.0,
    )
    event = start_failure_event(None, failed)
    assert event is not None
    assert (event.kind, event.severity, event.reason, event.at) == (
        EventKind.START_FAILURE,
        E,
        "cannot start: no such command",
        7.0,
    )
    assert event.message == f"{UNSTARTED_REASON}: cannot start: no such command"
    assert start_failure_event(failed, failed) is None
    other = dataclasses.replace(failed, last_error="cannot start: denied")
    assert start_failure_event(failed, other) is not None
    assert start_failure_event(None, status()) is None
