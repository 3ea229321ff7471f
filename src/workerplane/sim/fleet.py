"""The simulator's workers and what they bill.

A worker is billed from its launch until it exits: its startup (launch to first poll), the time
it polls, and, once retired, the time it finishes its in-flight tasks. The engine
(:mod:`workerplane.sim.engine`) moves workers through their states; this module holds a worker's
record, picks the workers a shrink retires, and adds up the bill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workerplane.scaling.retire import retire_key
from workerplane.scaling.types import WorkerLoad

STARTING, READY, RETIRING, EXITED = range(4)


@dataclass
class SimWorker:
    """One simulated worker.

    Attributes:
        state: ``STARTING``, ``READY`` (polling), ``RETIRING`` (finishing its tasks) or ``EXITED``.
        ends_at: when its last in-flight task ends (its exit, if it retires now).
        finished: tasks it completed, and ``task_seconds`` their run time (its status report).
        started_sum: the start times of its tasks in flight, summed (their ages, reported).
        idle_since: when it last became idle (an invoke worker's idle exit counts from there).
    """

    wid: int
    launched_at: float
    state: int
    in_flight: int = 0
    ends_at: float = 0.0
    finished: int = 0
    task_seconds: float = 0.0
    started_sum: float = 0.0
    idle_since: float = 0.0
    ready_at: float | None = None
    stopped_polling_at: float | None = None
    exited_at: float | None = None

    def task_started(self, now: float, duration_s: float) -> float:
        """Take a task that runs ``duration_s`` from ``now``; returns when it ends."""
        self.in_flight += 1
        self.started_sum += now
        end = now + duration_s
        self.ends_at = max(self.ends_at, end)
        return end

    def task_finished(self, now: float, duration_s: float) -> None:
        """A task that ran ``duration_s`` ended at ``now``."""
        self.in_flight -= 1
        self.finished += 1
        self.task_seconds += duration_s
        self.started_sum -= now - duration_s

    def running_seconds(self, now: float) -> float:
        """How long its tasks in flight have run so far, summed."""
        return max(0.0, self.in_flight * now - self.started_sum)

    def load(self, now: float) -> WorkerLoad:
        """Its tasks in flight, as it reports them to the census."""
        return WorkerLoad(self.in_flight, self.running_seconds(now))


def retirees(
    workers: Sequence[SimWorker], count: int, now: float, as_reported: bool
) -> list[SimWorker]:
    """The ``count`` workers (starting or polling) a shrink retires: those still starting first
    (newest first), then idle ones, then either those whose tasks end first (the least remaining
    work: only the simulator knows it) or, ``as_reported``, as a real provider can, those whose
    tasks have run the least (:mod:`workerplane.scaling.retire`)."""

    def busy_key(w: SimWorker) -> tuple[bool, float]:
        if as_reported:
            return retire_key(w.in_flight, w.running_seconds(now))
        return (w.in_flight > 0, w.ends_at)

    order = sorted(
        workers, key=lambda w: (w.state != STARTING, *busy_key(w), -w.launched_at, -w.wid)
    )
    return order[: max(0, count)]


@dataclass(frozen=True)
class Bill:
    """Worker-seconds of a run, launch to exit, and two parts of them.

    Attributes:
        worker_seconds: every worker, launch to exit (or to the end of the run).
        startup_seconds: from launch to the first poll (a worker that never polled: all of it).
        retiring_seconds: from when a worker stopped polling until it exited.
    """

    worker_seconds: float
    startup_seconds: float
    retiring_seconds: float


def bill(workers: Sequence[SimWorker], end: float) -> Bill:
    """What ``workers`` cost by ``end`` (the workers still alive then bill until ``end``)."""
    total = startup = retiring = 0.0
    for w in workers:
        gone = w.exited_at if w.exited_at is not None else end
        total += gone - w.launched_at
        if w.ready_at is None:
            startup += gone - w.launched_at
            continue
        startup += w.ready_at - w.launched_at
        if w.stopped_polling_at is not None:
            retiring += gone - w.stopped_polling_at
    return Bill(total, startup, retiring)
