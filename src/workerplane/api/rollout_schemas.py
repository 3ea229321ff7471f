"""The bodies of ``/v1/worker-deployments/{name}/rollout``: a rollout's status."""

from __future__ import annotations

from pydantic import BaseModel

from workerplane.config.rollout import RolloutSpec, RolloutStrategy
from workerplane.planning.rollout_model import RolloutEvent, RolloutPhase, RolloutStatus


class RolloutOut(BaseModel):
    """Where the rollout of a new build is, and what it waits for.

    ``step`` is the progressive step in effect (1-based; 0 before the first ramp and for the
    other strategies) of ``steps``; ``next_step_at`` is when its pause ends (epoch seconds, not
    while paused); ``gate`` is ``not started``, ``running``, ``passed`` or ``failed`` (``None``
    without a gate), run as the workflow ``gate_workflow_id``; ``reason`` says why it failed or
    ended; ``last_error`` is the last call to Temporal that failed (it is retried); ``events``
    are what it saw happen (phases reached, each step's ramp as Temporal showed it).
    """

    deployment: str
    target_version: str
    previous_version: str | None
    strategy: RolloutStrategy
    phase: RolloutPhase
    step: int
    steps: int
    ramp_percentage: float | None
    next_step_at: float | None
    waiting_for: str | None
    gate: str | None
    gate_workflow_id: str | None
    paused: bool
    reason: str | None
    last_error: str | None
    events: list[RolloutEvent]
    spec: RolloutSpec
    started_at: float
    updated_at: float

    @classmethod
    def of(cls, status: RolloutStatus, spec: RolloutSpec) -> RolloutOut:
        state = status.state
        return cls(
            deployment=state.deployment, target_version=state.target,
            previous_version=state.previous, strategy=status.strategy, phase=status.phase,
            step=status.step, steps=status.steps, ramp_percentage=status.ramp_percentage,
            next_step_at=status.next_step_at, waiting_for=status.waiting_for, gate=status.gate,
            gate_workflow_id=state.gate_workflow_id,
            paused=status.paused, reason=status.reason, last_error=state.last_error,
            events=list(state.events), spec=spec,
            started_at=state.started_at, updated_at=state.updated_at,
        )  # fmt: skip
