"""Response bodies of the compute status the controller reports per scaling group: sizes,
queue figures, the last decision, the achieved schedule-to-start, upcoming warm-ups and the
pollers workerplane does not run."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AchievedLatencyOut(BaseModel):
    """The schedule-to-start the group's tasks really got, as its workers measured each one."""

    window_s: float = Field(description="How far back the figures reach")
    count: int = Field(description="Tasks measured in the window")
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    slo_s: float | None = Field(description="The group's SLO (the slo scaler's), if any")
    missing_slo: bool = Field(description="p95 is above the SLO")
    reason: str | None = Field(description="Why the controller believes the SLO was missed")
    target_wait_fraction: float | None = Field(
        default=None,
        description="The share of the SLO the slo scaler now plans waiting tasks to start within",
    )
    configured_wait_fraction: float | None = Field(
        default=None,
        description="The share the group's spec sets (target_wait_fraction); the feedback "
        "tightened the target when the share in effect is smaller, relaxed it when larger",
    )
    feedback: str | None = Field(
        default=None,
        description="Why that share differs from the configured one (the achieved p95 behind it)",
    )


class WarmupOut(BaseModel):
    """An upcoming warm-up ahead of a Temporal Schedule's run (docs/prewarming.md)."""

    schedule_id: str
    action_at: float = Field(description="When the schedule fires (epoch seconds)")
    starts_at: float = Field(description="When the workers are asked for (epoch seconds)")
    ends_at: float = Field(description="When the warm floor is released (epoch seconds)")
    workers: int
    basis: str = Field(description="The hint, or the past runs the figure was learned from")
    ramp: list[tuple[float, int]] = Field(
        default_factory=list,
        description=(
            "[from, workers] steps the floor rises by, following how the run's tasks land "
            "(epoch seconds); empty: all the workers from starts_at"
        ),
    )


class GroupStatusOut(BaseModel):
    provider_type: str
    scaler_type: str
    strategy: str
    current_size: int
    desired_size: int | None
    workers_ready: int | None
    pollers: int
    backlog: int
    backlog_age_s: float
    add_rate: float
    dispatch_rate: float
    in_flight: int | None
    last_decision: str
    last_reason: str
    last_error: str | None
    metrics_ok: bool
    updated_at: float
    last_worker_exit: str | None = Field(
        default=None,
        description="How the last failed worker exited (exit code, the end of its output), "
        "while the group has not run a healthy worker since",
    )
    schedule_to_start: AchievedLatencyOut | None = Field(
        default=None,
        description="Achieved schedule-to-start over the last 15 minutes, measured per task by "
        "the workers (null when the provider's workers report none)",
    )
    warmups: list[WarmupOut] = Field(
        default_factory=list,
        description="Upcoming schedule warm-ups, the next one per schedule (pre-warming groups)",
    )
    unmanaged_pollers: int = Field(
        default=0,
        description="Pollers of the group's queues that workerplane did not start (no marker of "
        "this deployment in their identity; docs/unmanaged-pollers.md)",
    )
    unmanaged_identities: list[str] = Field(
        default_factory=list, description="The first few unmanaged pollers' identities, sorted"
    )
    unmanaged_counted: bool = Field(
        default=False,
        description="Whether the scaler counts unmanaged pollers as capacity "
        "(the spec's unmanaged_pollers: count)",
    )


class SunsetOut(BaseModel):
    """A draining version's sunset (docs/rollouts.md, Sunset); times are epoch seconds."""

    phase: str = Field(description="active, draining, drained, scaled-down or delete")
    drainage: str = Field(description="Temporal's drainage: none, draining or drained")
    drainage_checked_at: float | None = Field(
        None, description="When Temporal last counted the version's open pinned workflows"
    )
    drained_at: float | None = None
    scale_down_at: float | None = Field(None, description="When its workers go to zero")
    delete_at: float | None = Field(
        None, description="When its resources and record are deleted (once no worker is left)"
    )


class ProviderValidationOut(BaseModel):
    last_validated_at: float | None
    error: str | None


class ComputeStatusOut(BaseModel):
    provider_validation: ProviderValidationOut
    scaling_groups: dict[str, GroupStatusOut]
