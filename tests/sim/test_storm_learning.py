"""The yardsticks of a policy that learns as it goes on storm traces (tables on small runs, and
the lab's cron storms)."""

from __future__ import annotations

import numpy as np
import pytest

from workerplane.sim.distributions import Distribution
from workerplane.sim.oracle import whole_task_oracle
from workerplane.sim.storm_learning import learning_open_loop_cost, learning_storm_pools
from workerplane.sim.synthetic import cron_storm
from workerplane.sim.traces import Trace
from workerplane.sim.warm_pool import cheapest_storm_pools


def _trace(arrivals: list[float], durations: list[float]) -> Trace:
    return Trace("t", np.array(arrivals), np.array(durations), 100.0, "", actions=())


@pytest.mark.parametrize(
    ("max_workers", "pools", "worker_seconds", "first_waits"),
    [
        # The first storm: a slot for each task asked before their length shows (2 workers,
        # where one would do, knowing it); the second met as it lands, the third foreseen.
        (4, (2, 1, 1), 2 * (1.0 + 2.0) + (1.0 + 4.0) + (1.0 + 4.0), [1.0, 1.0, 1.0, 1.0]),
        (1, (1, 1, 1), 3 * (1.0 + 4.0), [1.0, 1.0, 3.0, 3.0]),  # capped at one worker
    ],
)
def test_a_policy_learning_as_it_goes_gives_the_first_storm_a_slot_per_task(
    max_workers: int, pools: tuple[int, ...], worker_seconds: float, first_waits: list[float]
) -> None:
    """Three storms of four 2 s tasks, 2-slot workers starting in 1 s, a 3 s SLO. Each storm
    alone is met by one worker (two tasks wait for the first two to end). The first storm's
    tasks show their length 3 s after it lands, and each must be asked for within 2 s: blind,
    each gets a slot of its own."""
    trace = _trace([10.0] * 4 + [40.0] * 4 + [70.0] * 4, [2.0] * 12)
    got = learning_storm_pools(trace, slots=2, startup_s=1.0, slo_s=3.0, max_workers=max_workers)
    assert got.workers == pools
    assert got.worker_seconds == pytest.approx(worker_seconds)
    reacting, foreseen = [1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]
    assert got.waits.tolist() == pytest.approx([*first_waits, *reacting, *foreseen])


def test_learning_as_it_goes_with_exact_startups_costs_what_the_ideal_pools_do() -> None:
    """Priced with startups drawn from a constant, the reacting storms and the warm-up timed
    without each worker's startup are the ideal pools (the warm-up asked one startup ahead)."""
    trace = _trace([10.0] * 4 + [40.0] * 4 + [70.0] * 4, [2.0] * 12)
    kwargs = {"slots": 2, "slo_s": 3.0, "max_workers": 4}
    ideal = learning_storm_pools(trace, startup_s=1.0, **kwargs)
    priced = learning_open_loop_cost(trace, startup=Distribution.const(1.0), **kwargs)
    assert priced == pytest.approx(ideal.worker_seconds)


def test_cron_storms_at_5s_are_within_budget_only_for_an_ideal_policy_learning_as_it_goes() -> None:
    """No foresight: the first two storms met as they land, the first before its tasks show
    their length (57 workers where 39 would do, knowing it), the last two ideally warmed. At
    5 s that costs 1.24x the whole-task oracle, with exact startups and sizes and every worker
    retired at its last task: the lab's 1.25x budget leaves `slo` no room. At 2 s it is 1.45x,
    out of reach (docs/policy-lab.md)."""
    trace = cron_storm()
    kwargs = {"slots": 4, "startup_s": 2.0}
    for slo_s, over in ((2.0, True), (5.0, False)):
        oracle = whole_task_oracle(trace, slo_s=slo_s, **kwargs).worker_seconds
        got = learning_storm_pools(trace, slo_s=slo_s, max_workers=100, **kwargs)
        reacting = cheapest_storm_pools(trace, slo_s=slo_s, reactive=True, **kwargs)
        assert got.p95_s <= slo_s and got.workers[0] > reacting.workers[0]
        assert (got.worker_seconds / oracle > 1.25) is over
