"""What a policy without foresight could pay on storm traces, learning as it goes: a yardstick
between the clairvoyant pools of :mod:`workerplane.sim.warm_pool` and what ``slo`` pays.

Such a policy meets its first storms as they land (it knows their size once they show), and the
very first before its tasks have shown how long they run; only later storms can be warmed, once
their recurrence is inferred. :func:`learning_storm_pools` prices that with exact startups,
:func:`learning_open_loop_cost` with random ones (docs/policy-lab.md).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from workerplane.sim.distributions import Distribution
from workerplane.sim.traces import Trace
from workerplane.sim.warm_pool import (
    StormPools,
    cheapest_open_loop_pool,
    cheapest_storm_pools,
    ideal_warm_pool,
    mean_random_pool,
    storm_starts,
)


def learning_storm_pools(
    trace: Trace,
    *,
    slots: int,
    startup_s: float,
    slo_s: float,
    max_workers: int,
    reacting_storms: int = 2,
    quantile: float = 0.95,
) -> StormPools:
    """A yardstick for a policy without foresight that learns what it can as it goes: the first
    ``reacting_storms`` storms are asked for as they land (knowing their size at once), the
    first of them without knowing the tasks' length; every later storm gets its cheapest
    clairvoyant pool, as if its time and size had been inferred (:func:`cheapest_storm_pools`).

    The first storm's tasks show their length a startup and a mean task length after it lands
    (taken as learned exactly then, which flatters the policy). A task that must be asked for
    before that (it lands less than the SLO less a startup before it) starts in time whatever
    its length only on a slot of its own: the first storm gets at least a slot for ``quantile``
    of those tasks (at most ``max_workers`` workers). Where even this is above a budget, no
    policy that meets storms as they land, without a duration known before the first, meets it.
    """
    starts = storm_starts(trace, startup_s + slo_s)
    total = staggered = 0.0
    pools: list[int] = []
    waits: list[npt.NDArray[np.float64]] = []
    for i, (start, end) in enumerate(pairwise([*starts, np.inf])):
        mine = (trace.arrivals >= start) & (trace.arrivals < end)
        storm = Trace(
            trace.name, trace.arrivals[mine], trace.durations[mine], trace.horizon_s,
            actions=(start,),
        )  # fmt: skip
        reactive = i < reacting_storms
        workers = cheapest_storm_pools(
            storm, slots=slots, startup_s=startup_s, slo_s=slo_s, max_workers=max_workers,
            reactive=reactive,
        ).workers[0]  # fmt: skip
        if i == 0:
            floor = blind_floor(storm, slots, startup_s, slo_s, max_workers, quantile)
            workers = max(workers, floor)
        pool = ideal_warm_pool(
            storm, workers=workers, slots=slots, startup_s=startup_s, reactive=reactive
        )
        total += pool.worker_seconds
        staggered += pool.staggered_worker_seconds
        pools.append(workers)
        waits.append(pool.waits)
    every = np.concatenate(waits) if waits else np.empty(0)
    return StormPools(total, tuple(pools), every, staggered)


def blind_floor(
    storm: Trace, slots: int, startup_s: float, slo_s: float, max_workers: int, quantile: float
) -> int:
    """The workers a storm's tasks need before they show their length (a startup and a mean
    task length after the storm lands): a slot for ``quantile`` of the tasks that must be
    asked for by then, at most ``max_workers`` (:func:`learning_storm_pools`)."""
    learned_at = float(storm.arrivals.min()) + startup_s + float(storm.durations.mean())
    blind = int((storm.arrivals + slo_s - startup_s < learned_at).sum())
    return min(max_workers, math.ceil(quantile * blind / slots - 1e-9))


def learning_open_loop_cost(
    trace: Trace,
    *,
    slots: int,
    startup: Distribution,
    slo_s: float,
    max_workers: int,
    reacting_storms: int = 2,
    quantile: float = 0.95,
    draws: int = 10,
    seed: int = 0,
) -> float:
    """:func:`learning_storm_pools` with random startups drawn from ``startup``: each reacting
    storm the fewest workers asked at its first task whose p95 meets ``slo_s`` on average over
    ``draws`` draws (the first storm at least its :func:`blind_floor`), and the later storms
    the cheapest warm-up a policy can time without each worker's startup
    (:func:`cheapest_open_loop_pool`, all asked at once). Returns the mean worker-seconds."""
    starts = storm_starts(trace, startup.mean + slo_s)
    ends = [*starts[1:], np.inf]
    total = 0.0
    for i, (start, end) in enumerate(zip(starts[:reacting_storms], ends, strict=False)):
        mine = (trace.arrivals >= start) & (trace.arrivals < end)
        storm = Trace(
            trace.name, trace.arrivals[mine], trace.durations[mine], trace.horizon_s,
            actions=(start,),
        )  # fmt: skip

        def priced(workers: int, storm: Trace = storm) -> tuple[float, float]:
            return mean_random_pool(
                storm, workers=workers, slots=slots, startup=startup, lead_s=0.0,
                staggered=False, draws=draws, seed=seed,
            )  # fmt: skip

        floor = 1 if i else blind_floor(storm, slots, startup.mean, slo_s, max_workers, quantile)
        workers = next(
            (n for n in range(max(1, floor), max_workers + 1) if priced(n)[1] <= slo_s),
            max_workers,
        )
        total += priced(workers)[0]
    if len(starts) > reacting_storms:
        later = trace.arrivals >= starts[reacting_storms]
        rest = Trace(trace.name, trace.arrivals[later], trace.durations[later], trace.horizon_s)
        total += cheapest_open_loop_pool(
            rest, slots=slots, startup=startup, slo_s=slo_s, staggered=False, draws=draws,
            seed=seed,
        ).worker_seconds  # fmt: skip
    return total
