"""The simulator: determinism, conservation, graceful retirement, Temporal's stats semantics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.sim.sim_support import make_trace
from workerplane.scaling.types import Decision, GroupMetrics, Hold, SetSize, StartWorkers, Strategy
from workerplane.sim.distributions import Distribution
from workerplane.sim.engine import simulate
from workerplane.sim.models import ServerModel, WorkerModel
from workerplane.sim.policies import builtin_policies
from workerplane.sim.synthetic import bursts, longtail, steady


@dataclass
class Scripted:
    """A worker-set scaler that plays a fixed schedule of sizes and records what it saw."""

    schedule: list[tuple[float, int]]
    interval: float = 1.0
    strategy: Strategy = Strategy.WORKER_SET

    def __post_init__(self) -> None:
        self.seen: list[GroupMetrics] = []

    @property
    def poll_interval_s(self) -> float:
        return self.interval

    def initial_state(self, now: float) -> None:
        return None

    def decide(
        self, state: None, metrics: GroupMetrics | None, now: float
    ) -> tuple[None, Decision]:
        assert metrics is not None
        self.seen.append(metrics)
        size = None
        for t, s in self.schedule:
            if now >= t:
                size = s
        return None, Hold(reason="-") if size is None else SetSize(size=size, reason="script")


def short(name: str):  # a 10-minute slice of a built-in trace
    return {"steady": steady, "bursts": bursts, "longtail": longtail}[name](horizon_s=600.0)


@pytest.mark.parametrize("name", ["steady", "bursts", "longtail"])
def test_same_seed_gives_identical_results(name: str) -> None:
    trace = short(name)
    for policy in builtin_policies(5.0)[:4]:
        a = policy.run(trace, WorkerModel(), seed=7)
        b = policy.run(trace, WorkerModel(), seed=7)
        assert np.array_equal(a.waits, b.waits, equal_nan=True)
        assert a.worker_seconds == b.worker_seconds
        assert a.decisions == b.decisions
        assert np.array_equal(a.series_workers, b.series_workers)


def test_different_seed_changes_startup_delays() -> None:
    trace = short("bursts")
    policy = builtin_policies(5.0)[0]
    a = policy.run(trace, WorkerModel(), seed=1)
    b = policy.run(trace, WorkerModel(), seed=2)
    assert a.worker_seconds != b.worker_seconds


@pytest.mark.parametrize("name", ["steady", "bursts", "longtail"])
def test_every_arrived_task_completes_exactly_once(name: str) -> None:
    trace = short(name)
    for policy in builtin_policies(5.0):
        r = policy.run(trace, WorkerModel())
        assert np.all(r.completed == 1), policy.name
        assert not np.any(np.isnan(r.waits)), policy.name
        assert np.all(r.waits >= 0), policy.name


def test_a_retiring_worker_finishes_its_task_and_is_billed_until_then() -> None:
    """Scale to 0 while a 100 s task runs: the task still completes, the worker exits after it."""
    trace = make_trace([0.0], [100.0], horizon=200.0)
    scaler = Scripted([(0.0, 1), (10.0, 0)])
    r = simulate(trace, scaler, WorkerModel(startup=Distribution.const(2.0), slots=1))
    assert r.completed.tolist() == [1]
    assert r.waits[0] == pytest.approx(2.0)
    # Launched at 0, ready at 2, task ends at 102: billed 102 s although retired at 10 s.
    assert r.worker_seconds == pytest.approx(102.0)
    assert r.retiring_seconds == pytest.approx(92.0)


def test_a_slot_takes_the_next_task_after_its_turnaround() -> None:
    """One slot, two 1 s tasks at once: the second starts 1 s + turnaround after the first."""
    trace = make_trace([0.0, 0.0], [1.0, 1.0], horizon=20.0)
    model = WorkerModel(startup=Distribution.const(2.0), slots=1, slot_turnaround_s=0.25)
    r = simulate(trace, Scripted([(0.0, 1)]), model)
    assert r.waits.tolist() == pytest.approx([2.0, 3.25])
    assert r.completed.tolist() == [1, 1]


def test_invoke_workers_exit_when_idle_and_at_max_lifetime() -> None:
    @dataclass
    class StartOnce:
        strategy: Strategy = Strategy.INVOKE
        poll_interval_s: float = 1000.0

        def initial_state(self, now: float) -> None:
            return None

        def decide(
            self, state: None, metrics: GroupMetrics | None, now: float
        ) -> tuple[None, Decision]:
            return None, StartWorkers(count=2, reason="go") if now == 0 else Hold(reason="-")

    trace = make_trace([1.0], [3.0], horizon=100.0)
    r = simulate(
        trace, StartOnce(), WorkerModel(startup=Distribution.const(0.5), slots=1, idle_exit_s=10.0)
    )
    # One worker: ready 0.5, task 1-4, idle exit at 14. The other: idle from 0.5, exits at 10.5.
    assert r.worker_seconds == pytest.approx(14.0 + 10.5)
    r = simulate(
        trace,
        StartOnce(),
        WorkerModel(startup=Distribution.const(0.5), slots=1, max_lifetime_s=2.0),
    )
    # Lifetime 2 s: the busy worker stops polling at 2 and finishes its task at 4; the other
    # exits at 2.
    assert r.worker_seconds == pytest.approx(4.0 + 2.0)


def test_stats_are_cached_for_the_ttl_and_pollers_linger() -> None:
    trace = make_trace([0.5 + 0.1 * i for i in range(20)], [1.0] * 20, horizon=60.0)
    scaler = Scripted([(0.0, 0), (3.0, 2), (20.0, 0)], interval=1.0)
    simulate(
        trace,
        scaler,
        WorkerModel(startup=Distribution.const(1.0), slots=4),
        ServerModel(stats_ttl_s=5.0, poller_history_ttl_s=10.0, fresh_signal_delay_s=None),
    )
    backlog = [m.stats.backlog_count for m in scaler.seen]
    # Computed at t=0 (empty) and served from the cache until t=5, even though tasks arrived.
    assert backlog[:5] == [0, 0, 0, 0, 0]
    assert backlog[5] > 0 or scaler.seen[5].workers.in_flight
    # Census is fresh: in flight shows up at once, unlike the cached stats.
    assert any(m.workers.in_flight for m in scaler.seen[4:6])
    pollers = {round(m.observed_at): m.stats.pollers for m in scaler.seen}
    assert pollers[15] == 2  # polling
    assert pollers[25] == 2  # retired at 20, still listed (history TTL 10 s, refreshed at 25)
    assert pollers[35] == 0  # gone after the TTL
    add_rates = [m.stats.add_rate for m in scaler.seen]
    assert max(add_rates) < 20 / 2.0  # a count over the window, below the 10/s instantaneous rate


def test_a_group_at_zero_sees_a_task_through_the_fresh_hint_despite_the_cache() -> None:
    """As the real controller does: no worker polls and the cached stats show nothing, so the
    uncached backlog hint is read, and the task shows at the next tick instead of at t=5."""
    trace = make_trace([0.5], [1.0], horizon=30.0)
    scaler = Scripted([(0.0, 0)], interval=1.0)
    simulate(trace, scaler, WorkerModel(), ServerModel(stats_ttl_s=5.0))
    backlog = [(round(m.observed_at), m.stats.backlog_count) for m in scaler.seen]
    assert backlog[:3] == [(0, 0), (1, 1), (2, 1)]


def test_scaling_down_retires_the_worker_whose_tasks_end_first() -> None:
    """Two busy workers, one size less: the one whose task ends at 23 s goes, not the one that
    holds a 100 s task (retiring that one would bill it to 103 s and keep the other too)."""
    trace = make_trace([3.0, 3.0], [20.0, 100.0], horizon=200.0)
    scaler = Scripted([(0.0, 2), (10.0, 1)])
    r = simulate(trace, scaler, WorkerModel(startup=Distribution.const(2.0), slots=1))
    assert r.completed.tolist() == [1, 1]
    assert r.worker_seconds == pytest.approx(23.0 + 200.0)


def _overtaken(result, trace) -> int:  # tasks that started after a task that arrived later
    starts = trace.arrivals + result.waits
    return sum(int(np.any(starts[i + 1 :] < starts[i])) for i in range(trace.n_tasks))


def test_partitions_serve_out_of_order_and_lose_no_task() -> None:
    """Two one-slot workers behind a queue of 60 tasks: with one partition they start in order;
    with four, a poll waits on an empty partition while tasks wait on others, so new tasks
    overtake old ones, and waiting longer for forwarding leaves slots idle (a longer tail)."""
    arrivals = [0.2 * i for i in range(60)]
    trace = make_trace(arrivals, [1.0] * 60, 40.0)
    model = WorkerModel(startup=Distribution.const(0.5), slots=1)
    runs = {
        (partitions, delay): simulate(
            trace,
            Scripted([(0.0, 2)]),
            model,
            ServerModel(partitions=partitions, forward_interval_s=delay),
        )
        for partitions, delay in ((1, 0.1), (4, 0.1), (4, 2.0))
    }
    for result in runs.values():
        assert np.all(result.completed == 1)
    assert _overtaken(runs[1, 0.1], trace) == 0
    assert _overtaken(runs[4, 0.1], trace) > 0
    assert runs[4, 2.0].percentile(100) > runs[4, 0.1].percentile(100)
