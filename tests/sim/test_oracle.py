"""The oracle: exact on small cases (checked against scipy's MILP solver) and a lower bound."""

from __future__ import annotations

import numpy as np
import pytest

from tests.sim.sim_support import make_trace
from workerplane.sim import oracle as oracle_module
from workerplane.sim.distributions import Distribution
from workerplane.sim.models import WorkerModel
from workerplane.sim.oracle import (
    _solve_segment,
    _solve_segment_milp,
    compulsory_per_bin,
    demand_per_bin,
    oracle,
    whole_task_oracle,
)
from workerplane.sim.policies import builtin_policies
from workerplane.sim.synthetic import bimodal, bursts


@pytest.mark.parametrize("seed", range(6))
def test_dynamic_program_matches_the_milp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    arrivals = np.sort(rng.uniform(0, 30, n))
    durations = rng.uniform(0.2, 6, n)
    demand = demand_per_bin(arrivals, durations, 1.0, 45)
    _, ws, _ = _solve_segment(demand, 2, 1.0, 2.0, 5, 1e-3)
    _, bound, _ = _solve_segment_milp(demand, 2, 1.0, 2.0, 5)
    assert ws == pytest.approx(bound, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_the_milp_takes_over_with_the_same_answer_when_the_fronts_outgrow_their_budget(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(seed)
    arrivals = np.sort(rng.uniform(0, 40, 30))
    durations = np.where(rng.uniform(0, 1, 30) < 0.3, 20.0, rng.uniform(0.2, 3.0, 30))
    trace = make_trace(list(arrivals), list(durations), horizon=50.0)
    exact = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=5.0)
    monkeypatch.setattr(oracle_module, "MAX_STATES", 2)
    handed_over = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=5.0)
    assert handed_over.worker_seconds == pytest.approx(exact.worker_seconds, abs=1e-6)


def test_a_storm_of_minute_long_tasks_is_solved_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """300 sixty-second tasks within 2 s, at a 30 s SLO: the exact fronts grow to millions of
    states (this once took 24 GB); the oracle hands the storm to the MILP solver instead."""
    rng = np.random.default_rng(5)
    arrivals = np.sort(rng.uniform(10, 12, 300))
    durations = rng.lognormal(np.log(60.0), 0.5, 300)
    trace = make_trace(list(arrivals), list(durations), horizon=200.0)
    handed_over: list[int] = []

    def solve_by_milp(demand: np.ndarray, *args: object) -> tuple[np.ndarray, float, float]:
        handed_over.append(len(demand))
        return _solve_segment_milp(demand, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(oracle_module, "_solve_segment_milp", solve_by_milp)
    whole = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=30.0).worker_seconds
    assert handed_over
    # Every slot of every worker busy from its start: the least any schedule of these tasks costs.
    assert float(durations.sum()) / 4 <= whole <= float(np.sum(durations + 2.0))


def test_demand_integrates_to_the_total_work() -> None:
    arrivals = np.array([0.3, 0.5, 7.25])
    durations = np.array([1.0, 2.5, 0.1])
    d = demand_per_bin(arrivals, durations, 1.0, 12)
    assert d.sum() == pytest.approx(3.6)
    assert d[0] == pytest.approx(0.7 + 0.5)


def test_single_task_costs_one_worker_for_its_duration_plus_startup() -> None:
    trace = make_trace([10.0], [3.0], horizon=30.0)
    o = oracle(trace, slots=4, startup_s=2.0, slo_s=5.0)
    # 3 slot-seconds fit in one 1-second bin of a 4-slot worker (fluid relaxation): 1 s + startup.
    assert o.worker_seconds == pytest.approx(1.0 + 2.0)
    assert o.launches == 1


def test_oracle_is_a_lower_bound_of_total_work_and_of_the_policies() -> None:
    trace = bursts(horizon_s=600.0)
    wm = WorkerModel(startup=Distribution.lognormal(2.0, 0.4), slots=4)
    o = oracle(trace, slots=4, startup_s=2.0, slo_s=5.0)
    assert o.worker_seconds >= trace.total_work_s / 4 - 1e-6
    for policy in builtin_policies(5.0):
        r = policy.run(trace, wm)
        assert r.worker_seconds >= o.worker_seconds, policy.name


def test_a_longer_slo_never_costs_more() -> None:
    rng = np.random.default_rng(3)
    arrivals = np.sort(rng.uniform(0, 120, 150))
    trace = make_trace(list(arrivals), list(rng.uniform(0.5, 4, 150)), horizon=130.0)
    costs = [oracle(trace, slots=4, startup_s=2.0, slo_s=s).worker_seconds for s in (1, 5, 10)]
    assert costs[0] >= costs[1] >= costs[2]


def test_one_long_task_costs_the_whole_task_oracle_its_duration_plus_startup() -> None:
    """Divisible work lets the oracle spread a 60 s task over slots and defer it in pieces; a
    whole task holds one slot of one worker for 60 s."""
    trace = make_trace([0.0], [60.0], horizon=100.0)
    divisible = oracle(trace, slots=4, startup_s=2.0, slo_s=5.0).worker_seconds
    whole = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=5.0).worker_seconds
    assert divisible < 60.0
    assert whole == pytest.approx(62.0)


def test_compulsory_parts_count_the_tasks_surely_running_over_each_whole_bin() -> None:
    # [0 + 2, 0 + 6) covers bins 2..5; [1.5 + 2, 1.5 + 3) is shorter than a bin: nothing.
    counts = compulsory_per_bin(np.array([0.0, 1.5]), np.array([6.0, 3.0]), 2.0, 1.0, 8)
    assert counts.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]


@pytest.mark.parametrize("seed", range(6))
def test_the_whole_task_oracle_lies_between_the_divisible_one_and_a_feasible_schedule(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    arrivals = np.sort(rng.uniform(0, 60, n))
    durations = np.where(rng.uniform(0, 1, n) < 0.2, 40.0, rng.uniform(0.2, 3.0, n))
    trace = make_trace(list(arrivals), list(durations), horizon=70.0)
    divisible = oracle(trace, slots=4, startup_s=2.0, slo_s=5.0).worker_seconds
    whole = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=5.0).worker_seconds
    # One worker per task, launched early enough, billed its startup and its task: feasible.
    one_each = float(np.sum(durations + 2.0))
    assert divisible - 1e-9 <= whole <= one_each + 1e-9


def test_the_whole_task_oracle_is_a_lower_bound_of_the_policies() -> None:
    trace = bimodal(horizon_s=300.0, rate=1.0)
    wm = WorkerModel(startup=Distribution.const(2.0), slots=4)
    whole = whole_task_oracle(trace, slots=4, startup_s=2.0, slo_s=5.0).worker_seconds
    for policy in builtin_policies(5.0):
        r = policy.run(trace, wm)
        assert r.worker_seconds >= whole, policy.name
