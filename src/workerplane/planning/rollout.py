"""Rollouts of a new build, planned as a pure function: what to ask Temporal next.

:func:`plan_rollout` reads what is observed now (the new version's polling workers, Temporal's
current and ramping versions, the gate workflow's outcome), the ``rollout`` spec and the rollout's
remembered state, and returns the routing changes to request and the next state. It is
level-triggered, as temporal-worker-controller's planner is: every action is the routing wanted
now, asked again on every tick until Temporal reports it, so a refused or lost call only delays
the rollout. The state moves on only from what was observed, never from what was asked.

User commands (pause, resume, promote, rollback) change the state through
:func:`workerplane.planning.rollout_commands.apply_command`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from workerplane.config.rollout import RolloutSpec, RolloutStrategy


class RolloutPhase(StrEnum):
    """Where a rollout is. The last three are final: nothing moves any more."""

    WAITING_FOR_WORKERS = "waiting-for-workers"  # the new version's minimum is not polling yet
    GATE = "gate"  # the gate workflow runs on the new version
    RAMPING = "ramping"  # progressive: a share of new workflows goes to the new version
    WAITING_FOR_PROMOTION = "waiting-for-promotion"  # manual: a user promotes it
    PROMOTING = "promoting"  # asking Temporal to make the new version current
    ROLLING_BACK = "rolling-back"  # asking Temporal to route to the previous version again
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


FINAL_PHASES = frozenset({RolloutPhase.SUCCEEDED, RolloutPhase.FAILED, RolloutPhase.ROLLED_BACK})


class GateOutcome(StrEnum):
    """The gate workflow as Temporal describes it."""

    NOT_FOUND = "not-found"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class GateObservation:
    outcome: GateOutcome
    message: str | None = None


@dataclass(frozen=True)
class Routing:
    """A deployment's routing in Temporal: the current version, and the ramping one with its
    share of new workflows (``None``: unversioned workers, or no ramp)."""

    current: str | None = None
    ramping: str | None = None
    percentage: float | None = None


@dataclass(frozen=True)
class TargetReadiness:
    """The new version as the controller last published it: its namespace, its workers known
    to poll, its minimum, and whether every group has reported."""

    namespace: str | None
    workers_ready: int
    workers_required: int
    reported: bool


@dataclass(frozen=True)
class RolloutObserved:
    """What the runner saw this tick.

    Attributes:
        routing: Temporal's current and ramping versions.
        workers_ready: the new version's workers known to poll.
        workers_required: its minimum (the sum of its scalers' ``min_count``).
        reported: every group of the new version has published a status (a version with a
            minimum of zero is ready once it has).
        gate: the gate workflow, once one was started.
    """

    routing: Routing
    workers_ready: int = 0
    workers_required: int = 0
    reported: bool = False
    gate: GateObservation | None = None

    @property
    def ready(self) -> bool:
        return self.reported and self.workers_ready >= self.workers_required


@dataclass(frozen=True)
class StartGate:
    """Start the gate workflow pinned to ``build_id`` (idempotent: the ID is the rollout's)."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    input: object
    build_id: str
    timeout_s: float


@dataclass(frozen=True)
class SetRamping:
    """Ramp ``percentage`` of new workflows to ``build_id`` (``None``: end the ramp)."""

    build_id: str | None
    percentage: float


@dataclass(frozen=True)
class SetCurrent:
    """Make ``build_id`` the current version (``None``: unversioned workers)."""

    build_id: str | None


RolloutAction = StartGate | SetRamping | SetCurrent


class RolloutState(BaseModel):
    """What a rollout remembers between ticks (stored as JSON; times are epoch seconds).

    Attributes:
        target, previous: the new build, and the one current when the rollout began.
        task_queue: where the gate runs unless the gate names a queue.
        step: the progressive step in effect (an index into ``steps``).
        step_since: when Temporal was first seen ramping at that step's percentage.
        gate_workflow_id, gate_started_at, gate_passed: the gate's run.
        paused_at: set while paused; a resume moves ``step_since`` on by the pause's length.
        promote: a user asked to make the new version current at once.
        waiting_for: what the last tick waited for, in words.
        reason: why it failed or ended; last_error: the last call that failed (retried).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    deployment: str
    target: str
    previous: str | None
    task_queue: str
    started_at: float
    updated_at: float
    phase: RolloutPhase = RolloutPhase.WAITING_FOR_WORKERS
    step: int = 0
    step_since: float | None = None
    gate_workflow_id: str | None = None
    gate_started_at: float | None = None
    gate_passed: bool = False
    paused_at: float | None = None
    promote: bool = False
    waiting_for: str | None = None
    reason: str | None = None
    last_error: str | None = None

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES


@dataclass(frozen=True)
class RolloutStatus:
    """A rollout as users see it (API, CLI), and the state to remember (``state``)."""

    state: RolloutState
    strategy: RolloutStrategy
    phase: RolloutPhase
    step: int  # 1-based; 0 before a progressive rollout's first ramp, or for other strategies
    steps: int
    ramp_percentage: float | None
    next_step_at: float | None
    waiting_for: str | None
    gate: str | None
    paused: bool
    reason: str | None


@dataclass(frozen=True)
class RolloutRecord:
    """A stored rollout: its deployment's namespace, its spec, its state and its revision (the
    compare-and-swap guard of every write)."""

    namespace: str | None
    spec: RolloutSpec
    state: RolloutState
    revision: int


#: A gate still running this long after its own timeout has failed (Temporal times it out
#: first; this covers a gate that never started, e.g. a queue nobody polls refused it).
GATE_GRACE_S = 30.0


def gate_workflow_id(state: RolloutState) -> str:
    """The gate's workflow ID: one per rollout, so a start asked twice starts it once."""
    return f"workerplane-gate-{state.deployment}-{state.target}-{int(state.started_at)}"


def rollout_status(state: RolloutState, spec: RolloutSpec, routing: Routing) -> RolloutStatus:
    """The user's view of ``state`` under ``spec``, with Temporal's (or the store's) routing."""
    progressive = spec.strategy is RolloutStrategy.PROGRESSIVE
    ramping = routing.ramping == state.target
    next_step_at = None
    if (
        progressive and state.step_since is not None and state.paused_at is None
        and not state.final and state.step < len(spec.steps)
    ):  # fmt: skip
        next_step_at = state.step_since + spec.steps[state.step].pause
    return RolloutStatus(
        state=state,
        strategy=spec.strategy,
        phase=state.phase,
        step=min(state.step + 1, len(spec.steps)) if progressive and ramping else 0,
        steps=len(spec.steps),
        ramp_percentage=routing.percentage if ramping else None,
        next_step_at=next_step_at,
        waiting_for=None if state.final else state.waiting_for,
        gate=_gate_words(state, spec),
        paused=state.paused_at is not None,
        reason=state.reason,
    )


def _gate_words(state: RolloutState, spec: RolloutSpec) -> str | None:
    if spec.gate is None:
        return None
    if state.gate_passed:
        return "passed"
    if state.phase is RolloutPhase.FAILED and state.gate_workflow_id is not None:
        return "failed"
    return "running" if state.gate_workflow_id is not None else "not started"


def plan_rollout(
    observed: RolloutObserved, spec: RolloutSpec, state: RolloutState, now: float
) -> tuple[list[RolloutAction], RolloutStatus]:
    """The routing to ask for now, and the rollout's status (its ``state`` to remember)."""
    actions, state = _plan(observed, spec, state.model_copy(update={"updated_at": now}), now)
    return actions, rollout_status(state, spec, observed.routing)


def _with(state: RolloutState, **changes: object) -> RolloutState:
    return state.model_copy(update=changes)


def _plan(
    observed: RolloutObserved, spec: RolloutSpec, state: RolloutState, now: float
) -> tuple[list[RolloutAction], RolloutState]:
    routing = observed.routing
    if state.final:
        return [], state
    if state.phase is RolloutPhase.ROLLING_BACK:
        return _roll_back(routing, state)
    if routing.current == state.target:
        return [], _with(state, phase=RolloutPhase.SUCCEEDED, waiting_for=None, last_error=None)
    if routing.current != state.previous:
        reason = (
            f"stopped: {routing.current or 'unversioned workers'} became current outside this"
            " rollout"
        )
        return [], _with(state, phase=RolloutPhase.FAILED, reason=reason, waiting_for=None)
    if state.promote:
        return _promote(state)
    if state.paused_at is not None:
        return [], _with(state, waiting_for="a resume (the rollout is paused)")
    if not observed.ready:
        waiting = (
            f"{observed.workers_ready}/{observed.workers_required} workers of {state.target}"
            " polling" if observed.reported else f"the first status of {state.target}'s workers"
        )  # fmt: skip
        return [], _with(state, phase=RolloutPhase.WAITING_FOR_WORKERS, waiting_for=waiting)
    if spec.gate is not None and not state.gate_passed:
        actions, state = _gate(observed.gate, spec, state, now)
        if not state.gate_passed:
            return actions, state
    if spec.strategy is RolloutStrategy.ALL_AT_ONCE or state.previous is routing.current is None:
        # A first build has nothing to ramp from (temporal-worker-controller does the same).
        return _promote(state)
    if spec.strategy is RolloutStrategy.MANUAL:
        return [], _with(
            state, phase=RolloutPhase.WAITING_FOR_PROMOTION,
            waiting_for=f"a promote: `workerplane rollout promote {state.deployment}`",
        )  # fmt: skip
    return _ramp(routing, spec, state, now)


def _promote(state: RolloutState) -> tuple[list[RolloutAction], RolloutState]:
    return [SetCurrent(state.target)], _with(
        state, phase=RolloutPhase.PROMOTING,
        waiting_for=f"Temporal to make {state.target} the current version",
    )  # fmt: skip


def _roll_back(routing: Routing, state: RolloutState) -> tuple[list[RolloutAction], RolloutState]:
    actions: list[RolloutAction] = []
    if routing.current != state.previous:
        actions.append(SetCurrent(state.previous))
    elif routing.ramping == state.target:
        actions.append(SetRamping(None, 0.0))
    if not actions:
        return [], _with(
            state, phase=RolloutPhase.ROLLED_BACK, waiting_for=None, last_error=None,
            reason=f"rolled back: {state.previous} is current again",
        )  # fmt: skip
    waiting = f"Temporal to route new workflows to {state.previous} again"
    return actions, _with(state, waiting_for=waiting)


def _gate(
    gate: GateObservation | None, spec: RolloutSpec, state: RolloutState, now: float
) -> tuple[list[RolloutAction], RolloutState]:
    assert spec.gate is not None
    workflow_type = spec.gate.workflow_type
    if gate is not None and gate.outcome is GateOutcome.PASSED:
        return [], _with(state, gate_passed=True)
    if gate is not None and gate.outcome is GateOutcome.FAILED:
        reason = f"gate workflow {workflow_type} failed on {state.target}: {gate.message}"
        return [], _with(state, phase=RolloutPhase.FAILED, reason=reason, waiting_for=None)
    started_at = state.gate_started_at if state.gate_started_at is not None else now
    if now > started_at + spec.gate.timeout + GATE_GRACE_S:
        reason = (
            f"gate workflow {workflow_type} did not complete on {state.target} within its"
            f" timeout of {spec.gate.timeout:g}s"
        )
        return [], _with(state, phase=RolloutPhase.FAILED, reason=reason, waiting_for=None)
    state = _with(
        state, phase=RolloutPhase.GATE, gate_workflow_id=gate_workflow_id(state),
        gate_started_at=started_at,
        waiting_for=f"gate workflow {workflow_type} to complete on {state.target}",
    )  # fmt: skip
    if gate is not None and gate.outcome is GateOutcome.RUNNING:
        return [], state
    start = StartGate(
        workflow_id=gate_workflow_id(state), workflow_type=workflow_type,
        task_queue=spec.gate.task_queue or state.task_queue, input=spec.gate.input,
        build_id=state.target, timeout_s=spec.gate.timeout,
    )  # fmt: skip
    return [start], state


def _ramp(
    routing: Routing, spec: RolloutSpec, state: RolloutState, now: float
) -> tuple[list[RolloutAction], RolloutState]:
    """Progressive: ramp each step's share, wait its pause once Temporal ramps it, then the
    next step; after the last one, make the new version current."""
    steps = spec.steps
    while state.step < len(steps):
        step = steps[state.step]
        at_step = routing.ramping == state.target and _same_share(
            routing.percentage, step.ramp_percentage
        )
        if not at_step:
            return [SetRamping(state.target, step.ramp_percentage)], _with(
                state, phase=RolloutPhase.RAMPING, step_since=None,
                waiting_for=f"Temporal to ramp {step.ramp_percentage:g}% to {state.target}",
            )  # fmt: skip
        since = state.step_since if state.step_since is not None else now
        if now < since + step.pause:
            waiting = (
                f"step {state.step + 1}/{len(steps)}: {step.ramp_percentage:g}% for {step.pause:g}s"
            )
            return [], _with(state, phase=RolloutPhase.RAMPING, step_since=since,
                             waiting_for=waiting)  # fmt: skip
        state = _with(state, step=state.step + 1, step_since=None)
    return _promote(state)


def _same_share(observed: float | None, wanted: float) -> bool:
    """Temporal keeps a ramp as a float32: 33.3 comes back as 33.29999923706055."""
    return observed is not None and abs(observed - wanted) < 1e-3
