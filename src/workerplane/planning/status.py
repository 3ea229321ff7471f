"""What the controller manages and what it reports: plain values shared by the controller, the
store, the API, the console and the CLI."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workerplane.config.model import DeploymentSpec
from workerplane.config.rollout import SunsetPolicy
from workerplane.planning.sunset import SunsetStatus
from workerplane.scaling.latency import AchievedLatency


@dataclass(frozen=True)
class ManagedVersion:
    """One deployment (version) the controller should run.

    Attributes:
        key: a stable identifier, unique per controller, e.g. ``"orders"`` or ``"orders/v2"``.
        spec: the desired spec. When it changes, the controller applies the change live.
        draining: scale to zero once no pinned workflow needs this version any more.
        generation: increases whenever ``spec`` or ``draining`` changes.
    """

    key: str
    spec: DeploymentSpec
    draining: bool = False
    generation: int = 0

    @property
    def sunset_policy(self) -> SunsetPolicy:
        """Its ``rollout.sunset``, or the defaults when its spec has no rollout section."""
        rollout = self.spec.rollout
        return rollout.sunset if rollout is not None else SunsetPolicy()


@dataclass(frozen=True)
class Warmup:
    """A warm-up the controller plans ahead of a Temporal Schedule's run
    (:mod:`workerplane.planning.prewarm`). Times are epoch seconds.

    Attributes:
        schedule_id: the schedule whose run it is for.
        action_at: when the schedule fires.
        starts_at: when the workers are asked for (one worker startup and a margin ahead).
        ends_at: when the floor is released (the run has landed; the scaler takes over).
        workers: how many workers are held at most, until ``ends_at``.
        basis: what the figure is based on (the user's hint, or the past runs it was learned from).
        ramp: ``(from, workers)`` steps, earliest first: the floor rises to ``workers`` at
            ``from``, following how the run's tasks land (the first step at ``starts_at``, the
            last at ``workers``); empty: all ``workers`` from ``starts_at``.
    """

    schedule_id: str
    action_at: float
    starts_at: float
    ends_at: float
    workers: int
    basis: str
    ramp: tuple[tuple[float, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ramp", tuple((float(t), int(n)) for t, n in self.ramp))

    @classmethod
    def coerce(cls, value: Warmup | Mapping[str, Any]) -> Warmup:
        """A warm-up from itself or from its JSON object (a status read back from the store)."""
        return value if isinstance(value, Warmup) else cls(**value)

    def workers_at(self, now: float) -> int:
        """The workers its floor holds at ``now`` (0 outside ``[starts_at, ends_at)``)."""
        if not self.starts_at <= now < self.ends_at:
            return 0
        return max((n for at, n in self.ramp if at <= now), default=self.workers)


@dataclass(frozen=True)
class GroupStatus:
    """The compute status of one scaling group, as of ``updated_at`` (epoch seconds).

    ``last_worker_exit`` says how the last failed worker exited (exit code, the end of its
    output) while the group has not run a healthy worker since, e.g. in a crash loop.
    ``schedule_to_start`` is what the group's tasks really waited over the last 15 minutes, as
    its workers measured it, against its SLO (``None`` when its workers report no measurement).
    ``warmups`` are the upcoming schedule warm-ups, the next one per schedule.
    ``sunset`` is its version's sunset (:mod:`workerplane.planning.sunset`), once the controller
    read the version's drainage from Temporal.
    ``unmanaged_pollers`` counts the pollers of the group's queues that workerplane did not start
    (``unmanaged_identities`` lists the first few); ``unmanaged_counted`` says whether the scaler
    counted them as capacity (:mod:`workerplane.planning.pollers`).
    """

    version_key: str
    group_id: str
    provider_type: str
    scaler_type: str
    strategy: str
    workers_running: int
    workers_ready: int | None
    in_flight: int | None
    pollers: int
    backlog: int
    backlog_age_s: float
    add_rate: float
    dispatch_rate: float
    desired: int | None
    last_decision: str
    last_reason: str
    last_error: str | None
    provider_validation_error: str | None
    metrics_ok: bool
    updated_at: float
    last_worker_exit: str | None = None
    schedule_to_start: AchievedLatency | None = None
    warmups: tuple[Warmup, ...] = ()
    sunset: SunsetStatus | None = None
    unmanaged_pollers: int = 0
    unmanaged_identities: tuple[str, ...] = ()
    unmanaged_counted: bool = False

    def __post_init__(self) -> None:
        # A status read back from JSON (the status file, the store) carries its nested values
        # as plain objects.
        object.__setattr__(self, "warmups", tuple(Warmup.coerce(w) for w in self.warmups))
        object.__setattr__(self, "unmanaged_identities", tuple(self.unmanaged_identities))
        achieved: object = self.schedule_to_start
        if isinstance(achieved, Mapping):
            object.__setattr__(self, "schedule_to_start", AchievedLatency(**achieved))
        if self.sunset is not None:
            object.__setattr__(self, "sunset", SunsetStatus.coerce(self.sunset))


class Readiness(enum.StrEnum):
    """Where a version stands, as the controller sees it; the values are the store's names.

    ``UPDATE_PENDING`` (not picked up yet) and ``DELETE_IN_PROGRESS`` (asked to go) are the
    store's own states: only it knows about them.
    """

    READY = "READY"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"


@dataclass(frozen=True)
class VersionStatus:
    """The status of one version: its groups' statuses and the readiness computed from them.

    Attributes:
        version_key: the :attr:`ManagedVersion.key`.
        generation: the :attr:`ManagedVersion.generation` the controller ran when it computed this.
        draining: whether the version is draining (it then needs no minimum of workers).
        groups: the statuses of the version's groups the controller runs.
        readiness: ``None`` while some group of the spec has not reported yet (keep the last one).
        reason: why the version is not ready (``None`` when it is, or while ``readiness`` is).
        validation_error: the first provider validation error of its groups, if any.
        drained: no worker of the version is running (a deleting version may then go).
        sunset: the version's sunset (drainage, scale-down and delete due times), once read.
    """

    version_key: str
    generation: int
    draining: bool
    groups: tuple[GroupStatus, ...]
    readiness: Readiness | None
    reason: str | None
    validation_error: str | None
    drained: bool
    sunset: SunsetStatus | None = None


@dataclass(frozen=True)
class ControllerStatus:
    """The controller's own load on Temporal, as of ``updated_at`` (epoch seconds).

    Attributes:
        rps_budget: the Temporal calls per second the controller allows itself (the setting).
        rps_used: calls per second it made lately.
        idle_read_interval_s: how often an idle group at zero is read now: the user's bound, or
            longer when the budget left by active groups cannot read them all that often.
        active_groups: groups with work or workers (read at their scaler's poll interval).
        idle_groups: groups at zero with nothing to do (read at ``idle_read_interval_s``).
        calls_waiting: reads waiting for the budget now.
    """

    rps_budget: float
    rps_used: float
    idle_read_interval_s: float
    active_groups: int
    idle_groups: int
    calls_waiting: int
    updated_at: float
