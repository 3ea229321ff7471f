"""The console's time series and events: bounded tables written in bulk by the controller's
telemetry recorder and read, downsampled, by the API.

Writes come in batches (one ``INSERT`` per table per flush). Old rows go by age (the retention)
and by a hard row cap, pruned every so often by :class:`StoreTelemetrySink`, never per insert.
Reads bucket the samples by time in SQL, keeping the maximum of each figure but the rates (their
mean) in a bucket, so a spike shorter than a bucket still shows on a 24-hour chart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Integer, cast, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from workerplane.planning.events import (
    ActionKind,
    ActionMarker,
    EventKind,
    GroupEvent,
    GroupSample,
    Severity,
)
from workerplane.scaling.latency import LatencySketch
from workerplane.store.db import Database
from workerplane.store.models import TelemetryEvent, TelemetrySample

logger = logging.getLogger("workerplane.telemetry")

#: Defaults: a day of history, and caps that keep the tables bounded whatever the fleet does
#: (a thousand busy groups at one sample per 2 s would otherwise write 43 million rows a day).
DEFAULT_RETENTION_S = 24 * 3600.0
DEFAULT_MAX_SAMPLES = 2_000_000
DEFAULT_MAX_EVENTS = 200_000


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``"90s"``, ``"15m"``, ``"24h"`` or ``"7d"`` (the form of ``--telemetry-retention``
    and of the API's ``since=15m``); ``ValueError`` for anything else."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (use e.g. 90s, 15m, 24h, 7d)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def split_version_key(key: str) -> tuple[str, str]:
    """``(deployment, build_id)`` of a store version key (``"<deployment>/<build_id>"``; neither
    part may hold a slash). A key without one (a file-mode deployment) has no build ID."""
    deployment, _, build_id = key.partition("/")
    return deployment, build_id


@dataclass(frozen=True)
class ActionPoint:
    """A scale action on a chart: when, what and why."""

    at: float
    marker: ActionMarker


@dataclass(frozen=True)
class Series:
    """A group's samples over a window, at most one per ``step_s`` bucket, and its actions.
    ``waited`` is the schedule-to-start of every task measured in the window (each sample's
    ``waited``, those of its bucket)."""

    step_s: float
    samples: list[GroupSample]
    actions: list[ActionPoint]
    waited: LatencySketch


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: its row ID and whose it is."""

    id: int
    deployment: str
    build_id: str
    event: GroupEvent


@dataclass(frozen=True)
class EventPage:
    """Events newest first; ``next_until`` is the ``until`` of the next (older) page, ``None``
    when there is none."""

    events: list[StoredEvent]
    next_until: float | None


@dataclass(frozen=True)
class EventFilter:
    """Which events to list (every field optional). ``kinds`` empty means every kind."""

    version_key: str | None = None
    deployment: str | None = None
    build_id: str | None = None
    group_id: str | None = None
    kinds: tuple[str, ...] = ()


