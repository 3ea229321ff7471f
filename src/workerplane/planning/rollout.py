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

from workerplane.config.rollout import RolloutSpec, RolloutStrategy
from workerplane.planning.rollout_model import (
    MAX_EVENTS,
    GateObservation,
    GateOutcome,
    RolloutAction,
    RolloutEvent,
    RolloutObserved,
    RolloutPhase,
    RolloutState,
    RolloutStatus,
    Routing,
    SetCurrent,
    SetRamping,
    StartGate,
)

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
    actions, planned = _plan(observed, spec, state.model_copy(update={"updated_at": now}), now)
    planned = _noted(state, planned)
    return actions, rollout_status(planned, spec, observed.routing)


def _noted(before: RolloutState, after: RolloutState) -> RolloutState:
    """``after`` with an event when it reached another phase (unless this tick noted one)."""
    if after.phase is before.phase or len(after.events) > len(before.events):
        return after
    return _note(after, after.updated_at, after.reason or after.waiting_for or str(after.phase))


def _note(state: RolloutState, now: float, message: str) -> RolloutState:
    events = (*state.events, RolloutEvent(at=now, phase=state.phase, message=message))
    return _with(state, events=events[-MAX_EVENTS:])


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
    if routing.current == state.target and routing.ramping is not None:
        # Current, but an older rollout's build still ramps: that ramp ends first.
        waiting = f"Temporal to end the ramp of {routing.ramping}"
        return [SetRamping(None, 0.0)], _with(
            state, phase=RolloutPhase.PROMOTING, waiting_for=waiting
        )
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
    if spec.strategy is RolloutStrategy.ALL_AT_ONCE or state.previous is None:
        # A first build has nothing to ramp from (temporal-worker-controller does the same);
        # the routing is the previous one's here, so nothing is current yet.
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
        since = state.step_since
        if since is None:  # Temporal shows this step's ramp for the first time: its pause starts
            since = now
            seen = f"Temporal ramps {step.ramp_percentage:g}% to {state.target}"
            state = _with(state, phase=RolloutPhase.RAMPING, step_since=since)
            state = _note(state, now, f"{seen} (step {state.step + 1}/{len(steps)})")
        if now < since + step.pause:
            waiting = (
                f"step {state.step + 1}/{len(steps)}: {step.ramp_percentage:g}% for {step.pause:g}s"
            )
            return [], _with(state, waiting_for=waiting)
        state = _with(state, step=state.step + 1, step_since=None)
    return _promote(state)


def _same_share(observed: float | None, wanted: float) -> bool:
    """Temporal keeps a ramp as a float32: 33.3 comes back as 33.29999923706055."""
    return observed is not None and abs(observed - wanted) < 1e-3
