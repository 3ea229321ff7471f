"""The rollout planner: tables for each strategy, the gate and the commands, and properties of
whole rollouts against a faithful fake of Temporal's routing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workerplane.config.rollout import RolloutSpec
from workerplane.errors import Conflict
from workerplane.planning.rollout import gate_workflow_id, plan_rollout, rollout_status
from workerplane.planning.rollout_commands import RolloutCommand, apply_command
from workerplane.planning.rollout_model import (
    GateObservation,
    GateOutcome,
    RolloutAction,
    RolloutObserved,
    RolloutPhase,
    RolloutState,
    Routing,
    SetCurrent,
    SetRamping,
    StartGate,
)

T0 = 1_000.0
V1_CURRENT = Routing(current="v1")


def _state(**changes: object) -> RolloutState:
    base = RolloutState(
        deployment="orders", target="v2", previous="v1", task_queue="orders-q",
        started_at=T0, updated_at=T0,
    )  # fmt: skip
    return RolloutState.model_validate({**base.model_dump(), **changes})


def _ready(routing: Routing = V1_CURRENT, gate: GateObservation | None = None) -> RolloutObserved:
    return RolloutObserved(routing, workers_ready=2, workers_required=2, reported=True, gate=gate)


ALL_AT_ONCE = RolloutSpec()
MANUAL = RolloutSpec(strategy="manual")
PROGRESSIVE = RolloutSpec(
    strategy="progressive",
    steps=[{"ramp_percentage": 10, "pause": 60}, {"ramp_percentage": 50, "pause": 120}],
)
GATED = RolloutSpec(gate={"workflow_type": "Smoke", "timeout": 60})


@pytest.mark.parametrize(
    ("observed", "spec", "state", "actions", "phase"),
    [
        # Nothing moves before the new version's minimum polls.
        (RolloutObserved(V1_CURRENT), ALL_AT_ONCE, _state(), [], "waiting-for-workers"),
        (RolloutObserved(V1_CURRENT, 1, 2, True), ALL_AT_ONCE, _state(), [], "waiting-for-workers"),
        # A minimum of zero is met once every group reported.
        (RolloutObserved(V1_CURRENT, 0, 0, True), ALL_AT_ONCE, _state(), [SetCurrent("v2")],
         "promoting"),
        (_ready(), ALL_AT_ONCE, _state(), [SetCurrent("v2")], "promoting"),
        (_ready(Routing(current="v2")), ALL_AT_ONCE, _state(phase="promoting"), [], "succeeded"),
        (_ready(), MANUAL, _state(), [], "waiting-for-promotion"),
        (_ready(), MANUAL, _state(promote=True), [SetCurrent("v2")], "promoting"),
        (_ready(), PROGRESSIVE, _state(), [SetRamping("v2", 10)], "ramping"),
        # A first build (no version current before) goes current at once.
        (_ready(Routing()), PROGRESSIVE, _state(previous=None), [SetCurrent("v2")], "promoting"),
        (_ready(Routing()), MANUAL, _state(previous=None), [SetCurrent("v2")], "promoting"),
        # Paused: nothing is asked, even when ready.
        (_ready(), ALL_AT_ONCE, _state(paused_at=T0), [], "waiting-for-workers"),
        # A user set v2 current by hand: the rollout is done.
        (_ready(Routing(current="v2")), PROGRESSIVE, _state(), [], "succeeded"),
        # Current, but a superseded build still ramps: its ramp ends, then it has succeeded.
        (_ready(Routing("v2", "v9", 20)), ALL_AT_ONCE, _state(phase="promoting"),
         [SetRamping(None, 0.0)], "promoting"),
        # Someone else made another version current: the rollout stops and says so.
        (_ready(Routing("v9")), PROGRESSIVE, _state(), [], "failed"),
        # Temporal keeps the ramp as a float32.
        (_ready(Routing("v1", "v2", 33.29999923706055)), RolloutSpec(
            strategy="progressive", steps=[{"ramp_percentage": 33.3, "pause": 60}]), _state(),
         [], "ramping"),
        # Final phases never act.
        (_ready(), ALL_AT_ONCE, _state(phase="failed"), [], "failed"),
        (_ready(), ALL_AT_ONCE, _state(phase="rolled-back"), [], "rolled-back"),
        # Rolling back: the previous version current, then the ramp ended.
        (_ready(Routing("v2")), PROGRESSIVE, _state(phase="rolling-back"), [SetCurrent("v1")],
         "rolling-back"),
        (_ready(Routing("v1", "v2", 10)), PROGRESSIVE, _state(phase="rolling-back"),
         [SetRamping(None, 0.0)], "rolling-back"),
        (_ready(), PROGRESSIVE, _state(phase="rolling-back"), [], "rolled-back"),
    ],
)  # fmt: skip
def test_one_tick(
    observed: RolloutObserved,
    spec: RolloutSpec,
    state: RolloutState,
    actions: list[RolloutAction],
    phase: str,
) -> None:
    planned, status = plan_rollout(observed, spec, state, T0 + 1)
    assert planned == actions
    assert status.phase == phase
    assert status.state.updated_at == T0 + 1


def test_progressive_steps_wait_their_pause_once_temporal_ramps() -> None:
    ramp10 = _ready(Routing("v1", "v2", 10))
    _, first = plan_rollout(ramp10, PROGRESSIVE, _state(), T0)
    assert first.state.step_since == T0
    assert first.next_step_at == T0 + 60
    assert (first.step, first.steps, first.ramp_percentage) == (1, 2, 10)
    assert first.waiting_for == "step 1/2: 10% for 60s"
    actions, still = plan_rollout(ramp10, PROGRESSIVE, first.state, T0 + 59)
    assert actions == [] and still.state.step == 0
    actions, moved = plan_rollout(ramp10, PROGRESSIVE, first.state, T0 + 60)
    assert actions == [SetRamping("v2", 50)]
    assert (moved.state.step, moved.state.step_since) == (1, None)
    ramp50 = _ready(Routing("v1", "v2", 50))
    _, second = plan_rollout(ramp50, PROGRESSIVE, moved.state, T0 + 61)
    actions, last = plan_rollout(ramp50, PROGRESSIVE, second.state, T0 + 61 + 120)
    assert actions == [SetCurrent("v2")] and last.phase is RolloutPhase.PROMOTING
    assert [(e.at, e.message) for e in last.state.events] == [
        (T0, "Temporal ramps 10% to v2 (step 1/2)"),
        (T0 + 61, "Temporal ramps 50% to v2 (step 2/2)"),
        (T0 + 181, "Temporal to make v2 the current version"),
    ]


def test_a_ramp_changed_by_someone_else_is_asked_again_and_its_pause_restarts() -> None:
    state = _state(phase="ramping", step=1, step_since=T0)
    actions, status = plan_rollout(_ready(Routing("v1", "v2", 10)), PROGRESSIVE, state, T0 + 500)
    assert actions == [SetRamping("v2", 50)]
    assert status.state.step_since is None


def test_the_gate_runs_pinned_before_the_first_move_and_then_the_strategy_goes_on() -> None:
    actions, started = plan_rollout(_ready(), GATED, _state(), T0)
    wid = gate_workflow_id(_state())
    assert actions == [StartGate(wid, "Smoke", "orders-q", None, "v2", 60.0)]
    assert started.phase is RolloutPhase.GATE and started.gate == "running"
    assert started.state.gate_started_at == T0
    running = _ready(gate=GateObservation(GateOutcome.RUNNING))
    actions, waiting = plan_rollout(running, GATED, started.state, T0 + 5)
    assert actions == [] and waiting.waiting_for == "gate workflow Smoke to complete on v2"
    # Lost (not found): asked again with the same ID.
    lost = _ready(gate=GateObservation(GateOutcome.NOT_FOUND))
    actions, _ = plan_rollout(lost, GATED, started.state, T0 + 6)
    assert [a.workflow_id for a in actions if isinstance(a, StartGate)] == [wid]
    passed = _ready(gate=GateObservation(GateOutcome.PASSED))
    actions, moved = plan_rollout(passed, GATED, started.state, T0 + 7)
    assert actions == [SetCurrent("v2")]
    assert moved.state.gate_passed and moved.gate == "passed"


def test_a_failed_gate_stops_the_rollout_and_says_why() -> None:
    _, started = plan_rollout(_ready(), GATED, _state(), T0)
    failed = _ready(gate=GateObservation(GateOutcome.FAILED, "it failed: smoke test broke"))
    actions, status = plan_rollout(failed, GATED, started.state, T0 + 3)
    assert actions == []
    assert status.phase is RolloutPhase.FAILED and status.gate == "failed"
    assert status.reason == "gate workflow Smoke failed on v2: it failed: smoke test broke"
    assert status.waiting_for is None
    actions, again = plan_rollout(_ready(), GATED, status.state, T0 + 4)
    assert actions == [] and again.phase is RolloutPhase.FAILED


def test_a_gate_that_never_completes_fails_after_its_timeout_and_grace() -> None:
    _, started = plan_rollout(_ready(), GATED, _state(), T0)
    running = _ready(gate=GateObservation(GateOutcome.RUNNING))
    _, status = plan_rollout(running, GATED, started.state, T0 + 60 + 31)
    assert status.phase is RolloutPhase.FAILED
    assert "within its timeout of 60s" in str(status.reason)


@pytest.mark.parametrize(
    ("state", "command", "routing", "message"),
    [
        (_state(paused_at=T0), RolloutCommand.PAUSE, V1_CURRENT, "already paused"),
        (_state(), RolloutCommand.RESUME, V1_CURRENT, "is not paused"),
        (_state(phase="succeeded"), RolloutCommand.PAUSE, Routing("v2"), "nothing to pause"),
        (_state(phase="succeeded"), RolloutCommand.PROMOTE, Routing("v2"), "nothing to promote"),
        (_state(phase="rolled-back"), RolloutCommand.ROLLBACK, V1_CURRENT, "already rolled back"),
        (_state(previous=None), RolloutCommand.ROLLBACK, Routing(), "no previous version"),
        (_state(phase="failed"), RolloutCommand.ROLLBACK, V1_CURRENT, "gets no workflows"),
    ],
)  # fmt: skip
def test_commands_with_nothing_to_act_on_conflict(
    state: RolloutState, command: RolloutCommand, routing: Routing, message: str
) -> None:
    with pytest.raises(Conflict, match=message):
        apply_command(state, command, routing, T0)


def test_pause_and_resume_keep_the_time_left_of_a_step() -> None:
    state = _state(phase="ramping", step_since=T0)
    paused = apply_command(state, RolloutCommand.PAUSE, Routing("v1", "v2", 10), T0 + 20)
    status = rollout_status(paused, PROGRESSIVE, Routing("v1", "v2", 10))
    assert status.paused and status.next_step_at is None
    resumed = apply_command(paused, RolloutCommand.RESUME, Routing("v1", "v2", 10), T0 + 100)
    assert resumed.step_since == T0 + 80 and resumed.paused_at is None


def test_promote_overrides_a_failed_gate_and_rollback_follows_a_succeeded_rollout() -> None:
    promoted = apply_command(_state(phase="failed"), RolloutCommand.PROMOTE, V1_CURRENT, T0)
    assert promoted.promote and promoted.phase is RolloutPhase.PROMOTING
    back = apply_command(_state(phase="succeeded"), RolloutCommand.ROLLBACK, Routing("v2"), T0)
    assert back.phase is RolloutPhase.ROLLING_BACK


# -- whole rollouts against a fake Temporal -------------------------------------------------------


def _apply(routing: Routing, actions: list[RolloutAction]) -> Routing:
    """Temporal's routing after ``actions`` (promoting the ramping version ends its ramp)."""
    for action in actions:
        if isinstance(action, SetCurrent):
            ramping = None if action.build_id == routing.ramping else routing.ramping
            routing = Routing(action.build_id, ramping, routing.percentage if ramping else None)
        elif isinstance(action, SetRamping):
            pct = action.percentage if action.build_id else None
            routing = Routing(routing.current, action.build_id, pct)
    return routing


