"""The best a fixed warm pool can do on a scheduled trace: a yardstick for pre-warming, and
(:func:`cheapest_storm_pools`) the cheapest such pool per storm, for any storm trace.

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
    """The ideal warm pool's worker-seconds (startup included) and every task's wait.

    ``staggered_worker_seconds`` bills each worker only from its first task (plus its startup),
    as if it had come up exactly then, and nothing for a worker that got no task: the same
    tasks on the same slots, without the time a worker polls before its first task.
    """

    worker_seconds: float
    waits: npt.NDArray[np.float64]
    staggered_worker_seconds: float

    @property
    def p95_s(self) -> float:
        return float(np.percentile(self.waits, 95)) if len(self.waits) else 0.0


def ideal_warm_pool(trace: Trace, *, workers: int, slots: int, startup_s: float) -> WarmPoolResult:
    """``workers`` workers of ``slots`` slots warmed ideally for each run of ``trace`` (run ``i``:
    the tasks from action ``i`` until the next)."""
    bounds = [*sorted(trace.actions), np.inf]
    total = 0.0
    staggered = 0.0
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
        first_start = np.full(workers, np.inf)
        for i in order:
            at, w = heapq.heappop(free)
            begins = max(at, float(arrivals[i]))
            waits.append(begins - float(arrivals[i]))
            ends = begins + float(durations[i])
            first_start[w] = min(first_start[w], begins)
            last_end[w] = max(last_end[w], ends)
            heapq.heappush(free, (ends, w))
        total += float((last_end - first).sum()) + workers * startup_s
        used = np.isfinite(first_start)
        staggered += float((last_end[used] - first_start[used]).sum()) + used.sum() * startup_s
    return WarmPoolResult(total, np.asarray(waits, dtype=np.float64), staggered)


@dataclass(frozen=True)
class StormPools:
    """The cheapest ideal warm pool of each storm that meets the SLO on its own.

    Attributes:
        worker_seconds: their cost, startup included.
        workers: each storm's pool, in order.
        p95_s: the p95 wait over every task of the trace.
        staggered_worker_seconds: the same pools, each worker billed from its first task
            (:class:`WarmPoolResult`): what a warm-up timed worker by worker could save.
    """

    worker_seconds: float
    workers: tuple[int, ...]
    p95_s: float
    staggered_worker_seconds: float


def storm_starts(trace: Trace, gap_s: float) -> tuple[float, ...]:
    """When each storm of ``trace`` begins: the arrivals more than ``gap_s`` after every earlier
    task has ended (had each started on arrival), as the oracle splits a trace into segments."""
    starts: list[float] = []
    busy_until = -np.inf
    for arrival, duration in zip(trace.arrivals, trace.durations, strict=True):
        if arrival > busy_until + gap_s:
            starts.append(float(arrival))
        busy_until = max(busy_until, float(arrival + duration))
    return tuple(starts)


def cheapest_storm_pools(
    trace: Trace, *, slots: int, startup_s: float, slo_s: float, max_workers: int = 1000
) -> StormPools:
    """A clairvoyant yardstick for storms on an idle queue (a schedule's runs, cron storms,
    fan-outs): each storm (see :func:`storm_starts`, split at gaps of a startup plus the SLO)
    gets the fewest ideally warmed workers (:func:`ideal_warm_pool`: polling at its first task,
    retired at their last) whose waits meet ``slo_s`` at p95 within that storm. It knows each
    storm's time and size, which no policy does before the storm lands, yet pays for packing
    whole tasks on ``slots``-slot workers under Temporal's matching. Not a lower bound (another
    order of tasks on the slots could pack better, and a warm-up timed worker by worker saves
    the polling before each worker's first task: ``staggered_worker_seconds``), but where even
    the staggered cost is far above a budget over the whole-task oracle, packing, not foresight,
    is what the budget misses.
    """
    starts = storm_starts(trace, startup_s + slo_s)
    total = 0.0
    staggered = 0.0
    pools: list[int] = []
    waits: list[npt.NDArray[np.float64]] = []
    for start, end in pairwise([*starts, np.inf]):
        mine = (trace.arrivals >= start) & (trace.arrivals < end)
        storm = Trace(
            trace.name, trace.arrivals[mine], trace.durations[mine], trace.horizon_s,
            actions=(start,),
        )  # fmt: skip
        for workers in range(1, max_workers + 1):
            pool = ideal_warm_pool(storm, workers=workers, slots=slots, startup_s=startup_s)
            if pool.p95_s <= slo_s or workers == max_workers:
                break
        total += pool.worker_seconds
        staggered += pool.staggered_worker_seconds
        pools.append(workers)
        waits.append(pool.waits)
    every = np.concatenate(waits) if waits else np.empty(0)
    p95 = float(np.percentile(every, 95)) if len(every) else 0.0
    return StormPools(total, tuple(pools), p95, staggered)
