"""Response bodies of the telemetry routes (``.../metrics`` and ``.../events``): the time series
and the event log the console charts. Times are epoch seconds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workerplane.api.status_schemas import AchievedLatencyOut

ActionKindName = Literal["scale_up", "scale_down", "invoke", "reconcile"]
EventKindName = Literal[
    "decision",
    "provider_error",
    "worker_exit",
    "metrics_unavailable",
    "metrics_recovered",
    "readiness",
    "start_failure",
]
SeverityName = Literal["info", "warning", "error"]


class SampleOut(BaseModel):
    """One chart point: the maximum of each figure over its bucket (the mean for the rates).
    ``null`` where the group has no such figure (``workers_ready`` and ``desired`` of invoke
    providers) or the queue metrics could not be read."""

    at: float
    backlog: int | None
    backlog_age_s: float | None
    in_flight: int | None
    workers_running: int
    workers_ready: int | None
    desired: int | None
    pollers: int | None
    add_rate: float | None
    dispatch_rate: float | None
    schedule_to_start_p95_s: float | None = Field(
        default=None,
        description="p95 schedule-to-start of the tasks the workers measured in this bucket",
    )


class ActionOut(BaseModel):
    """A scale action: the size asked (``scale_*``, ``reconcile``) or workers started
    (``invoke``), and the scaler's reason."""

    at: float
    kind: ActionKindName
    size: int
    reason: str


class MetricsOut(BaseModel):
    """A scaling group's time series over ``[since, until)``, at most one sample per
    ``step_s``."""

    deployment: str
    build_id: str
    group: str
    since: float
    until: float
    step_s: float
    samples: list[SampleOut]
    actions: list[ActionOut]
    schedule_to_start: AchievedLatencyOut | None = Field(
        default=None,
        description="The schedule-to-start every task measured in the window got, against the "
        "group's SLO and the target wait the controller last reported in effect (null when its "
        "workers measured none)",
    )


class EventOut(BaseModel):
    """One event; ``group`` is ``null`` for an event of the whole version (readiness)."""

    id: int
    at: float
    deployment: str
    build_id: str
    group: str | None
    kind: EventKindName
    severity: SeverityName
    reason: str
    message: str


class EventList(BaseModel):
    """Events newest first; pass ``next_until`` as ``until`` for the next, older page."""

    events: list[EventOut]
    next_until: float | None
