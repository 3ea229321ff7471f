"""What the controller manages and what it reports: plain values shared by the controller, the
store, the API, the console and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from workerplane.config.model import DeploymentSpec


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


@dataclass(frozen=True)
class GroupStatus:
    """The compute status of one scaling group, as of ``updated_at`` (epoch seconds)."""

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