specs = st.sampled_from([ALL_AT_ONCE, PROGRESSIVE, GATED, MANUAL])


@settings(max_examples=200, deadline=None)
@given(
    spec=specs,
    ticks=st.lists(
        st.tuples(
            st.booleans(),  # the new version's workers are ready
            st.booleans(),  # Temporal applies what was asked this tick (else the call is lost)
            st.floats(min_value=0, max_value=90),  # seconds to the next tick
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_rollouts_only_move_forward_and_only_to_the_new_version(
    spec: RolloutSpec, ticks: list[tuple[bool, bool, float]]
) -> None:
    state, routing, now = _state(), V1_CURRENT, T0
    ramps_seen: list[float] = []
    for ready, applied, delay in ticks:
        gate = GateObservation(GateOutcome.PASSED) if state.gate_workflow_id else None
        observed = RolloutObserved(routing, 2 if ready else 0, 2, True, gate)
        actions, status = plan_rollout(observed, spec, state, now)
        for action in actions:
            assert not isinstance(action, StartGate) or spec.gate is not None
            if isinstance(action, (SetCurrent, SetRamping)):
                assert action.build_id == "v2"  # never anything but the new version
                assert spec.gate is None or state.gate_passed or status.state.gate_passed
            if isinstance(action, SetCurrent):
                assert spec.strategy != "manual"
                # Progressive: current only once the last step's ramp was seen.
                if spec.steps:
                    assert ramps_seen and ramps_seen[-1] == spec.steps[-1].ramp_percentage
        if not ready:
            assert not any(isinstance(a, (SetCurrent, SetRamping)) for a in actions)
        assert status.state.step >= state.step
        if status.phase in ("succeeded", "failed", "rolled-back"):
            assert routing.current == "v2" or status.phase != "succeeded"
        state = status.state
        if applied:
            routing = _apply(routing, actions)
        if routing.ramping == "v2" and routing.percentage is not None:
            ramps_seen.append(routing.percentage)
        now += delay
    assert sorted(ramps_seen) == ramps_seen  # the ramp never goes down


@settings(max_examples=100, deadline=None)
@given(spec=specs, pauses=st.lists(st.floats(min_value=30, max_value=300), min_size=50))
def test_with_ready_workers_and_a_passing_gate_every_automatic_rollout_ends_current(
    spec: RolloutSpec, pauses: list[float]
) -> None:
    state, routing, now = _state(), V1_CURRENT, T0
    for delay in pauses:
        gate = GateObservation(GateOutcome.PASSED) if state.gate_workflow_id else None
        actions, status = plan_rollout(_ready(routing, gate), spec, state, now)
        state, routing, now = status.state, _apply(routing, actions), now + delay
    if spec.strategy == "manual":
        assert state.phase is RolloutPhase.WAITING_FOR_PROMOTION and routing == V1_CURRENT
    else:
        assert state.phase is RolloutPhase.SUCCEEDED and routing.current == "v2"
