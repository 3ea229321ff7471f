"""The best a fixed warm pool can do on a scheduled trace: a yardstick for pre-warming.

Not a lower bound for every policy (the oracles of :mod:`workerplane.sim.oracle` are), but the
cost of the ideal warm-up under Temporal's matching: for each run of the schedule, ``workers``
workers poll exactly when its first task arrives, each billed its startup and then until its
last task ends (retired the moment it is done, nothing idle before), and free slots take the
waiting tasks in the order they became free, as the simulator's matcher does. Whole tasks packed
on multi-slot workers cost it what the whole-task oracle does not charge (a worker that takes
several of a storm's tasks at once bills until the longest ends), so it shows how close to that
oracle any warm-up can come (docs/prewarming.md).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from workerplane.sim.traces import Trace


@dataclass(frozen=True)
class WarmPoolResult:
    """The ideal warm pool's worker-seconds (startup included) and every task's wait."""

    worker_seconds: float
    waits: npt.NDArray[np.float64]

    @property
    def p95_s(self) -> float:
        return float(np.percentile(self.waits, 95)) if len(self.waits) else 0.0


def ideal_warm_pool(trace: Trace, *, workers: int, slots: int, startup_s: float) -> WarmPoolResult:
    """``workers`` workers of ``slots`` slots warmed ideally for each run of ``trace`` (run ``i``:
    the tasks from action ``i`` until the next)."""
    bounds = [*sorted(trace.actions), np.inf]
    total = 0.0
    waits: list[float] = []
    for start, end in pairwise(bounds):
        mine = (trace.arrivals >= start) & (trace.arrivals < end)
        arrivals, durations = trace.arrivals[mine], trace.durations[mine]
        if not len(arrivals) or workers <= 0:
            continue
        order = np.argsort(arrivals, kind="stable")
        first = float(arrivals[order[0]])
        free = [(first, w) for w in range(workers) for _ in range(slots)]
        heapq.heapify(free)
        last_end = np.full(workers, first)
        for i in order:
            at, w = heapq.heappop(free)
            begins = max(at, float(arrivals[i]))
            waits.append(begins - float(arrivals[i]))
            ends = begins + float(durations[i])
            last_end[w] = max(last_end[w], ends)
            heapq.heappush(free, (ends, w))
        total += float((last_end - first).sum()) + workers * startup_s
    return WarmPoolResult(total, np.asarray(waits, dtype=np.float64))
