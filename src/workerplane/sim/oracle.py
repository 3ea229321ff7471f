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
:func:`_solve_segment`; the unit tests check it against the MILP on small cases). A segment whose
fronts outgrow ``MAX_STATES`` (a storm of minute-long tasks: a hundred worker counts, each with
thousands of backlogs) is handed to scipy's MILP solver (HiGHS) instead, which reports its proven
bound, so memory stays bounded and the oracle stays a lower bound.
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

from workerplane.sim.oracle_milp import solve_segment_milp as _solve_segment_milp
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
    # Current states.
    s_r = np.zeros(1, dtype=np.int64)
    s_q = np.zeros(1)
    s_c = np.zeros(1)
    parents: list[npt.NDArray[np.int64]] = []
    rs: list[npt.NDArray[np.int64]] = []
    for t in range(n):
        # Each state may choose any r in [least, most] for this bin. Fewer than ``least`` would
        # leave work past its deadline. More workers than both the previous count and what clears
        # all waiting work are never better: launching the extra ones later costs the same and
        # saves their idle time.
        need = np.ceil((s_q + demand[t]) / cap - 1e-12).astype(np.int64)
        most = np.minimum(np.maximum(np.maximum(s_r, need), lowest[t]), r_max)
        late = np.ceil((s_q + demand[t] - window[t] - 1e-9) / cap - 1e-12).astype(np.int64)
        least = np.maximum(late, lowest[t])
        front = _EMPTY_FRONT
        for block in _blocks(np.maximum(most - least + 1, 0)):
            reached = _successors(
                s_r, s_q, s_c, least, most, block, demand[t], cap, dt, startup_s, window[t]
            )
            front = _pareto_fronts(
                np.concatenate([front[0], reached[0]]),
                np.concatenate([front[1], reached[1]]),
                np.concatenate([front[2], reached[2]]),
                np.concatenate([front[3], reached[3]]),
                q_step,
            )
            if len(front[0]) > MAX_STATES:
                raise _FrontsTooLarge
        r_new, par, q, cost = front
        s_r, s_q, s_c = r_new, q, cost
        parents.append(par)
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


#: The most (state, choice) pairs one bin expands at once; larger bins are expanded in blocks of
#: states so that memory stays bounded (a storm of minute-long tasks has fronts of thousands of
#: states, each with hundreds of choices).
MAX_PAIRS = 1 << 20


#: The most states one bin's fronts may hold. Beyond it (storms of minute-long tasks: a hundred
#: worker counts, each with a front of thousands of backlogs) the segment is handed to a MILP
#: solver instead, whose proven bound stays a lower bound.
MAX_STATES = 20_000

_EMPTY_FRONT: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray] = (
    np.zeros(0, dtype=np.int64),
    np.zeros(0, dtype=np.int64),
    np.zeros(0),
    np.zeros(0),
)


class _FrontsTooLarge(Exception):
    """The dynamic program's fronts outgrew ``MAX_STATES``."""


def _blocks(choices: npt.NDArray[np.int64]) -> list[npt.NDArray[np.int64]]:
    """Split the states into consecutive blocks of at most ``MAX_PAIRS`` (state, choice) pairs."""
    ends = np.cumsum(choices)
    blocks: list[npt.NDArray[np.int64]] = []
    first = 0
    while first < len(choices):
        base = ends[first - 1] if first else 0
        last = int(np.searchsorted(ends, base + MAX_PAIRS, side="right"))
        last = max(last, first + 1)
        blocks.append(np.arange(first, last, dtype=np.int64))
        first = last
    return blocks


def _successors(
    s_r: npt.NDArray[np.int64],
    s_q: FloatArray,
    s_c: FloatArray,
    least: npt.NDArray[np.int64],
    most: npt.NDArray[np.int64],
    block: npt.NDArray[np.int64],
    demand: float,
    cap: float,
    dt: float,
    startup_s: float,
    window: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Every feasible (r, parent, backlog, cost) reached from the states in ``block``."""
    counts = np.maximum(most[block] - least[block] + 1, 0)
    par = np.repeat(block, counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    r_new = least[par] + np.arange(len(par)) - offsets
    q = np.maximum(0.0, s_q[par] + demand - cap * r_new)
    cost = s_c[par] + dt * r_new + startup_s * np.maximum(0, r_new - s_r[par])
    ok = q <= window + 1e-9
    return r_new[ok], par[ok], q[ok], cost[ok]


def _pareto_fronts(
    r_new: npt.NDArray[np.int64],
    par: npt.NDArray[np.int64],
    q: FloatArray,
    cost: FloatArray,
    q_step: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Per ``r``, the states whose backlog is at least ``q_step`` below every cheaper state's."""
    order = np.lexsort((q, cost, r_new))
    r_new, par, q, cost = r_new[order], par[order], q[order], cost[order]
    keep = np.zeros(len(r_new), dtype=bool)
    starts = np.flatnonzero(np.concatenate([[True], r_new[1:] != r_new[:-1]]))
    for a, b in pairwise(np.append(starts, len(r_new))):
        qs = q[a:b]
        prev_min = np.minimum.accumulate(np.concatenate([[np.inf], qs[:-1]]))
        keep[a:b] = qs < prev_min - q_step
    return r_new[keep], par[keep], q[keep], cost[keep]


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
            try:
                r, ws, ln = _solve_segment(
                    demand[s:seg_end], slots, dt, startup_s, k_bins, q_step, seg_floor
                )
            except _FrontsTooLarge:
                r, ws, ln = _solve_segment_milp(
                    demand[s:seg_end], slots, dt, startup_s, k_bins, seg_floor
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
