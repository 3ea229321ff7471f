"""Anchor policies reproduce their documented behaviour on hand-made cases.

KEDA+HPA is a model (sim/anchors.py); no-sync and rate-based are the REAL implementations from
workerplane.scaling, driven by the simulator.
"""

from __future__ import annotations

import math
from itertools import pairwise

from tests.sim.sim_support import make_trace
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.types import (
    GroupMetrics,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)
from workerplane.sim.anchors import FixedReplicasScaler, KedaHpaConfig, KedaHpaScaler
from workerplane.sim.distributions import Distribution
from workerplane.sim.engine import simulate
from workerplane.sim.models import SimOptions, WorkerModel
from workerplane.sim.synthetic import spikes


def obs(backlog: int, t: float, running: int = 0) -> GroupMetrics:
    return GroupMetrics(
        stats=QueueStats(backlog_count=backlog),
        workers=WorkerCensus(running=running),
        observed_at=t,
    )


def drive(scaler: KedaHpaScaler, backlogs: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Feed a backlog schedule (time, backlog) tick by tick; return (time, replicas) after each."""
    state = scaler.initial_state(0.0)
    out = []
    for t, b in backlogs:
        state, _ = scaler.decide(state, obs(b, t), t)
        out.append((t, state.replicas))
    return out


def ticks(until: float, backlog_at) -> list[tuple[float, int]]:
    return [(15.0 * i, backlog_at(15.0 * i)) for i in range(int(until / 15.0) + 1)]


def test_keda_activates_only_on_its_polling_interval() -> None:
    scaler = KedaHpaScaler()
    # Backlog appears at t=15, between KEDA polls (0, 30): nothing happens until t=30.
    out = dict(drive(scaler, ticks(45, lambda t: 0 if t < 15 else 50)))
    assert out[15.0] == 0
    assert out[30.0] == 1
    # Then the HPA: ceil(50 / 5) = 10, limited to max(1 + 4, 2 * 1) = 5 per sync period.
    assert out[45.0] == 5


def test_hpa_does_not_scale_down_before_its_stabilization_window() -> None:
    scaler = KedaHpaScaler(KedaHpaConfig(cooldown_period_s=10_000))
    # 100 tasks waiting until t=300, then 10 (desired 2) for good.
    out = drive(scaler, ticks(1000, lambda t: 100 if t < 300 else 10))
    peak = max(r for _, r in out)
    assert peak == 20
    first_lower = min(t for t, r in out if t > 300 and r < peak)
    # The last recommendation of 20 was made at t=285: it stays in the window for 300 s.
    assert first_lower >= 285 + 300
    assert dict(out)[990.0] == 2


def test_keda_scales_to_zero_only_after_the_cooldown_period() -> None:
    scaler = KedaHpaScaler(KedaHpaConfig(scale_down_stabilization_s=0))
    out = dict(drive(scaler, ticks(900, lambda t: 20 if t < 60 else 0)))
    # Last active KEDA poll at t=30; cooldownPeriod 300 s -> zero at the first KEDA poll >= 330.
    assert out[315.0] >= 1
    assert out[330.0] == 0
    # While KEDA keeps replicas >= 1, the HPA's floor is 1 (empty backlog != idle).
    assert out[150.0] == 1


def test_hpa_tolerance_keeps_the_size_within_ten_percent() -> None:
    scaler = KedaHpaScaler(KedaHpaConfig(scale_down_stabilization_s=0))
    state = scaler.initial_state(0.0)
    state, _ = scaler.decide(state, obs(50, 0.0), 0.0)  # KEDA: 0 -> 1
    for t in (15.0, 30.0, 45.0):
        state, _ = scaler.decide(state, obs(50, t), t)
    assert state.replicas == 10
    state, _ = scaler.decide(state, obs(54, 60.0), 60.0)  # ratio 1.08: within tolerance
    assert state.replicas == 10
    state, _ = scaler.decide(state, obs(56, 75.0), 75.0)  # ratio 1.12: ceil(56/5) = 12
    assert state.replicas == 12


def test_keda_in_the_simulator_waits_out_the_stabilization_window() -> None:
    """Heavy load for 120 s, then a trickle: the HPA holds its peak size for 300 s."""
    heavy = [0.05 * i for i in range(2400)]  # 20/s until t=120
    light = [120.0 + 2.0 * i for i in range(300)]  # 0.5/s after
    trace = make_trace(heavy + light, [2.0] * 2700, horizon=720.0)
    r = simulate(trace, KedaHpaScaler(), WorkerModel())
    sizes = [(t, d.size) for t, d in r.decisions if isinstance(d, SetSize)]
    peak_t, peak = max(sizes, key=lambda x: (x[1], x[0]))
    downs = [(t, s) for t, s in sizes if t > peak_t and s < peak]
    assert downs, sizes
    # The peak was recommended at peak_t; it stays in the HPA's 300 s window (and KEDA's trigger
    # was active then), so no scale-down of any kind comes earlier.
    assert downs[0][0] >= peak_t + 300 - 1e-9
    # KEDA's known weakness: an empty backlog is taken as idle, so it scales to zero while the
    # trickle of tasks is still running.
    assert any(s == 0 for _, s in downs)


def test_fixed_replicas_hold_their_size() -> None:
    r = simulate(make_trace([1.0, 2.0], [1.0, 1.0], 30.0), FixedReplicasScaler(3), WorkerModel())
    assert {d.size for _, d in r.decisions if isinstance(d, SetSize)} == {3}


def test_no_sync_starts_at_most_one_worker_per_trigger() -> None:
    """300 tasks at once on an idle queue: the real no-sync starts one worker per trigger."""
    trace = make_trace([5.0 + 0.01 * i for i in range(300)], [2.0] * 300, horizon=300.0)
    scaler = build_scaler("no-sync", {"metrics_poll_interval_ms": 10_000}, Strategy.INVOKE)
    wm = WorkerModel(startup=Distribution.const(1.0), slots=4, max_lifetime_s=600.0)
    for signals in (False, True):
        r = simulate(trace, scaler, wm, options=SimOptions(signal_task_adds=signals))
        starts = [(t, d.count) for t, d in r.decisions if isinstance(d, StartWorkers)]
        assert starts and all(count == 1 for _, count in starts)
        if not signals:
            # Poll-driven only: one start per 10 s poll while the backlog lasts.
            times = [t for t, _ in starts]
            assert all(b - a >= 10.0 - 1e-9 for a, b in pairwise(times))
        else:
            # Task-add signals: one per no-sync-match add, but never two within the 100 ms cooloff.
            times = sorted(t for t, _ in starts)
            assert all(b - a >= 0.1 - 1e-9 for a, b in pairwise(times))
        assert r.unfinished == 0


def test_rate_based_steps_up_by_at_most_max_scale_up_step() -> None:
    trace = spikes(horizon_s=1200.0, n_spikes=2)
    details = {"max_count": 100, "max_scale_up_step": 3}
    scaler = build_scaler("rate-based", details, Strategy.WORKER_SET)
    r = simulate(trace, scaler, WorkerModel())
    size = 0
    grew = False
    for _, d in r.decisions:
        if isinstance(d, SetSize):
            if d.size > size:
                grew = True
                assert d.size - size <= 3, d.reason
            else:
                assert size - d.size <= 1, d.reason  # down by one at a time
            size = d.size
    assert grew
    assert not math.isnan(r.worker_seconds)
