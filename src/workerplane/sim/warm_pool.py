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
import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from workerplane.sim.distributions import Distribution
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


def runs_of(trace: Trace) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Each run of ``trace`` (run ``i``: the tasks from action ``i`` until the next, in arrival
    order): its arrivals and durations."""
    runs = []
    for start, end in pairwise([*sorted(trace.actions), np.inf]):
        mine = (trace.arrivals >= start) & (trace.arrivals < end)
        order = np.argsort(trace.arrivals[mine], kind="stable")
        if len(order):
            runs.append((trace.arrivals[mine][order], trace.durations[mine][order]))
    return runs


@dataclass(frozen=True)
class RunOnPool:
    """One run on a warm pool: each worker's first task and last end, and every task's wait."""

    first_start: npt.NDArray[np.float64]
    last_end: npt.NDArray[np.float64]
    waits: list[float]


def run_on_pool(
    arrivals: npt.NDArray[np.float64],
    durations: npt.NDArray[np.float64],
    ready: npt.NDArray[np.float64],
    slots: int,
) -> RunOnPool:
    """A run's tasks (in arrival order) on workers polling from ``ready``: free slots take the
    waiting tasks in the order they became free, as the simulator's matcher does. A worker
    without a task ends when it is ready."""
    free = [(float(at), w) for w, at in enumerate(ready) for _ in range(slots)]
    heapq.heapify(free)
    last_end = np.array(ready, dtype=np.float64)
    first_start = np.full(len(ready), np.inf)
    waits: list[float] = []
    for arrival, duration in zip(arrivals, durations, strict=True):
        at, w = heapq.heappop(free)
        begins = max(at, float(arrival))
        waits.append(begins - float(arrival))
        ends = begins + float(duration)
        first_start[w] = min(first_start[w], begins)
        last_end[w] = max(last_end[w], ends)
        heapq.heappush(free, (ends, w))
    return RunOnPool(first_start, last_end, waits)


def ideal_warm_pool(
    trace: Trace, *, workers: int, slots: int, startup_s: float, reactive: bool = False
) -> WarmPoolResult:
    """``workers`` workers of ``slots`` slots warmed ideally for each run of ``trace`` (run ``i``:
    the tasks from action ``i`` until the next). ``reactive``: asked the moment the run's first
    task lands instead, so they poll a startup later (what a policy that reacts at once, knowing
    the run's size, could do)."""
    total = 0.0
    staggered = 0.0
    waits: list[float] = []
    for arrivals, durations in runs_of(trace) if workers > 0 else []:
        first = float(arrivals[0])
        polls = first + startup_s if reactive else first
        run = run_on_pool(arrivals, durations, np.full(workers, polls), slots)
        waits.extend(run.waits)
        total += float((run.last_end - polls).sum()) + workers * startup_s
        used = np.isfinite(run.first_start)
        staggered += float((run.last_end[used] - run.first_start[used]).sum())
        staggered += used.sum() * startup_s
    return WarmPoolResult(total, np.asarray(waits, dtype=np.float64), staggered)


def random_startup_pool(
    trace: Trace,
    *,
    workers: int,
    slots: int,
    startup: Distribution,
    lead_s: float,
    staggered: bool,
    rng: np.random.Generator,
) -> WarmPoolResult:
    """A warm-up a policy can plan, without knowing each worker's startup: for each run of
    ``trace``, ``workers`` workers asked ``lead_s`` before the run's first task (or, staggered,
    each ``lead_s`` before its share lands: worker ``j`` before task ``j * slots``), each polling
    after a startup drawn from ``startup``, billed from its ask until its last task ends (retired
    the moment it is done). Its ``staggered_worker_seconds`` are its ``worker_seconds``."""
    total = 0.0
    waits: list[float] = []
    for arrivals, durations in runs_of(trace) if workers > 0 else []:
        shares = np.minimum(np.arange(workers) * slots, len(arrivals) - 1)
        needed = arrivals[shares] if staggered else np.full(workers, arrivals[0])
        asks = needed - lead_s
        run = run_on_pool(arrivals, durations, asks + startup.sample(rng, workers), slots)
        waits.extend(run.waits)
        total += float((run.last_end - asks).sum())
    return WarmPoolResult(total, np.asarray(waits, dtype=np.float64), total)


@dataclass(frozen=True)
class StormPools:
    """The cheapest ideal warm pool of each storm that meets the SLO on its own.

    Attributes:
        worker_seconds: their cost, startup included.
        workers: each storm's pool, in order.
        waits: every task's wait, storm by storm.
        staggered_worker_seconds: the same pools, each worker billed from its first task
            (:class:`WarmPoolResult`): what a warm-up timed worker by worker could save.
    """

    worker_seconds: float
    workers: tuple[int, ...]
    waits: npt.NDArray[np.float64]
    staggered_worker_seconds: float

    @property
    def p95_s(self) -> float:
        """The p95 wait over every task of the trace."""
        return float(np.percentile(self.waits, 95)) if len(self.waits) else 0.0


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
    trace: Trace,
    *,
    slots: int,
    startup_s: float,
    slo_s: float,
    max_workers: int = 1000,
    reactive: bool = False,
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

    ``reactive``: each pool is asked the moment its storm's first task lands (polling a startup
    later), as by a policy that reacts at once and knows the storm's size. Where even that is
    above a budget, no policy that learns of a storm only when it lands can meet it.
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
            pool = ideal_warm_pool(
                storm, workers=workers, slots=slots, startup_s=startup_s, reactive=reactive
            )
            if pool.p95_s <= slo_s or workers == max_workers:
                break
        total += pool.worker_seconds
        staggered += pool.staggered_worker_seconds
        pools.append(workers)
        waits.append(pool.waits)
    every = np.concatenate(waits) if waits else np.empty(0)
    return StormPools(total, tuple(pools), every, staggered)


