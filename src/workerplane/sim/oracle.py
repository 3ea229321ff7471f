"""The oracle: the fewest worker-seconds any policy could spend while meeting the latency SLO.

The oracle knows every arrival and every duration in advance. On a time grid of ``dt`` seconds it
picks an integer number of ready workers ``r_t`` per bin so as to solve the program

    minimise   dt * sum_t r_t  +  L * sum_t l_t
    subject to c_t <= slots * dt * r_t                 (a ready worker: ``slots`` slot-s per s)
               q_t = q_{t-1} + D_t - c_t,  q_t >= 0     (fluid backlog of slot-seconds)
               q_t <= D_{t-K+1} + ... + D_t             (work demanded in bin u is served by u + K)
               l_t >= r_t - r_{t-1},  l_t >= 0          (launches, each billed L seconds of startup)
               r_t integer >= 0

where ``D_t`` is the slot-seconds demanded in bin ``t`` if every task started the moment it
arrived, ``K = floor(slo / dt)`` and ``L`` is the mean startup delay.

Assumptions (each makes the oracle cheaper than any real schedule, so it is a LOWER BOUND):

* perfect foresight of arrivals and durations; workers are launched exactly ``L`` seconds before
  they are needed and cost nothing before launch;
* work is a fluid: any free slot of any worker may serve any waiting work, and a task's work may be
  delayed piecewise (a real task starts once and holds one slot until done);
* a worker can be retired at any bin boundary (a real worker-set worker finishes its tasks first);
* the SLO is applied to every task (stricter than p95, which is the only way it is NOT a pure
  relaxation; with ``slo`` of a few seconds the 5 % of tasks it could leave waiting rarely buy
  anything in a fluid model, since the demand they would defer must still be served later).

That oracle treats work as divisible, so it can be far below any real schedule: one 60 s task
costs it 19 worker-s (its work spread over four slots, deferred in pieces), where no schedule pays
under 62 (the task holds one slot of one worker for 60 s, plus the worker's startup).
:func:`whole_task_oracle` is a lower bound for WHOLE tasks. It adds two facts any real schedule
obeys to the same program:

* **compulsory parts**: a task that arrives at ``a``, may start until ``a + slo`` and runs ``d``
  seconds without a break certainly runs during ``[a + slo, a + d)``; every bin that interval
  covers entirely needs ``ceil(tasks running there for sure / slots)`` workers;
* **the longest task**: within a segment (see below), some worker holds its longest task from
  start to end, so the segment costs at least ``max d + startup``.

Both hold for every schedule, so the larger of the two per segment is still a lower bound; the
report shows a policy's cost against both oracles.

It is solved EXACTLY by dynamic programming over ``(r_t, q_t)`` with Pareto pruning (see
:func:`_solve_segment`; the unit tests check it against scipy's MILP solver on small cases).
Integrality of ``r_t`` is kept because it matters at low load: a single 2-second task still needs a
whole worker and its startup. The trace is split at idle gaps longer than ``L + slo`` (in such a
gap the optimum holds no worker: a worker idle across it costs more than its relaunch, for whole
tasks too), and each segment is solved on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from workerplane.sim.traces import Trace

FloatArray = npt.NDArray[np.float64]

#: The default grid keeps at most this many bins per SLO window.
MAX_SLO_BINS = 10


@dataclass(frozen=True)
class OracleResult:
    """The oracle's plan.

    Attributes:
        worker_seconds: the objective (billed worker time, startup included).
        launches: worker launches in the plan.
        t: bin start times.
        workers: ready workers per bin.
        demand: slot-seconds demanded per bin.
    """

    worker_seconds: float
    launches: float
    t: FloatArray
    workers: FloatArray
    demand: FloatArray


def demand_per_bin(
    arrivals: FloatArray, durations: FloatArray, dt: float, n_bins: int
) -> FloatArray:
    """Slot-seconds of work running in each bin if every task started at its arrival."""
    # F(x) = sum_i clip(x - a_i, 0, d_i) = sum over breakpoints s_k with sign g_k of g_k (x - s_k)^+
    points = np.concatenate([arrivals, arrivals + durations])
    signs = np.concatenate([np.ones(len(arrivals)), -np.ones(len(arrivals))])
    order = np.argsort(points, kind="stable")
    points, signs = points[order], signs[order]
    csign = np.concatenate([[0.0], np.cumsum(signs)])
    cpoint = np.concatenate([[0.0], np.cumsum(signs * points)])
    edges = np.arange(n_bins + 1, dtype=np.float64) * dt
    idx = np.searchsorted(points, edges, side="right")
    f = edges * csign[idx] - cpoint[idx]
    return np.asarray(np.maximum(np.diff(f), 0.0), dtype=np.float64)


def compulsory_per_bin(
    arrivals: FloatArray, durations: FloatArray, slo_s: float, dt: float, n_bins: int
) -> npt.NDArray[np.int64]:
    """Tasks certainly running over each whole bin: those whose ``[a + slo, a + d)`` covers it."""
    first = np.ceil((arrivals + slo_s) / dt - 1e-9).astype(np.int64)
    end = np.floor((arrivals + durations) / dt + 1e-9).astype(np.int64)  # exclusive
    keep = end > first
    delta = np.zeros(n_bins + 1, dtype=np.int64)
    np.add.at(delta, np.minimum(first[keep], n_bins), 1)
    np.add.at(delta, np.minimum(end[keep], n_bins), -1)
    return np.cumsum(delta)[:n_bins]


def _solve_segment(
    demand: FloatArray,
    slots: int,
    dt: float,
    startup_s: float,
    k_bins: int,
    q_step: float,
    floor: npt.NDArray[np.int64] | None = None,
) -> tuple[FloatArray, float, float]:
    """Solve one segment exactly by dynamic programming. Returns (r, worker_seconds, launches).

    The state after bin ``t`` is ``(r_t, q_t)``: ready workers and the fluid backlog. Serving as
    much as possible as early as possible is optimal (serving earlier never hurts), and the backlog
    is served oldest-first, so the deadline rule is exactly ``q_t <= W_t`` with ``W_t`` the demand
    of the last ``K`` bins. For each ``r`` only the Pareto front of ``(cost, q)`` is kept (a state
    with no more cost and no more backlog dominates). To keep fronts small, a dearer state is also
    dropped when its backlog is less than ``q_step`` slot-seconds below a cheaper one's; states are
    never altered, so the plan returned is always feasible (and optimal up to that pruning).
    ``floor`` is the fewest workers each bin must have (the whole-task compulsory parts).
    """
    n = len(demand)
    cap = slots * dt
    window = np.convolve(demand, np.ones(k_bins), mode="full")[:n]
    lowest = np.zeros(n, dtype=np.int64) if floor is None else floor
    r_max = max(math.ceil((float(window.max()) + 1e-9) / cap) + 1, int(lowest.max(initial=0)))
    choices = np.arange(r_max + 1)
    # Current states.
    s_r = np.zeros(1, dtype=np.int64)
    s_q = np.zeros(1)
    s_c = np.zeros(1)
    parents: list[npt.NDArray[np.int64]] = []
    rs: list[npt.NDArray[np.int64]] = []
    for t in range(n):
        # Every state times every choice of r for this bin.
        # More workers than both the previous count and what clears all waiting work are never
        # better: launching the extra ones later costs the same and saves their idle time.
        need = np.ceil((s_q + demand[t]) / cap - 1e-12).astype(np.int64)
        upper = np.maximum(np.maximum(s_r, need), lowest[t])
        top = min(int(upper.max()), r_max)
        r_new = np.repeat(choices[None, : top + 1], len(s_r), axis=0).ravel()
        par = np.repeat(np.arange(len(s_r)), top + 1)
        q = np.maximum(0.0, s_q[par] + demand[t] - cap * r_new)
        ok = (q <= window[t] + 1e-9) & (r_new <= upper[par]) & (r_new >= lowest[t])
        cost = s_c[par] + dt * r_new + startup_s * np.maximum(0, r_new - s_r[par])
        r_new, par, q, cost = r_new[ok], par[ok], q[ok], cost[ok]
        # Pareto front per r: sort by (r, cost, q) and keep states whose q beats all cheaper ones.
        order = np.lexsort((q, cost, r_new))
        r_new, par, q, cost = r_new[order], par[order], q[order], cost[order]
        keep = np.zeros(len(r_new), dtype=bool)
        starts = np.flatnonzero(np.concatenate([[True], r_new[1:] != r_new[:-1]]))
        bounds = np.append(starts, len(r_new))
        for a, b in pairwise(bounds):
            qs = q[a:b]
            prev_min = np.minimum.accumulate(np.concatenate([[np.inf], qs[:-1]]))
            keep[a:b] = qs < prev_min - q_step
        s_r, s_q, s_c = r_new[keep], q[keep], cost[keep]
        parents.append(par[keep])
        rs.append(s_r)
    # The segment must end with everything served.
    done = np.flatnonzero(s_q <= 1e-9)
    best = int(done[np.argmin(s_c[done])])
    total = float(s_c[best])
    plan = np.zeros(n)
    idx = best
    for t in range(n - 1, -1, -1):
        plan[t] = rs[t][idx]
        idx = int(parents[t][idx])
    launches = float(np.sum(np.maximum(np.diff(np.concatenate([[0.0], plan])), 0.0)))
    return plan, total, launches


def oracle(
    trace: Trace,
    *,
    slots: int,
    startup_s: float,
    slo_s: float,
    dt: float | None = None,
    q_step: float = 1e-3,
) -> OracleResult:
    """The divisible oracle's lowest worker-seconds for ``trace`` (see the module docstring)."""
    return _oracle(trace, slots, startup_s, slo_s, _bin(dt, slo_s), q_step, whole_tasks=False)


