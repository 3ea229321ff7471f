"""The console's data, for anyone to script: a scaling group's time series (``.../metrics``) and
the event log (``/v1/events``), by deployment version and group or by endpoint.

``since`` and ``until`` take epoch seconds, an ISO-8601 time or a duration meaning "that long
ago" (``15m``, ``2h``); a window must be under 24 hours. A value outside its domain is a 422
naming the parameter. The samples are recorded by the controller under ``workerplane serve``
(:mod:`workerplane.controller.telemetry`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from workerplane.api import schemas as S
from workerplane.api import telemetry_schemas as T
from workerplane.api.deps import StoreDep
from workerplane.api.errors import InvalidQuery
from workerplane.api.schemas import ErrorResponse
from workerplane.api.service import ENDPOINT_GROUP
from workerplane.api.status_schemas import AchievedLatencyOut
from workerplane.config.model import ScalingGroup
from workerplane.errors import NotFound
from workerplane.planning.achieved import in_effect, judge, latency_target
from workerplane.planning.events import EventKind
from workerplane.providers.registry import provider_strategy
from workerplane.scaling.latency import AchievedLatency
from workerplane.scaling.registry import DEFAULT_SCALER, build_scaler
from workerplane.store.store import Store
from workerplane.store.telemetry import EventFilter, EventPage, Series, parse_duration
from workerplane.store.views import VersionView

_UNPROCESSABLE = {
    "model": ErrorResponse,
    "description": "A query parameter outside its domain (named in details)",
}
router = APIRouter(tags=["telemetry"], responses={422: _UNPROCESSABLE})

MAX_WINDOW_S = 24 * 3600.0
DEFAULT_SINCE = "15m"
DEFAULT_MAX_POINTS = 600
MAX_POINTS = 5000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_TIME_HELP = "epoch seconds, an ISO-8601 time, or a duration ago such as 15m, 2h, 24h"

#: A scaling group ID (the spec's rule).
GroupName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,253}[A-Za-z0-9])?$")
]
#: The forms ``since`` and ``until`` take, published in the OpenAPI document only: a value
#: outside them is refused by :func:`parse_time` with a 422 naming the parameter.
_TIME_FORMS = (
    r"^(\d+(\.\d+)?[smhd]?"
    r"|\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?)$"
)
_KINDS = "|".join(k.value for k in EventKind)
TimeParam = Annotated[
    str | None,
    Query(max_length=64, description=_TIME_HELP, json_schema_extra={"pattern": _TIME_FORMS}),
]
MaxPoints = Annotated[
    int,
    Query(
        description="at most this many samples (buckets of the window)",
        json_schema_extra={"minimum": 1, "maximum": MAX_POINTS},
    ),
]
Limit = Annotated[
    int,
    Query(description="events per page", json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT}),
]
KindParam = Annotated[
    str | None,
    Query(
        max_length=256,
        description="event kinds, comma-separated (e.g. decision,worker_exit)",
        json_schema_extra={"pattern": f"^({_KINDS})(,({_KINDS}))*$"},
    ),
]


def parse_time(value: str, now: float, field: str) -> float:
    """Epoch seconds from epoch seconds, an ISO-8601 time (UTC unless it says otherwise) or a
    duration before ``now``."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            raise InvalidQuery.field(field, f"must be {_TIME_HELP}")
        return seconds
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery.field(field, f"must be {_TIME_HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True)
class Window:
    since: float
    until: float


def window(since: str | None, until: str | None, now: float | None = None) -> Window:
    """The ``[since, until]`` window of a query (default: the last 15 minutes)."""
    now = time.time() if now is None else now
    start = parse_time(DEFAULT_SINCE if since is None else since, now, "since")
    end = now if until is None else parse_time(until, now, "until")
    if start >= end:
        raise InvalidQuery.field("since", "must be before until")
    if end - start > MAX_WINDOW_S:
        raise InvalidQuery.field("since", "the window from since to until must be at most 24h")
    return Window(start, end)


def _bounded(value: int, field: str, high: int) -> int:
    if not 1 <= value <= high:
        raise InvalidQuery.field(field, f"must be between 1 and {high}")
    return value


def _kinds(kind: str | None) -> tuple[str, ...]:
    if kind is None:
        return ()
    kinds = tuple(k.strip() for k in kind.split(","))
    known = {k.value for k in EventKind}
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise InvalidQuery.field("kind", f"unknown kind {unknown[0]!r}: one of {sorted(known)}")
    return kinds


def version_group(store: Store, name: str, build_id: str, group: str) -> tuple[str, ScalingGroup]:
    """The version key of an existing version's group, and the group (404 otherwise)."""
    view, spec = _version_group(store, name, build_id, group)
    return view.key, spec


def _version_group(
    store: Store, name: str, build_id: str, group: str
) -> tuple[VersionView, ScalingGroup]:
    view = store.versions.get(name, build_id)
    spec = view.spec.compute.scaling_groups.get(group)
    if spec is None:
        raise NotFound(f"scaling group '{group}' not found in version '{name}/{build_id}'")
    return view, spec


def _reported(view: VersionView, group_id: str) -> AchievedLatency | None:
    """The achieved latency the group's last status reported (with the target wait in effect)."""
    return next((g.schedule_to_start for g in view.groups if g.group_id == group_id), None)


def _achieved(
    series: Series, span: Window, group: ScalingGroup, reported: AchievedLatency | None
) -> AchievedLatencyOut | None:
    """What the window's tasks got, against the group's SLO (the ``slo`` scaler's) and the
    target wait the controller last reported."""
    if not series.waited.count:
        return None
    try:
        strategy = provider_strategy(group.provider.type, group.provider.details)
        scaler = build_scaler(group.scaler.type or DEFAULT_SCALER, group.scaler.details, strategy)
    except ValueError:
        scaler = None  # a spec the controller could not run either: no SLO to judge against
    workers = max((x.workers_running for x in series.samples), default=None)
    target = in_effect(latency_target(scaler, None), reported)
    result = judge(series.waited, span.until - span.since, target, workers)
    return AchievedLatencyOut(**dataclasses.asdict(result))


def _metrics(view: VersionView, group_id: str, series: Series, span: Window) -> T.MetricsOut:
    group = view.spec.compute.scaling_groups[group_id]
    return T.MetricsOut(
        deployment=view.deployment,
        build_id=view.build_id,
        group=group_id,
        since=span.since,
        until=span.until,
        step_s=series.step_s,
        samples=[
            T.SampleOut(
                at=s.at,
                backlog=s.backlog,
                backlog_age_s=s.backlog_age_s,
                in_flight=s.in_flight,
                workers_running=s.workers_running,
                workers_ready=s.workers_ready,
                desired=s.desired,
                pollers=s.pollers,
                add_rate=s.add_rate,
                dispatch_rate=s.dispatch_rate,
                schedule_to_start_p95_s=s.waited.quantile(0.95) if s.waited else None,
            )
            for s in series.samples
        ],
        actions=[
            T.ActionOut(
                at=a.at, kind=a.marker.kind.value, size=a.marker.size, reason=a.marker.reason
            )
            for a in series.actions
        ],
        schedule_to_start=_achieved(series, span, group, _reported(view, group_id)),
    )


def _events(page: EventPage) -> T.EventList:
    return T.EventList(
        events=[
            T.EventOut(
                id=e.id,
                at=e.event.at,
                deployment=e.deployment,
                build_id=e.build_id,
                group=e.event.group_id,
                kind=e.event.kind.value,
                severity=e.event.severity.value,
                reason=e.event.reason,
                message=e.event.message,
            )
            for e in page.events
        ],
        next_until=page.next_until,
    )


@router.get(
    "/worker-deployments/{name}/versions/{build_id}/groups/{group}/metrics",
    response_model=T.MetricsOut,
)
def group_metrics(
    name: S.DeploymentName,
    build_id: S.BuildId,
    group: GroupName,
    store: StoreDep,
    since: TimeParam = None,
    until: TimeParam = None,
    max_points: MaxPoints = DEFAULT_MAX_POINTS,
) -> T.MetricsOut:
    """A scaling group's backlog, workers, pollers and rates over time, and its scale actions."""
    span = window(since, until)
    points = _bounded(max_points, "max_points", MAX_POINTS)
    view, _ = _version_group(store, name, build_id, group)
    series = store.telemetry.series(view.key, group, span.since, span.until, points)
    return _metrics(view, group, series, span)


@router.get("/endpoints/{ref}/metrics", response_model=T.MetricsOut)
def endpoint_metrics(
    ref: S.EndpointRef,
    store: StoreDep,
    since: TimeParam = None,
    until: TimeParam = None,
    max_points: MaxPoints = DEFAULT_MAX_POINTS,
) -> T.MetricsOut:
    """The time series of the endpoint's workers (its version's one group)."""
    span = window(since, until)
    points = _bounded(max_points, "max_points", MAX_POINTS)
    version = store.endpoints.get(ref).version
    series = store.telemetry.series(version.key, ENDPOINT_GROUP, span.since, span.until, points)
    return _metrics(version, ENDPOINT_GROUP, series, span)


@router.get("/events", response_model=T.EventList)
def list_events(
    store: StoreDep,
    since: TimeParam = None,
    until: TimeParam = None,
    deployment: S.DeploymentName | None = None,
    build_id: S.BuildId | None = None,
    group: GroupName | None = None,
    kind: KindParam = None,
    limit: Limit = DEFAULT_LIMIT,
) -> T.EventList:
    """Decisions with their reasons, provider errors, worker crashes, metrics outages and
    readiness changes, newest first (of versions since deleted too)."""
    span = window(since, until)
    where = EventFilter(
        deployment=deployment, build_id=build_id, group_id=group, kinds=_kinds(kind)
    )
    count = _bounded(limit, "limit", MAX_LIMIT)
    return _events(store.telemetry.events(span.since, span.until, count, where))


@router.get("/endpoints/{ref}/events", response_model=T.EventList)
def endpoint_events(
    ref: S.EndpointRef,
    store: StoreDep,
    since: TimeParam = None,
    until: TimeParam = None,
    kind: KindParam = None,
    limit: Limit = DEFAULT_LIMIT,
) -> T.EventList:
    """The events of the endpoint's version (its group's, and its readiness changes)."""
    span = window(since, until)
    where = EventFilter(version_key=store.endpoints.get(ref).version.key, kinds=_kinds(kind))
    count = _bounded(limit, "limit", MAX_LIMIT)
    return _events(store.telemetry.events(span.since, span.until, count, where))
