"""Table-driven tests of Temporal's ``rate-based`` algorithm as ported in workerplane.

Expected values are worked out by hand from ``rate_based.go`` (temporalio/temporal-auto-scaled-
workers): EWMA seeding, capacity sampling above the material backlog, square-root staffing, step
limits, cooldowns and the no-sync quiet period.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scaler_helpers import m, q, run, summary

from workerplane.scaling.rate_based import RateBasedDetails, RateBasedScaler, RateBasedState
from workerplane.scaling.registry import ScalerConfigError, build_scaler, validate_details
from workerplane.scaling.types import GroupMetrics, Hold, SetSize, Strategy


def scaler(**details: Any) -> RateBasedScaler:
    return RateBasedScaler(RateBasedDetails.model_validate(details))


# ---------------------------------------------------------------------------------------------
# Details
# ---------------------------------------------------------------------------------------------


def test_defaults_are_temporals() -> None:
    assert RateBasedDetails().model_dump() == {
        "min_count": 0,
        "max_count": 30,
        "initial_count": 0,
        "metrics_poll_interval_ms": 60_000,
        "ewma_alpha": 0.45,
        "initial_per_consumer_capacity": 2.0,
        "target_backlog_drain_rate": 2.0,
        "material_backlog_threshold": 50,
        "utilization_target": 0.8,
        "halfin_whitt_beta": 0.5,
        "max_scale_up_step": 4,
        "scale_up_cooldown_ms": 2_000,
        "scale_down_cooldown_ms": 60_000,
        "no_sync_quiet_ms": 90_000,
    }
    assert scaler().poll_interval_s == 60.0


@pytest.mark.parametrize(
    ("details", "field", "message"),
    [
        ({"max_workers": 3}, "max_workers", 'unknown config key "max_workers" for rate-based'),
        ({"min_count": -1}, "min_count", "min_count must be at least 0"),
        ({"max_count": 0}, "max_count", "max_count must be at least 1"),
        ({"max_count": "many"}, "max_count", "max_count must be an integer and at least 1"),
        ({"max_count": 2**31}, "max_count", "must not exceed math.MaxInt32 (2147483647)"),
        ({"metrics_poll_interval_ms": 29_999}, "metrics_poll_interval_ms", "at least 30000"),
        ({"material_backlog_threshold": 0}, "material_backlog_threshold", "at least 1"),
        ({"max_scale_up_step": 0}, "max_scale_up_step", "at least 1"),
        ({"ewma_alpha": -0.1}, "ewma_alpha", "ewma_alpha must be at least 0"),
        ({"ewma_alpha": False}, "ewma_alpha", "must be a number"),
        ({"halfin_whitt_beta": {"x": 1}}, "halfin_whitt_beta", "must be a number"),
        ({"scale_down_cooldown_ms": -1}, "scale_down_cooldown_ms", "at least 0"),
        ({"min_count": 5, "max_count": 4, "initial_count": 4}, "",
         "min_count (5) must not exceed max_count (4)"),
        ({"min_count": 2, "initial_count": 1}, "",
         "initial_count (1) must be between min_count (2) and max_count (30)"),
        ({"initial_count": 31}, "", "initial_count (31) must be between min_count (0)"),
        ({"ewma_alpha": 0}, "", "ewma_alpha (0) must be a finite number in (0, 1]"),
        ({"ewma_alpha": 1.5}, "", "ewma_alpha (1.5) must be a finite number in (0, 1]"),
        ({"initial_per_consumer_capacity": 0}, "",
         "initial_per_consumer_capacity (0) must be a positive finite number"),
        ({"utilization_target": 1.01}, "", "utilization_target (1.01) must be a finite number"),
        ({"scale_up_cooldown_ms": 60_001}, "",
         "metrics_poll_interval_ms (60000) must be >= scale_up_cooldown_ms (60001)"),
        ({"scale_down_cooldown_ms": 90_000}, "",
         "metrics_poll_interval_ms (60000) must be >= scale_down_cooldown_ms (90000), otherwise "
         "the scale-down cooldown blocks every poll"),
    ],
)  # fmt: skip
def test_invalid_details_name_the_field_and_rule(
    details: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ScalerConfigError) as err:
        validate_details("rate-based", details)
    assert field in [f for f, _ in err.value.problems]
    assert any(message in msg for _, msg in err.value.problems), err.value.problems


@pytest.mark.parametrize(
    "details",
    [
        {"min_count": 2, "max_count": 2, "initial_count": 2},
        {"ewma_alpha": 1, "utilization_target": 1.0},
        {
            "scale_up_cooldown_ms": 0,
            "scale_down_cooldown_ms": 0,
            "metrics_poll_interval_ms": 30_000,
        },
        {"max_count": "12", "min_count": 1.0, "initial_count": 3},
        {"target_backlog_drain_rate": 0, "halfin_whitt_beta": 0},
    ],
)
def test_valid_details(details: dict[str, Any]) -> None:
    validate_details("rate-based", details)


def test_invoke_strategy_is_rejected() -> None:
    with pytest.raises(ScalerConfigError, match="does not support the invoke"):
        build_scaler("rate-based", {}, Strategy.INVOKE)
    assert isinstance(build_scaler("rate-based", {}, Strategy.WORKER_SET), RateBasedScaler)


# ---------------------------------------------------------------------------------------------
# Sizing: desired = clamp(max(ceil(load/util), ceil(load + beta*sqrt(load))))
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "ewma_arrival", "capacity", "backlog", "required", "load", "util", "hw", "desired"),
    [
        # Idle: nothing required, desired = min_count.
        ({}, 0.0, None, 0, 0.0, 0.0, 0, 0, 0),
        ({"min_count": 3, "initial_count": 3}, 0.0, None, 0, 0.0, 0.0, 0, 0, 3),
        # Backlog alone adds the drain rate: 2/s over 2/s/worker = load 1 -> max(2, 2) = 2.
        ({}, 0.0, None, 1, 2.0, 1.0, 2, 2, 2),
        # Arrival 10/s + drain 2/s at 2/s/worker: load 6 -> util 8, halfin-whitt ceil(7.22)=8.
        ({}, 10.0, None, 5, 12.0, 6.0, 8, 8, 8),
        # Learned capacity 5/s/worker, arrival 50/s, no backlog: load 10 -> 13 vs ceil(11.58)=12.
        ({}, 50.0, 5.0, 0, 50.0, 10.0, 13, 12, 13),
        # Halfin-Whitt wins with a loose utilization target: load 4 -> util 4, hw ceil(4+2*2)=8.
        ({"utilization_target": 1.0, "halfin_whitt_beta": 2.0}, 8.0, None, 0, 8.0, 4.0, 4, 8, 8),
        # Clamped to max_count.
        ({"max_count": 5}, 100.0, None, 0, 100.0, 50.0, 63, 54, 5),
        # Zero drain rate ignores the backlog entirely.
        ({"target_backlog_drain_rate": 0}, 0.0, None, 500, 0.0, 0.0, 0, 0, 0),
    ],
)
def test_sizing_table(
    details: dict[str, Any],
    ewma_arrival: float,
    capacity: float | None,
    backlog: int,
    required: float,
    load: float,
    util: int,
    hw: int,
    desired: int,
) -> None:
    state = RateBasedState(ewma_arrival_rate=ewma_arrival, ewma_per_consumer_capacity=capacity)
    z = scaler(**details).sizing(state, backlog)
    assert z.required_rate == pytest.approx(required)
    assert z.offered_load == pytest.approx(load)
    assert (z.utilization_desired, z.halfin_whitt_desired, z.desired) == (util, hw, desired)


# ---------------------------------------------------------------------------------------------
# Decisions: (details, state, metrics, now) -> expected
# ---------------------------------------------------------------------------------------------

S0 = RateBasedState()


def st(count: int, **kw: Any) -> RateBasedState:
    return RateBasedState(worker_count=count, **kw)


DECISIONS: list[tuple[str, dict[str, Any], RateBasedState, GroupMetrics | None, float, Any]] = [
    ("idle at zero", {}, S0, m(0), 100.0, ("hold", None)),
    ("backlog at zero -> 2 (drain rate only)", {}, S0, m(10), 100.0, ("size", 2)),
    # add 40/s seeds the EWMA: load (40+2)/2 = 21 -> 27 desired, stepped by 4.
    ("burst: step limited to 4", {}, S0, m(100, add=40.0), 100.0, ("size", 4)),
    ("burst: custom step", {"max_scale_up_step": 10}, S0, m(100, add=40.0), 100.0, ("size", 10)),
    ("burst: step from 4 -> 8", {}, st(4, last_scale_up_ms=40_000), m(100, add=40.0), 100.0,
     ("size", 8)),
    ("scale-up cooldown (1s < 2s)", {}, st(4, last_scale_up_ms=99_000), m(100, add=40.0), 100.0,
     ("hold", None)),
    ("scale-up cooldown elapsed exactly", {}, st(4, last_scale_up_ms=98_000),
     m(100, add=40.0), 100.0, ("size", 8)),
    ("at max_count", {"max_count": 4, "initial_count": 4}, st(4), m(100, add=40.0), 100.0,
     ("hold", None)),
    ("step capped by max_count", {"max_count": 6}, st(4), m(100, add=40.0), 100.0, ("size", 6)),
    # Idle sample: EWMAs snap to 0, desired 0 -> down by exactly 1.
    ("idle: down by one", {}, st(5), m(0), 100.0, ("size", 4)),
    ("idle: down never below min", {"min_count": 4, "initial_count": 4}, st(4), m(0), 100.0,
     ("hold", None)),
    ("scale-down cooldown (30s < 60s)", {}, st(5, last_scale_down_ms=70_000), m(0), 100.0,
     ("hold", None)),
    ("scale-down cooldown elapsed", {}, st(5, last_scale_down_ms=40_000), m(0), 100.0,
     ("size", 4)),
    ("no-sync quiet: tasks waited 30s ago", {}, st(5, last_no_sync_match_ms=70_000), m(0), 100.0,
     ("hold", None)),
    ("no-sync quiet elapsed", {}, st(5, last_no_sync_match_ms=10_000), m(0), 100.0,
     ("size", 4)),
    # Waiting tasks are the no-sync signal: desired 2 < 10 but scale-down is blocked.
    ("waiting tasks block scale-down", {}, st(10), m(1), 100.0, ("hold", None)),
    ("no quiet period configured", {"no_sync_quiet_ms": 0}, st(10), m(1), 100.0, ("size", 9)),
    ("initial_count is the starting plan", {"initial_count": 3}, S0, m(0), 100.0, ("size", 2)),
    ("unreadable metrics hold", {}, st(5), None, 100.0, ("hold", None)),
    ("all samples invalid hold", {}, st(5), m(by_type={"ACTIVITY": q(0, add=-1.0)}), 100.0,
     ("hold", None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("details", "state", "metrics", "now", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in DECISIONS],
)
def test_decision_table(
    details: dict[str, Any],
    state: RateBasedState,
    metrics: GroupMetrics | None,
    now: float,
    expected: tuple[str, int | None],
) -> None:
    s = scaler(**details)
    new_state, decision = s.decide(state, metrics, now)
    assert summary(decision) == expected, decision.reason
    assert decision.reason
    if isinstance(decision, SetSize):
        assert s.planned_count(new_state) == decision.size
        d = s.details
        assert d.min_count <= decision.size <= d.max_count
        before = s.planned_count(state)
        assert decision.size - before <= d.max_scale_up_step
        assert before - decision.size <= 1


def test_ewma_and_capacity_updates() -> None:
    s = scaler()
    # Seeding: the first sample becomes the average.
    state, _ = s.decide(S0, m(0, add=10.0, dispatch=6.0), 100.0)
    assert state.ewma_arrival_rate == 10.0
    assert state.ewma_dispatch_rate == 6.0
    assert state.ewma_per_consumer_capacity is None  # backlog 0 < 50: not sampled
    # Then alpha * sample + (1 - alpha) * previous.
    state, _ = s.decide(state, m(10, add=0.0, dispatch=0.0), 160.0)
    assert state.ewma_arrival_rate == pytest.approx(0.55 * 10.0)
    assert state.ewma_dispatch_rate == pytest.approx(0.55 * 6.0)
    # Material backlog with 4 planned workers dispatching 20/s: sample 5/s/worker.
    state, _ = s.decide(st(4), m(60, add=20.0, dispatch=20.0), 100.0)
    assert state.ewma_per_consumer_capacity == pytest.approx(0.45 * 5.0 + 0.55 * 2.0)
    # Below the material threshold the estimate is kept.
    state2, _ = s.decide(state, m(49, add=20.0, dispatch=40.0), 200.0)
    assert state2.ewma_per_consumer_capacity == state.ewma_per_consumer_capacity


def test_idle_sample_snaps_ewmas_to_zero() -> None:
    s = scaler()
    state = st(3, ewma_arrival_rate=7.0, ewma_dispatch_rate=7.0)
    new, _ = s.decide(state, m(0), 100.0)
    assert (new.ewma_arrival_rate, new.ewma_dispatch_rate) == (0.0, 0.0)
    # Not idle (a task arrives): no snap.
    new, _ = s.decide(state, m(0, add=0.5), 100.0)
    assert new.ewma_arrival_rate == pytest.approx(0.45 * 0.5 + 0.55 * 7.0)


def test_invalid_type_sample_is_dropped_others_used() -> None:
    s = scaler()
    metrics = m(by_type={"WORKFLOW": q(0, add=math.inf), "ACTIVITY": q(10, add=4.0)})
    new, decision = s.decide(S0, metrics, 100.0)
    assert new.ewma_arrival_rate == 4.0
    # (4 + 2) / 2 = 3 -> ceil(3.75) = 4 vs ceil(3 + 0.87) = 4
    assert summary(decision) == ("size", 4)


def test_burst_then_idle_trajectory() -> None:
    """Up in steps of at most 4 (2 s apart), then down by one per 60 s once quiet for 90 s."""
    s = scaler(metrics_poll_interval_ms=30_000, scale_down_cooldown_ms=30_000)
    busy = m(200, add=40.0, dispatch=8.0)
    steps: list[tuple[float, GroupMetrics | None]] = [(30.0 * i, busy) for i in range(1, 8)]
    steps += [(30.0 * i, m(0)) for i in range(8, 20)]
    _, decisions = run(s, steps)
    sizes = [summary(d) for d in decisions]
    up = [n for k, n in sizes[:7] if k == "size"]
    assert up == sorted(up)
    assert all(b - a <= 4 for a, b in zip([0, *up], up, strict=False))
    # No-sync quiet: the last waiting task was seen at t=210; the first scale-down is >= 90 s later.
    down_times = [steps[i][0] for i, (k, _) in enumerate(sizes) if i >= 7 and k == "size"]
    assert down_times and down_times[0] >= 210 + 90
    down = [n for k, n in sizes[7:] if k == "size"]
    assert all(a - b == 1 for a, b in zip([up[-1], *down], down, strict=False))


def test_task_added_path() -> None:
    s = scaler()
    state, decision = s.task_added(S0, 10.0, sync_match=False)
    assert summary(decision) == ("size", 1)
    assert state.last_no_sync_match_ms == 10_000
    state, decision = s.task_added(state, 11.0, sync_match=False)  # cooldown 2 s
    assert isinstance(decision, Hold)
    assert state.last_no_sync_match_ms == 11_000  # bumped even when throttled
    _, decision = s.task_added(state, 13.0, sync_match=True)
    assert isinstance(decision, Hold)