def mean_random_pool(
    trace: Trace,
    *,
    workers: int,
    slots: int,
    startup: Distribution,
    lead_s: float,
    staggered: bool,
    draws: int,
    seed: int,
) -> tuple[float, float]:
    """:func:`random_startup_pool` over ``draws`` draws of the startups (seeded with ``seed``,
    so every candidate sees the same draws): its mean worker-seconds and mean p95."""
    rng = np.random.default_rng(seed)
    pools = [
        random_startup_pool(
            trace,
            workers=workers,
            slots=slots,
            startup=startup,
            lead_s=lead_s,
            staggered=staggered,
            rng=rng,
        )
        for _ in range(draws)
    ]
    return (
        float(np.mean([p.worker_seconds for p in pools])),
        float(np.mean([p.p95_s for p in pools])),
    )


@dataclass(frozen=True)
class OpenLoopPool:
    """The cheapest warm-up of :func:`cheapest_open_loop_pool`: ``workers`` asked ``lead_s``
    ahead (of the storm, or of each worker's share), and its mean cost and p95 over the draws."""

    workers: int
    lead_s: float
    worker_seconds: float
    p95_s: float


def cheapest_open_loop_pool(
    trace: Trace,
    *,
    slots: int,
    startup: Distribution,
    slo_s: float,
    staggered: bool,
    draws: int = 10,
    seed: int = 0,
    lead_step_s: float = 0.25,
) -> OpenLoopPool:
    """The cheapest pool of :func:`random_startup_pool` for every storm of ``trace`` (split as
    :func:`cheapest_storm_pools` splits it; one size and lead for all), over leads from 0 to
    twice the mean startup, whose p95 meets ``slo_s`` on average over ``draws`` draws of the
    startups (the same draws for every candidate). What a warm-up timed by what is learned of
    the storms, not by each worker's startup, can reach: against the clairvoyant
    :func:`cheapest_storm_pools`, it shows what the startup's randomness costs."""
    storms = Trace(
        trace.name, trace.arrivals, trace.durations, trace.horizon_s,
        actions=storm_starts(trace, startup.mean + slo_s),
    )  # fmt: skip

    def priced(workers: int, lead_s: float) -> OpenLoopPool:
        cost, p95 = mean_random_pool(
            storms, workers=workers, slots=slots, startup=startup, lead_s=lead_s,
            staggered=staggered, draws=draws, seed=seed,
        )  # fmt: skip
        return OpenLoopPool(workers, lead_s, cost, p95)

    most = max(1, math.ceil(trace.n_tasks / slots))
    best: OpenLoopPool | None = None
    for lead_s in np.arange(0.0, 2 * startup.mean + 1e-9, lead_step_s):
        low, high = 1, most  # the fewest workers that meet the SLO, by bisection
        while low < high:
            middle = (low + high) // 2
            low, high = (
                (low, middle) if priced(middle, lead_s).p95_s <= slo_s else (middle + 1, high)
            )
        found = priced(low, float(lead_s))
        if found.p95_s <= slo_s and (best is None or found.worker_seconds < best.worker_seconds):
            best = found
    return best or priced(most, 0.0)
