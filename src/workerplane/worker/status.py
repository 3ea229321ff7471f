"""The status file a worker keeps up to date, and how others read it.

A worker started by workerplane finds the path in ``WORKERPLANE_STATUS_FILE``. It rewrites the file
atomically whenever its state changes and at least every :data:`HEARTBEAT_S` seconds. Providers read
it to learn whether a worker is polling (readiness) and how much work it holds (to retire idle
workers first); the Kubernetes readiness probe reads it too. No HTTP server is needed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import WorkerLoad

STATUS_FILE_ENV = "WORKERPLANE_STATUS_FILE"
HEARTBEAT_S = 1.0


@dataclass(frozen=True)
class WorkerStatus:
    """A worker's self-report.

    Attributes:
        pid: the worker's process ID.
        state: "starting", "polling", "draining" or "stopped".
        in_flight: tasks executing now.
        completed: tasks finished since start.
        started_at: wall-clock start time (epoch seconds).
        last_task_at: wall-clock time the last task started or finished, if any.
        updated_at: wall-clock time of this report.
        exit_reason: why the worker stopped ("idle", "max_lifetime", "signal", ...), once stopped.
        slots: the task slots ``in_flight`` is counted against (``max_concurrent_activities``),
            when the worker was given a limit; ``None`` otherwise.
        tasks_finished: tasks of the kind ``in_flight`` counts (activities) finished since start.
        task_seconds: their total run time: with ``tasks_finished``, the mean task duration a
            scaler needs, measured where the work runs rather than inferred from server rates.
        schedule_to_start: what each of those tasks waited from its scheduling to its start, as
            a latency sketch in its wire form (``LatencySketch.to_wire``), since start.
        running_seconds: how long the tasks in flight had run at ``updated_at``, summed: the
            finished tasks' mean alone misses the long ones still running.
    """

    pid: int
    state: str
    in_flight: int = 0
    completed: int = 0
    started_at: float = 0.0
    last_task_at: float | None = None
    updated_at: float = 0.0
    exit_reason: str | None = None
    slots: int | None = None
    tasks_finished: int = 0
    task_seconds: float = 0.0
    schedule_to_start: dict[str, Any] | None = None
    running_seconds: float = 0.0

    def running_seconds_at(self, now: float) -> float:
        """:attr:`running_seconds` aged to ``now``: each task in flight has run on since."""
        return self.running_seconds + self.in_flight * max(0.0, now - self.updated_at)

    def load(self, now: float) -> WorkerLoad:
        """Its tasks in flight at ``now``, as the census and a shrink's retire order take them."""
        return WorkerLoad(self.in_flight, self.running_seconds_at(now))

    def waited(self) -> LatencySketch | None:
        """:attr:`schedule_to_start` as a sketch (``None`` when absent or malformed)."""
        if self.schedule_to_start is None:
            return None
        try:
            return LatencySketch.from_wire(self.schedule_to_start)
        except ValueError:
            return None

    @property
    def polling(self) -> bool:
        return self.state == "polling"

    def is_fresh(self, now: float | None = None, max_age_s: float = 5 * HEARTBEAT_S) -> bool:
        """Whether the report is recent enough to trust."""
        return ((now if now is not None else time.time()) - self.updated_at) <= max_age_s


def write_status(path: Path, status: WorkerStatus) -> None:
    """Replace the status file atomically (readers never see a torn write)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(status)))
    os.replace(tmp, path)


_STATUS_FIELDS = frozenset(f.name for f in dataclasses.fields(WorkerStatus))


def read_status(path: Path) -> WorkerStatus | None:
    """Read a status file, or ``None`` if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        # Fields a newer runtime added are skipped, so workers and controller upgrade apart.
        return WorkerStatus(**{k: v for k, v in data.items() if k in _STATUS_FIELDS})
    except (OSError, ValueError, TypeError):
        return None
