"""The schedule-to-start the simulated workers measure, as the controller reads it.

A worker on workerplane's runtime records every task's schedule-to-start in a growing sketch
(:class:`~workerplane.scaling.latency.LatencyRecorder`) and rewrites its status file every
``report_interval_s`` from its start; the controller reads the files on its cycle. So a task
reaches the census at its worker's next write after it started, and the scaler sees it on the
first cycle from then on: a second or so late, per worker, as in production.
"""

from __future__ import annotations

import heapq

from workerplane.scaling.latency import LatencyRecorder, LatencySketch
from workerplane.sim.fleet import SimWorker


class WorkerReports:
    """The group's reported sketch (exited workers included: it only grows)."""

    def __init__(self, report_interval_s: float) -> None:
        self.interval_s = report_interval_s
        self.pending: list[tuple[float, float]] = []  # (reported at, wait), a heap
        self.recorder = LatencyRecorder()
        self.reported: LatencySketch = LatencySketch()

    def record(self, worker: SimWorker, now: float, wait_s: float) -> None:
        """``worker`` started a task that waited ``wait_s``: it reports it at its next write."""
        since_write = (now - worker.launched_at) % self.interval_s
        heapq.heappush(self.pending, (now + self.interval_s - since_write, wait_s))

    def sketch(self, now: float) -> LatencySketch:
        """What the workers' status files hold at ``now``."""
        if self.pending and self.pending[0][0] <= now:
            while self.pending and self.pending[0][0] <= now:
                self.recorder.record(heapq.heappop(self.pending)[1])
            self.reported = self.recorder.snapshot()
        return self.reported
