"""Table tests of plan_cycle: the scaler's decision, the drain and retire rules, the reconcile."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from workerplane.planning.actions import (
    Action,
    ExecutionFailure,
    GroupState,
    Invoke,
    NoAction,
    Reconcile,
    Resize,
)
from workerplane.planning.observe import Observation
from workerplane.planning.plan import (
    COOLING_REASON,
    DRAINED_REASON,
    RETIRING_REASON,
    GroupIntent,
    open_work_done,
    plan_cycle,
    record_failure,
)
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)

SET = Strategy.WORKER_SET
INV = Strategy.INVOKE


@dataclass(frozen=True)
class FixedScaler:
    """A scaler that always decides ``decision`` and counts its calls in its state."""

    decision: Decision

    def decide(self, state: Any, metrics: GroupMetrics | None, now: float) -> tuple[Any, Decision]:
        return state + 1, self.decision


def intent(
    decision: Decision, strategy: Strategy = SET, *, draining: bool = False, retiring: bool = False
) -> GroupIntent:
    return GroupIntent(
        version_key="orders",
        group_id="g",
        provider_type="subprocess",
        scaler_type="backlog",
        strategy=strategy,
        scaler=FixedScaler(decision),
        draining=draining,
        retiring=retiring,
    )


def observed(
    *, backlog: int = 0, in_flight: int | None = 0, running: int = 0, metrics: bool = True
) -> Observation:
    census = WorkerCensus(running=running, ready=running, in_flight=in_flight)
    if not metrics:
        return Observation(census=census, metrics=None, metrics_error="metrics unavailable: down")
    stats = QueueStats(backlog_count=backlog, pollers=running)
    return Observation(
        census=census,
        metrics=GroupMetrics(stats=stats, workers=census, observed_at=1.0),
        wall_time=100.0,
    )


IDLE = observed()
BUSY_BACKLOG = observed(backlog=3, running=2)
BUSY_IN_FLIGHT = observed(in_flight=2, running=2)
NO_METRICS = observed(metrics=False, running=2)


@pytest.mark.parametrize(
    ("case", "group", "seen", "held", "action", "decision"),
    [
        # The scaler's decision, carried out as is.
        ("start", intent(StartWorkers(2, "r"), INV), IDLE, None, Invoke(2), StartWorkers(2, "r")),
        ("resize", intent(SetSize(3, "r")), IDLE, None, Resize(3, "r"), SetSize(3, "r")),
        ("hold", intent(Hold("r")), IDLE, None, NoAction(), Hold("r")),
        # Drain: a draining version goes to zero (worker set) or starts nothing (invoke) once idle.
        (
            "draining idle worker set",
            intent(SetSize(3, "r"), draining=True),
            IDLE,
            3,
            Resize(0, DRAINED_REASON),
            SetSize(0, DRAINED_REASON),
        ),
        (
            "draining idle worker set, scaler holds",
            intent(Hold("r"), draining=True),
            IDLE,
            None,
            Resize(0, DRAINED_REASON),
            SetSize(0, DRAINED_REASON),
        ),
        (
            "draining with backlog: the scaler decides",
            intent(SetSize(3, "r"), draining=True),
            BUSY_BACKLOG,
            2,
            Resize(3, "r"),
            SetSize(3, "r"),
        ),
        (
            "draining with work in flight: the scaler decides",
            intent(SetSize(1, "r"), draining=True),
            BUSY_IN_FLIGHT,
            2,
            Resize(1, "r"),
            SetSize(1, "r"),
        ),
        (
            "draining idle invoke starts nothing",
            intent(StartWorkers(2, "r"), INV, draining=True),
            IDLE,
            None,
            NoAction(),
            Hold(DRAINED_REASON),
        ),
        (
            "draining busy invoke: the scaler decides",
            intent(StartWorkers(2, "r"), INV, draining=True),
            BUSY_BACKLOG,
            None,
            Invoke(2),
            StartWorkers(2, "r"),
        ),
        (
            "draining without metrics holds (never to zero on missing data)",
            intent(Hold("no metrics"), draining=True),
            NO_METRICS,
            2,
            NoAction(),
            Hold("no metrics"),
        ),
        # Retire: a group removed from the spec never grows, and goes to zero once idle.
        (
            "retiring busy worker set never grows",
            intent(SetSize(5, "r"), retiring=True),
            BUSY_BACKLOG,
            2,
            NoAction(),
            Hold(RETIRING_REASON),
        ),
        (
            "retiring busy invoke never grows",
            intent(StartWorkers(3, "r"), INV, retiring=True),
            BUSY_IN_FLIGHT,
            None,
            NoAction(),
            Hold(RETIRING_REASON),
        ),
        (
            "retiring idle worker set goes to zero",
            intent(SetSize(5, "r"), retiring=True),
            IDLE,
            2,
            Resize(0, DRAINED_REASON),
            SetSize(0, DRAINED_REASON),
        ),
        (
            "retiring without metrics holds",
            intent(StartWorkers(3, "r"), INV, retiring=True),
            NO_METRICS,
            None,
            NoAction(),
            Hold(RETIRING_REASON),
        ),
        # Reconcile: a hold asks again for the held size when the census differs.
        (
            "crashed worker replaced",
            intent(Hold("r")),
            BUSY_BACKLOG,
            3,
            Reconcile(3, 2),
            Hold("r"),
        ),
        ("census at the held size", intent(Hold("r")), BUSY_BACKLOG, 2, NoAction(), Hold("r")),
        (
            "no reconcile before a size is held",
            intent(Hold("r")),
            IDLE,
            None,
            NoAction(),
            Hold("r"),
        ),
        (
            "reconcile without metrics (the census is read anyway)",
            intent(Hold("r")),
            NO_METRICS,
            4,
            Reconcile(4, 2),
            Hold("r"),
        ),
        (
            "retiring busy group reconciles to what it holds",
            intent(SetSize(9, "r"), retiring=True),
            BUSY_BACKLOG,
            3,
            Reconcile(3, 2),
            Hold(RETIRING_REASON),
        ),
    ],
)
def test_plan_cycle(
    case: str,
    group: GroupIntent,
    seen: Observation,
    held: int | None,
    action: Action,
    decision: Decision,
) -> None:
    # Idle since long before: a draining group's idle cooldown has passed.
    state = GroupState(scaler_state=0, held_size=held, idle_since=-100.0)
    plan, status = plan_cycle(seen, group, state, 1.0)
    assert (plan.action, plan.decision) == (action, decision), case
    assert plan.state.scaler_state == 1
    expected_held = decision.size if isinstance(decision, SetSize) else held
    assert plan.state.held_size == expected_held
    assert status.desired == (expected_held if group.strategy is SET else None)
    assert status.last_reason == decision.reason
    assert status.metrics_ok is (seen.metrics is not None)
    assert status.last_error == seen.metrics_error


def test_a_draining_group_goes_to_zero_only_once_idle_for_its_cooldown() -> None:
    """A pinned workflow's next task lands a moment after its last one completed: a worker
    retired the instant its queue looked empty could be matched that task as it left."""
    group = dataclasses.replace(intent(SetSize(1, "min"), draining=True), idle_cooldown_s=30.0)
    state = GroupState(scaler_state=0, held_size=1)
    decisions = []
    for now, seen in [
        (0.0, IDLE),  # idle from here ...
        (10.0, BUSY_IN_FLIGHT),  # ... until a pinned task ran
        (20.0, IDLE),  # the cooldown counts again from here
        (45.0, NO_METRICS),  # nothing read: neither work nor a reset
        (49.9, IDLE),
        (50.0, IDLE),
    ]:
        plan, _ = plan_cycle(seen, group, state, now)
        state = plan.state
        decisions.append(plan.decision)
    assert decisions == [
        Hold(COOLING_REASON),
        SetSize(1, "min"),
        Hold(COOLING_REASON),
        SetSize(1, "min"),
        Hold(COOLING_REASON),
        SetSize(0, DRAINED_REASON),
    ]
    assert state.idle_since == 20.0


@pytest.mark.parametrize(
    ("decision", "previous", "level"),
    [
        (Hold("same"), GroupState(0, last_decision="hold", last_reason="same"), logging.DEBUG),
        (Hold("new"), GroupState(0, last_decision="hold", last_reason="same"), logging.INFO),
        (Hold("same"), GroupState(0, last_decision="set size 2", last_reason="same"), logging.INFO),
        (SetSize(2, "r"), GroupState(0, last_decision="set size 2", last_reason="r"), logging.INFO),
    ],
)
def test_an_unchanged_hold_logs_quietly(
    decision: Decision, previous: GroupState, level: int
) -> None:
    plan, _ = plan_cycle(BUSY_BACKLOG, intent(decision), previous, 1.0)
    assert plan.log.level == level


def test_the_log_line_and_status_carry_the_observation() -> None:
    plan, status = plan_cycle(BUSY_BACKLOG, intent(SetSize(3, "grow")), GroupState(0), 1.0)
    assert plan.log.message == (
        "orders/g set size 3: grow | backlog=3 age=0.0s add=0.00/s dispatch=0.00/s pollers=2 "
        "running=2 ready=2 in_flight=0"
    )
    assert (status.last_decision, status.backlog, status.workers_running) == ("set size 3", 3, 2)
    assert status.updated_at == 100.0
    blind_plan, blind = plan_cycle(NO_METRICS, intent(Hold("blind")), GroupState(0), 1.0)
    assert "backlog=? age=0.0s" in blind_plan.log.message
    assert (blind.metrics_ok, blind.backlog) == (False, 0)


@pytest.mark.parametrize(
    ("failure", "earlier", "validation"),
    [
        (ExecutionFailure("provider: throttled"), None, None),
        (
            ExecutionFailure("provider: denied", "access_denied: denied"),
            None,
            "access_denied: denied",
        ),
        (ExecutionFailure("provider: throttled"), "not_found: gone", "not_found: gone"),
    ],
)
def test_a_failed_call_is_reported(
    failure: ExecutionFailure, earlier: str | None, validation: str | None
) -> None:
    plan, status = plan_cycle(
        IDLE, intent(SetSize(1, "r")), GroupState(0, validation_error=earlier), 1.0
    )
    state, failed = record_failure(plan, status, failure)
    assert failed.last_error == failure.message
    assert state.validation_error == failed.provider_validation_error == validation
    assert state.held_size == 1


@pytest.mark.parametrize(
    ("seen", "done"),
    [(IDLE, True), (BUSY_BACKLOG, False), (BUSY_IN_FLIGHT, False), (NO_METRICS, False)],
)
def test_a_retiring_group_stops_once_its_open_work_is_done(seen: Observation, done: bool) -> None:
    _, status = plan_cycle(seen, intent(Hold("r"), retiring=True), GroupState(0), 1.0)
    assert open_work_done(status) is done
    assert open_work_done(None) is False


def test_a_hold_asks_for_the_size_a_provider_cannot_tell_it_holds() -> None:
    """A webhook receiver has no list API: until asked, its census counts none of the workers
    an earlier controller run may have left it holding, so the first hold asks for the size."""
    unknown = WorkerCensus(running=0, size_unknown=True)
    seen = dataclasses.replace(
        IDLE, census=unknown, metrics=dataclasses.replace(IDLE.metrics, workers=unknown)
    )
    plan, _ = plan_cycle(seen, intent(Hold("r")), GroupState(scaler_state=0), 1.0)
    assert isinstance(plan.action, Resize) and plan.action.size == 0
    assert plan.decision.reason.startswith("r; the provider cannot tell the size it holds")
    # A size the scaler asks for is asked as it is; without metrics nothing is asked.
    plan, _ = plan_cycle(seen, intent(SetSize(2, "r")), GroupState(scaler_state=0), 1.0)
    assert plan.action == Resize(2, "r")
    blind = dataclasses.replace(NO_METRICS, census=unknown)
    plan, _ = plan_cycle(blind, intent(Hold("r")), GroupState(scaler_state=0), 1.0)
    assert plan.action == NoAction()
