"""Measure the schedule-to-start every activity really got, where it runs.

``workerplane.worker``'s runtime installs :class:`ScheduleToStartInterceptor` on its own. A worker
that does not use the runtime adds it to its ``Worker(interceptors=[...])``::

    from workerplane.worker.interceptor import ScheduleToStartInterceptor

    worker = Worker(client, task_queue="orders", activities=[...],
                    interceptors=[ScheduleToStartInterceptor.reporting()])

``reporting()`` also keeps the status file that workerplane gives the worker in
``WORKERPLANE_STATUS_FILE`` (polling, tasks in flight, the latency sketch), rewritten every
second from a daemon thread, and pushes the sketch to ``WORKERPLANE_REPORT_URL`` when the
provider gave one (:mod:`workerplane.worker.push`), so the controller collects the measurements
of workers it did not write. Without those variables it only measures (read them with
:meth:`snapshot`).

Workflow tasks are not measured: the Python SDK does not expose a workflow task's scheduled time
(docs/schedule-to-start.md says what was checked).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from workerplane.scaling.latency import LatencyRecorder, LatencySketch
from workerplane.worker.push import SketchPusher
from workerplane.worker.status import HEARTBEAT_S, STATUS_FILE_ENV, WorkerStatus, write_status


@dataclass
class ActivityTally:
    """Activities a worker runs: how many now, how many finished and for how long, and what
    each waited from its attempt's scheduling to its start."""

    in_flight: int = 0
    finished: int = 0
    run_seconds: float = 0.0
    waited: LatencyRecorder = field(default_factory=LatencyRecorder)
    #: The start times (epoch s) of the activities in flight, summed: their ages at ``now`` are
    #: ``in_flight * now - started_sum``, without a record per task.
    started_sum: float = 0.0

    def running_seconds(self, now: float) -> float:
        """How long the activities in flight have run so far, summed, at ``now`` (epoch s)."""
        return max(0.0, self.in_flight * now - self.started_sum)


class ScheduleToStartInterceptor(Interceptor):
    """Records each activity attempt's schedule-to-start: the worker's clock at the start minus
    ``activity.info().current_attempt_scheduled_time`` (the server's clock; the two agree to
    within NTP's few milliseconds)."""

    def __init__(self, tally: ActivityTally | None = None) -> None:
        self.tally = tally or ActivityTally()
        #: Pushes the sketch to the control plane (set by :meth:`reporting` when asked to);
        #: ``pusher.close()`` pushes the last measurements before the worker exits.
        self.pusher: SketchPusher | None = None

    @classmethod
    def reporting(cls, status_file: Path | None = None) -> ScheduleToStartInterceptor:
        """An interceptor that also keeps the worker's status file (``WORKERPLANE_STATUS_FILE``
        by default) and pushes its sketch (``WORKERPLANE_REPORT_URL``), for a worker that does
        not run on workerplane's runtime."""
        interceptor = cls()
        path = status_file or (
            Path(os.environ[STATUS_FILE_ENV]) if os.environ.get(STATUS_FILE_ENV) else None
        )
        if path is not None:
            _StatusHeartbeat(path, interceptor.tally).start()
        interceptor.pusher = SketchPusher.from_env(interceptor.snapshot)
        if interceptor.pusher is not None:
            interceptor.pusher.start()
        return interceptor

    def snapshot(self) -> LatencySketch:
        """Every schedule-to-start measured so far."""
        return self.tally.waited.snapshot()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _MeasuringActivityInbound(next, self.tally)


class _MeasuringActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tally: ActivityTally) -> None:
        super().__init__(next)
        self._tally = tally

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        scheduled = activity.info().current_attempt_scheduled_time
        self._tally.waited.record(time.time() - scheduled.timestamp())
        self._tally.in_flight += 1
        began = time.monotonic()
        began_wall = time.time()
        self._tally.started_sum += began_wall
        try:
            return await super().execute_activity(input)
        finally:
            self._tally.in_flight -= 1
            self._tally.started_sum -= began_wall
            self._tally.finished += 1
            self._tally.run_seconds += time.monotonic() - began


class _StatusHeartbeat(threading.Thread):
    """Rewrites the status file of a worker workerplane did not write (see module doc)."""

    def __init__(self, path: Path, tally: ActivityTally) -> None:
        super().__init__(name="workerplane-status", daemon=True)
        self._path = path
        self._tally = tally
        self._started_at = time.time()

    def run(self) -> None:
        while True:
            # OSError: the directory went away with the controller; nothing to report to.
            with contextlib.suppress(OSError):
                write_status(self._path, status_of(self._tally, self._started_at, "polling"))
            time.sleep(HEARTBEAT_S)


def status_of(tally: ActivityTally, started_at: float, state: str, **extra: Any) -> WorkerStatus:
    """The status file's report of ``tally`` (the runtime adds its own fields in ``extra``)."""
    now = time.time()
    return WorkerStatus(
        pid=os.getpid(),
        state=state,
        in_flight=tally.in_flight,
        started_at=started_at,
        updated_at=now,
        tasks_finished=tally.finished,
        task_seconds=round(tally.run_seconds, 3),
        running_seconds=round(tally.running_seconds(now), 3),
        schedule_to_start=tally.waited.snapshot().to_wire(),
        **extra,
    )
