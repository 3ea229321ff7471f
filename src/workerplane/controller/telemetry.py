"""The controller's telemetry: chart samples and events of every group, recorded as the cycles
run and written in the background to a :class:`TelemetrySink` (the store, under ``serve``).

:class:`TelemetryRecorder` is a :class:`~workerplane.controller.interfaces.CycleObserver`: on the
event loop it only derives (:mod:`workerplane.planning.events`) and buffers; a background task
flushes the buffers every ``flush_every_s``, and the sink writes from a worker thread. The write
rate is bounded whatever the fleet does: at most one sample per group per ``sample_interval_s``,
and an idle group whose figures do not change writes one every ``idle_interval_s``. A scale
action is never lost to that limit: it rides on the group's next sample. Events come only from
changes, never from an unchanged hold. While the sink fails, the buffers keep their newest
entries up to a bound and are written once it works again.

:class:`RecordingStatusSink` wraps the status sink to see what cycles cannot: a version's
readiness, and groups whose provider could not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from workerplane.controller.interfaces import StatusSink
from workerplane.planning.events import (
    ActionMarker,
    GroupEvent,
    GroupSample,
    action_marker,
    cycle_events,
    sample_of,
    start_failure_event,
    version_events,
)
from workerplane.planning.status import ControllerStatus, GroupStatus, VersionStatus
from workerplane.scaling.latency import LatencySketch

if TYPE_CHECKING:  # cycle.py imports the controller's interfaces: the report is for annotations
    from workerplane.controller.cycle import CycleReport

logger = logging.getLogger("workerplane.telemetry")

GroupKey = tuple[str, str]

#: A group that wrote no sample for this many idle intervals has stopped: its track is dropped.
FORGET_AFTER_IDLE_INTERVALS = 10


class TelemetrySink(Protocol):
    """Where recorded samples and events go (e.g. :class:`~workerplane.store.telemetry.
    StoreTelemetrySink`). ``write`` must not block the event loop; it raises when it could not
    write (the batch is then kept for the next flush)."""

    async def write(self, samples: Sequence[GroupSample], events: Sequence[GroupEvent]) -> None: ...


class TelemetryRecorder:
    """Buffers each group's samples and events and flushes them to ``sink`` in the background.

    Args:
        sample_interval_s: the least time between two samples of one group.
        idle_interval_s: the most time between two samples of a group whose figures hold.
        flush_every_s: how often :meth:`run` writes the buffers.
        max_buffered: the most samples (and, separately, events) kept while the sink fails;
            the oldest go first.
    """

    def __init__(
        self,
        sink: TelemetrySink,
        *,
        sample_interval_s: float = 2.0,
        idle_interval_s: float = 60.0,
        flush_every_s: float = 2.0,
        max_buffered: int = 50_000,
    ) -> None:
        self._sink = sink
        self._sample_interval_s = sample_interval_s
        self._idle_interval_s = idle_interval_s
        self._flush_every_s = flush_every_s
        self._samples: deque[GroupSample] = deque(maxlen=max_buffered)
        self._events: deque[GroupEvent] = deque(maxlen=max_buffered)
        self._written: dict[GroupKey, GroupSample] = {}
        self._pending_action: dict[GroupKey, ActionMarker] = {}
        self._pending_waited: dict[GroupKey, LatencySketch] = {}
        self._versions: dict[str, VersionStatus] = {}
        self._groups: dict[GroupKey, GroupStatus] = {}
        self._failing = False
        self._latest_at = 0.0

    # -- recording (on the event loop, no I/O) --------------------------------------------------

    def on_cycle(self, report: CycleReport) -> None:
        """Record a finished cycle: its events, and its sample when one is due."""
        self._events.extend(
            cycle_events(
                report.previous, report.plan, report.failure, report.status, report.observation
            )
        )
        key = (report.version_key, report.group_id)
        marker = action_marker(report.plan, report.previous, report.observation.census.running)
        action = marker or self._pending_action.pop(key, None)
        measured = report.plan.state.latency.latest
        waited = self._pending_waited.pop(key, None)
        if measured.count:
            waited = measured if waited is None else waited.merge(measured)
        sample = dataclasses.replace(sample_of(report.status, action), waited=waited)
        self._latest_at = max(self._latest_at, sample.at)
        if self._due(self._written.get(key), sample):
            self._samples.append(sample)
            self._written[key] = sample
            return
        if action is not None:
            self._pending_action[key] = action
        if waited is not None:
            self._pending_waited[key] = waited  # rides on the next sample, never lost

    def _due(self, last: GroupSample | None, sample: GroupSample) -> bool:
        if last is None:
            return True
        elapsed = sample.at - last.at
        if 0 <= elapsed < self._sample_interval_s:
            return False
        measured = sample.waited is not None
        changed = sample.action is not None or measured or not sample.same_values(last)
        return changed or not 0 <= elapsed < self._idle_interval_s

    def on_published(
        self,
        statuses: Sequence[GroupStatus],
        versions: Sequence[VersionStatus],
        at: float,
        *,
        partial: bool = False,
    ) -> None:
        """Record what only the published statuses show: readiness changes and groups that
        could not start. A ``partial`` publication carries only what changed: the others keep
        their last known state."""
        groups = {(s.version_key, s.group_id): s for s in statuses}
        for key, current in groups.items():
            event = start_failure_event(self._groups.get(key), current)
            if event is not None:
                self._events.append(event)
        for version in versions:
            self._events.extend(
                version_events(self._versions.get(version.version_key), version, at)
            )
        published = {v.version_key: v for v in versions}
        self._groups = {**self._groups, **groups} if partial else groups
        self._versions = {**self._versions, **published} if partial else published

    def _forget_stopped_groups(self) -> None:
        """Drop the tracks of groups that stopped cycling: every live group writes a sample at
        least every ``idle_interval_s``. (A publication is no sign of life: a retiring group
        cycles on unpublished.)"""
        horizon = self._latest_at - FORGET_AFTER_IDLE_INTERVALS * self._idle_interval_s
        for gone in [key for key, last in self._written.items() if last.at < horizon]:
            del self._written[gone]
            self._pending_action.pop(gone, None)
            self._pending_waited.pop(gone, None)

    # -- writing (the sink runs in a thread) ----------------------------------------------------

    async def flush(self) -> None:
        """Write what is buffered; on failure keep it (bounded) for the next flush."""
        self._forget_stopped_groups()
        if not self._samples and not self._events:
            return
        samples, events = list(self._samples), list(self._events)
        self._samples.clear()
        self._events.clear()
        try:
            await self._sink.write(samples, events)
        except Exception as err:
            if not self._failing:
                logger.warning("telemetry not written (kept for the next try): %s", err)
            self._failing = True
            self._samples = deque([*samples, *self._samples], maxlen=self._samples.maxlen)
            self._events = deque([*events, *self._events], maxlen=self._events.maxlen)
            return
        if self._failing:
            logger.info("telemetry written again")
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_every_s`` until ``stop`` is set, then flush once more."""
        stopping = False
        while not stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._flush_every_s)
            stopping = stop.is_set()
            await self.flush()


class RecordingStatusSink:
    """A :class:`~workerplane.controller.interfaces.StatusSink` that shows each publication to
    the recorder, then hands it on to ``inner``."""

    def __init__(
        self,
        inner: StatusSink,
        recorder: TelemetryRecorder,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self._recorder = recorder
        self._wall_clock = wall_clock

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Sequence[VersionStatus] = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        try:
            self._recorder.on_published(statuses, versions, self._wall_clock(), partial=partial)
        except Exception:
            logger.exception("telemetry of published statuses failed")
        await self._inner.publish(statuses, versions, partial=partial, controller=controller)