class TelemetryStore:
    """Samples and events in the store's database."""

    def __init__(
        self,
        db: Database,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        max_samples: int = DEFAULT_MAX_SAMPLES,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self._db = db
        self.retention_s = retention_s
        self.max_samples = max_samples
        self.max_events = max_events

    # -- writes --------------------------------------------------------------------------------

    def insert(self, samples: Sequence[GroupSample], events: Sequence[GroupEvent]) -> None:
        """Store a batch in one transaction (one multi-row insert per table)."""
        if not samples and not events:
            return
        with self._db.write_session() as s:
            if samples:
                s.execute(insert(TelemetrySample), [_sample_row(x) for x in samples])
            if events:
                s.execute(insert(TelemetryEvent), [_event_row(x) for x in events])

    def prune(self, now: float) -> int:
        """Delete what is older than the retention, then the oldest rows beyond each cap;
        returns how many rows went."""
        cutoff = now - self.retention_s
        removed = 0
        with self._db.write_session() as s:
            for table, cap in (
                (TelemetrySample, self.max_samples),
                (TelemetryEvent, self.max_events),
            ):
                result = s.execute(delete(table).where(table.at < cutoff))
                removed += int(result.rowcount)  # type: ignore[attr-defined]
                # The time of the row just past the cap (the index on `at` finds it).
                oldest_kept = s.scalar(
                    select(table.at).order_by(table.at.desc()).offset(cap - 1).limit(1)
                )
                if oldest_kept is not None:
                    result = s.execute(delete(table).where(table.at < oldest_kept))
                    removed += int(result.rowcount)  # type: ignore[attr-defined]
        return removed

    # -- reads ---------------------------------------------------------------------------------

    def series(
        self, version_key: str, group_id: str, since: float, until: float, max_points: int
    ) -> Series:
        """The samples in ``[since, until)`` in at most ``max_points`` time buckets, and the
        (newest ``max_points``) actions in that window, oldest first."""
        step = max((until - since) / max_points, 1e-3)
        in_window = (
            (TelemetrySample.version_key == version_key)
            & (TelemetrySample.group_id == group_id)
            & (TelemetrySample.at >= since)
            & (TelemetrySample.at < until)
        )
        offset = (TelemetrySample.at - since) / step
        bucket: ColumnElement[int] = (
            cast(offset, Integer) if self._db.is_sqlite else func.floor(offset)
        )
        rows = select(bucket.label("bucket"), TelemetrySample).where(in_window).subquery()
        c = rows.c
        query = (
            select(
                c.bucket,
                func.min(c.at),
                func.max(c.backlog),
                func.max(c.backlog_age_s),
                func.max(c.in_flight),
                func.max(c.workers_running),
                func.max(c.workers_ready),
                func.max(c.desired),
                func.max(c.pollers),
                func.avg(c.add_rate),
                func.avg(c.dispatch_rate),
            )
            .group_by(c.bucket)
            .order_by(c.bucket)
        )
        actions = (
            select(
                TelemetrySample.at,
                TelemetrySample.action_kind,
                TelemetrySample.action_size,
                TelemetrySample.action_reason,
            )
            .where(in_window & TelemetrySample.action_kind.is_not(None))
            .order_by(TelemetrySample.at.desc())
            .limit(max_points)
        )
        measured = (
            select(bucket.label("bucket"), TelemetrySample.waited_json)
            .where(in_window & TelemetrySample.waited_json.is_not(None))
            .order_by(TelemetrySample.at)
        )
        with self._db.read_session() as s:
            # Keyed by the database's own bucket index: recomputing it here from the bucket's
            # first time could round the other way at a bucket's edge.
            samples = {
                int(row[0]): _bucket_sample(version_key, group_id, row[1:])
                for row in s.execute(query)
            }
            points = [
                ActionPoint(at, ActionMarker(ActionKind(kind or ""), size or 0, reason or ""))
                for at, kind, size, reason in s.execute(actions)
            ]
            by_bucket: dict[int, LatencySketch] = {}
            for index, wire in s.execute(measured):
                sketch = _sketch(wire or "{}")
                by_bucket[int(index)] = by_bucket.get(int(index), LatencySketch()).merge(sketch)
        charted = [replace(x, waited=by_bucket.get(index)) for index, x in samples.items()]
        waited = LatencySketch()
        for sketch in by_bucket.values():
            waited = waited.merge(sketch)
        return Series(step_s=step, samples=charted, actions=points[::-1], waited=waited)

    def events(
        self, since: float, until: float, limit: int, where: EventFilter | None = None
    ) -> EventPage:
        """Events in ``[since, until]``, newest first, at most ``limit``.

        A page never splits the events of one instant (a cycle stamps its events with one
        time): those go whole to the next page, whose ``until`` is that instant; only more
        than ``limit`` of them at one instant are cut.
        """
        where = where or EventFilter()
        query = select(TelemetryEvent).where(TelemetryEvent.at >= since, TelemetryEvent.at <= until)
        for column, value in (
            (TelemetryEvent.version_key, where.version_key),
            (TelemetryEvent.deployment, where.deployment),
            (TelemetryEvent.build_id, where.build_id),
            (TelemetryEvent.group_id, where.group_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if where.kinds:
            query = query.where(TelemetryEvent.kind.in_(where.kinds))
        query = query.order_by(TelemetryEvent.at.desc(), TelemetryEvent.id.desc()).limit(limit + 1)
        with self._db.read_session() as s:
            rows = list(s.scalars(query))
        if len(rows) <= limit:
            return EventPage([_stored_event(r) for r in rows], None)
        boundary = rows[limit].at
        page = [r for r in rows[:limit] if r.at > boundary] or rows[:limit]
        return EventPage([_stored_event(r) for r in page], boundary)


def _sample_row(sample: GroupSample) -> dict[str, object]:
    action = sample.action
    return {
        "version_key": sample.version_key,
        "group_id": sample.group_id,
        "at": sample.at,
        "backlog": sample.backlog,
        "backlog_age_s": sample.backlog_age_s,
        "in_flight": sample.in_flight,
        "workers_running": sample.workers_running,
        "workers_ready": sample.workers_ready,
        "desired": sample.desired,
        "pollers": sample.pollers,
        "add_rate": sample.add_rate,
        "dispatch_rate": sample.dispatch_rate,
        "action_kind": action.kind.value if action else None,
        "action_size": action.size if action else None,
        "action_reason": action.reason if action else None,
        "waited_json": json.dumps(sample.waited.to_wire()) if sample.waited else None,
    }


def _event_row(event: GroupEvent) -> dict[str, object]:
    deployment, build_id = split_version_key(event.version_key)
    return {
        "at": event.at,
        "version_key": event.version_key,
        "deployment": deployment,
        "build_id": build_id,
        "group_id": event.group_id,
        "kind": event.kind.value,
        "severity": event.severity.value,
        "reason": event.reason,
        "message": event.message,
    }


def _bucket_sample(version_key: str, group_id: str, row: Sequence[object]) -> GroupSample:
    at, backlog, age, in_flight, running, ready, desired, pollers, add, dispatch = row
    return GroupSample(
        version_key=version_key,
        group_id=group_id,
        at=float(at),  # type: ignore[arg-type]
        backlog=_int(backlog),
        backlog_age_s=_float(age),
        in_flight=_int(in_flight),
        workers_running=_int(running) or 0,
        workers_ready=_int(ready),
        desired=_int(desired),
        pollers=_int(pollers),
        add_rate=_float(add),
        dispatch_rate=_float(dispatch),
    )


def _sketch(wire: str) -> LatencySketch:
    """A stored sketch; one that cannot be read counts as none (it was written by this code,
    so only a hand-edited row can be malformed)."""
    try:
        return LatencySketch.from_wire(json.loads(wire))
    except ValueError:
        return LatencySketch()


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _stored_event(row: TelemetryEvent) -> StoredEvent:
    event = GroupEvent(
        row.at,
        row.version_key,
        row.group_id,
        EventKind(row.kind),
        Severity(row.severity),
        row.reason,
        row.message,
    )
    return StoredEvent(row.id, row.deployment, row.build_id, event)


class StoreTelemetrySink:
    """The telemetry recorder's sink backed by the store: each batch is written in a worker
    thread (the event loop never waits on the database), and every ``prune_every_s`` the tables
    are pruned after a write. ``write`` raises only when the batch was not written."""

    def __init__(
        self,
        telemetry: TelemetryStore,
        *,
        prune_every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._telemetry = telemetry
        self._prune_every_s = prune_every_s
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._pruned_at: float | None = None

    async def write(self, samples: Sequence[GroupSample], events: Sequence[GroupEvent]) -> None:
        await asyncio.to_thread(self._telemetry.insert, samples, events)
        now = self._monotonic()
        if self._pruned_at is None or now - self._pruned_at >= self._prune_every_s:
            self._pruned_at = now
            try:
                await asyncio.to_thread(self._telemetry.prune, self._wall_clock())
            except SQLAlchemyError as err:  # the batch is written: only the pruning waits
                logger.warning(
                    "telemetry not pruned (next try in %.0fs): %s", self._prune_every_s, err
                )
