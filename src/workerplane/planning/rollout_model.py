"""The values of a rollout: its phases, what is observed, the routing actions it asks for, its
remembered state and its status. :mod:`workerplane.planning.rollout` plans with them."""

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


class RolloutEvent(BaseModel):
    """One thing a rollout saw happen: a phase reached, or a step's ramp shown by Temporal."""

    model_config = ConfigDict(frozen=True)

    at: float
    phase: RolloutPhase
    message: str


#: The events a rollout keeps (the newest): every step and phase of any sane rollout fits.
MAX_EVENTS = 50


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
        events: what it saw happen, oldest first (at most :data:`MAX_EVENTS`).
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
    events: tuple[RolloutEvent, ...] = ()

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