def whole_task_oracle(
    trace: Trace,
    *,
    slots: int,
    startup_s: float,
    slo_s: float,
    dt: float | None = None,
    q_step: float = 1e-3,
) -> OracleResult:
    """A lower bound for whole tasks: a task holds one slot of one worker and is never split."""
    return _oracle(trace, slots, startup_s, slo_s, _bin(dt, slo_s), q_step, whole_tasks=True)


def _bin(dt: float | None, slo_s: float) -> float:
    """The grid: 1 s, coarser for long SLOs (at most ``MAX_SLO_BINS`` bins per SLO), whose
    deadline windows would otherwise make the Pareto fronts too large to solve in minutes."""
    return dt if dt is not None else max(1.0, slo_s / MAX_SLO_BINS)


def _oracle(
    trace: Trace,
    slots: int,
    startup_s: float,
    slo_s: float,
    dt: float,
    q_step: float,
    *,
    whole_tasks: bool,
) -> OracleResult:
    end = float(np.max(trace.arrivals + trace.durations)) if trace.n_tasks else trace.horizon_s
    k_bins = max(1, math.floor(slo_s / dt + 1e-9))
    n_bins = math.ceil(max(end, trace.horizon_s) / dt) + k_bins + 2
    demand = demand_per_bin(trace.arrivals, trace.durations, dt, n_bins)
    floor: npt.NDArray[np.int64] | None = None
    if whole_tasks:
        running = compulsory_per_bin(trace.arrivals, trace.durations, slo_s, dt, n_bins)
        floor = -(-running // slots)
    workers = np.zeros(n_bins)
    total = 0.0
    launches = 0.0
    # Split at idle gaps where holding a worker can never pay off.
    min_gap = math.ceil((startup_s + slo_s) / dt) + 2
    busy = np.flatnonzero(demand > 1e-12)
    if len(busy):
        starts = [int(busy[0])]
        ends: list[int] = []
        for prev, cur in pairwise(busy):
            if cur - prev > min_gap:
                ends.append(int(prev))
                starts.append(int(cur))
        ends.append(int(busy[-1]))
        for s, e in zip(starts, ends, strict=True):
            seg_end = min(n_bins, e + k_bins + 1)
            seg_floor = None if floor is None else floor[s:seg_end]
            r, ws, ln = _solve_segment(
                demand[s:seg_end], slots, dt, startup_s, k_bins, q_step, seg_floor
            )
            if whole_tasks:
                mine = (trace.arrivals >= s * dt) & (trace.arrivals < seg_end * dt)
                ws = max(ws, float(trace.durations[mine].max(initial=0.0)) + startup_s)
            workers[s:seg_end] = r
            total += ws
            launches += ln
    return OracleResult(
        worker_seconds=total,
        launches=launches,
        t=np.arange(n_bins, dtype=np.float64) * dt,
        workers=workers,
        demand=demand,
    )
