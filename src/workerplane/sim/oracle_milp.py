"""The oracle's program (:mod:`workerplane.sim.oracle`) for scipy's MILP solver (HiGHS).

The oracle solves small segments exactly by dynamic programming; a segment whose fronts outgrow
its budget is solved here instead, and the solver's proven bound keeps the oracle a lower bound.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

FloatArray = npt.NDArray[np.float64]

#: Seconds the MILP solver may spend on one segment before its proven bound is taken.
MILP_TIME_LIMIT_S = 60.0


def solve_segment_milp(
    demand: FloatArray,
    slots: int,
    dt: float,
    startup_s: float,
    k_bins: int,
    floor: npt.NDArray[np.int64] | None = None,
) -> tuple[FloatArray, float, float]:
    """The oracle's segment program, given to HiGHS. Returns (r, bound, launches).

    The cost returned is the solver's proven lower bound (the optimum when it finishes within
    ``MILP_TIME_LIMIT_S``), so the oracle stays a lower bound either way; the plan is the best
    schedule it found.
    """
    n = len(demand)
    r_at, launch_at, served_at, backlog_at = 0, n, 2 * n, 3 * n
    rows = lil_matrix((3 * n, 4 * n))
    lower = np.zeros(3 * n)
    upper = np.zeros(3 * n)
    for t in range(n):
        capacity, balance, launches = 3 * t, 3 * t + 1, 3 * t + 2
        # served_t <= slots * dt * r_t
        rows[capacity, served_at + t], rows[capacity, r_at + t] = 1, -slots * dt
        lower[capacity] = -np.inf
        # q_t = q_{t-1} + D_t - served_t
        rows[balance, backlog_at + t], rows[balance, served_at + t] = 1, 1
        if t:
            rows[balance, backlog_at + t - 1] = -1
        lower[balance] = upper[balance] = demand[t]
        # l_t >= r_t - r_{t-1}
        rows[launches, launch_at + t], rows[launches, r_at + t] = 1, -1
        if t:
            rows[launches, r_at + t - 1] = 1
        upper[launches] = np.inf
    cost = np.zeros(4 * n)
    cost[r_at:launch_at] = dt
    cost[launch_at:served_at] = startup_s
    least = np.zeros(4 * n)
    if floor is not None:
        least[r_at:launch_at] = floor
    most = np.full(4 * n, np.inf)
    most[backlog_at:] = np.convolve(demand, np.ones(k_bins), mode="full")[:n]
    most[-1] = 0.0  # the segment ends with everything served
    integrality = np.zeros(4 * n)
    integrality[r_at:launch_at] = 1
    result = milp(
        cost,
        constraints=LinearConstraint(rows.tocsr(), lower, upper),
        integrality=integrality,
        bounds=Bounds(least, most),
        options={"time_limit": MILP_TIME_LIMIT_S},
    )
    bound = getattr(result, "mip_dual_bound", None)
    if result.x is None or bound is None:
        raise RuntimeError(f"the oracle's MILP found no schedule: {result.message}")
    plan = np.round(result.x[r_at:launch_at])
    launched = float(np.sum(np.maximum(np.diff(np.concatenate([[0.0], plan])), 0.0)))
    return plan, min(float(bound), float(result.fun)), launched
