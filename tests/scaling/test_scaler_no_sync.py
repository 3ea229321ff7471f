"""Table-driven tests of Temporal's ``no-sync`` algorithm as ported in workerplane.

Expected values follow ``no_sync_match.go`` (temporalio/temporal-auto-scaled-workers): strict
``backlog > threshold``, shared cooloff timer, lifetime refresh inside the cooloff, dispatch-rate
epsilon suppression, and at most one worker per poll.
"""

from __future__ import annotations

from typing import Any

import pytest
from scaler_helpers import m, q, summary

from workerplane.scaling.no_sync import NoSyncDetails, NoSyncScaler, NoSyncState
from workerplane.scaling.registry import ScalerConfigError, build_scaler, validate_details
from workerplane.scaling.types import GroupMetrics, Hold, StartWorkers, Strategy


def scaler(**details: Any) -> NoSyncScaler:
    return NoSyncScaler(NoSyncDetails.model_validate(details))


# ---------------------------------------------------------------------------------------------
# Details: defaults and validation
# ---------------------------------------------------------------------------------------------


def test_defaults_are_temporals() -> None:
    d = NoSyncDetails()
    assert d.model_dump() == {
        "scale_up_cooloff_ms": 100,
        "scale_up_backlog_threshold": 0,
        "max_worker_lifetime_ms": 600_000,
        "scale_up_dispatch_rate_epsilon": 0.0,
        "metrics_poll_interval_ms": 60_000,
    }
    assert scaler().poll_interval_s == 60.0


@pytest.mark.parametrize(
    ("details", "field", "message"),
    [
        ({"scale_up_cooloff": 5}, "scale_up_cooloff", 'unknown config key "scale_up_cooloff"'),
        ({"min_count": 1}, "min_count", "for no-sync scaling algorithm"),
        ({"scale_up_cooloff_ms": True}, "scale_up_cooloff_ms", "must be an integer and at least 0"),
        ({"scale_up_cooloff_ms": "soon"}, "scale_up_cooloff_ms", "must be an integer"),
        ({"scale_up_cooloff_ms": [1]}, "scale_up_cooloff_ms", "must be an integer"),
        ({"scale_up_cooloff_ms": 1.5}, "scale_up_cooloff_ms", "must be an integer"),
        ({"scale_up_cooloff_ms": -1}, "scale_up_cooloff_ms", "must be at least 0"),
        ({"scale_up_backlog_threshold": -5}, "scale_up_backlog_threshold", "at least 0"),
        ({"max_worker_lifetime_ms": -1}, "max_worker_lifetime_ms", "must be at least 0"),
        (
            {"scale_up_dispatch_rate_epsilon": -0.1},
            "scale_up_dispatch_rate_epsilon",
            "must be at least 0",
        ),
        (
            {"scale_up_dispatch_rate_epsilon": "x"},
            "scale_up_dispatch_rate_epsilon",
            "must be a number",
        ),
        (
            {"scale_up_dispatch_rate_epsilon": float("nan")},
            "scale_up_dispatch_rate_epsilon",
            "must be a real float",
        ),
        (
            {"metrics_poll_interval_ms": 9_999},
            "metrics_poll_interval_ms",
            "metrics_poll_interval_ms must be at least 10000",
        ),
        (
            {"scale_up_cooloff_ms": 20_000, "metrics_poll_interval_ms": 10_000},
            "",
            "metrics_poll_interval_ms (10000) must be >= scale_up_cooloff_ms (20000), "
            "otherwise metric-driven scale-ups will never fire",
        ),
    ],
)
def test_invalid_details_name_the_field_and_rule(
    details: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ScalerConfigError) as err:
        validate_details("no-sync", details)
    fields = [f for f, _ in err.value.problems]
    assert field in fields
    assert any(message in msg for _, msg in err.value.problems), err.value.problems


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        # JSON numbers arrive as float64 in Temporal; numeric strings are read too.
        ({"scale_up_cooloff_ms": 250.0}, {"scale_up_cooloff_ms": 250}),
        ({"scale_up_cooloff_ms": "250"}, {"scale_up_cooloff_ms": 250}),
        ({"scale_up_dispatch_rate_epsilon": 1}, {"scale_up_dispatch_rate_epsilon": 1.0}),
        ({"scale_up_dispatch_rate_epsilon": "0.5"}, {"scale_up_dispatch_rate_epsilon": 0.5}),
        # null means "use the default", as in Temporal.
        ({"scale_up_cooloff_ms": None}, {"scale_up_cooloff_ms": 100}),
        # A zero cooloff disables the poll-interval rule.
        ({"scale_up_cooloff_ms": 0, "metrics_poll_interval_ms": 10_000}, {}),
        ({"scale_up_cooloff_ms": 10_000, "metrics_poll_interval_ms": 10_000}, {}),
    ],
)
def test_valid_details(details: dict[str, Any], expected: dict[str, Any]) -> None:
    model = validate_details("no-sync", details)
    dumped = model.model_dump()
    for key, value in expected.items():
        assert dumped[key] == value


def test_details_are_frozen() -> None:
    d = NoSyncDetails()
    with pytest.raises(ValueError):
        d.scale_up_cooloff_ms = 5  # type: ignore[misc]


def test_worker_set_strategy_is_rejected() -> None:
    with pytest.raises(ScalerConfigError, match="does not support the worker-set"):
        build_scaler("no-sync", {}, Strategy.WORKER_SET)
    assert isinstance(build_scaler("no-sync", {}, Strategy.INVOKE), NoSyncScaler)


# ---------------------------------------------------------------------------------------------
# Decisions: (details, state, metrics, now) -> expected
# ---------------------------------------------------------------------------------------------

NEVER = NoSyncState()


def at(ms: int, **rates: float) -> NoSyncState:
    """State whose last scale-up was at ``ms``, with previous dispatch rates per type."""
    return NoSyncState(last_scale_up_ms=ms, last_dispatch_rate=tuple(rates.items()))


DECISIONS: list[tuple[str, dict[str, Any], NoSyncState, GroupMetrics | None, float, Any]] = [
    ("empty queue", {}, NEVER, m(0), 10.0, ("hold", None)),
    ("one task, never scaled", {}, NEVER, m(1), 10.0, ("start", 1)),
    ("huge backlog still starts one", {}, NEVER, m(10_000), 10.0, ("start", 1)),
    ("pollers do not matter", {}, NEVER, m(3, pollers=0, running=0), 10.0, ("start", 1)),
    ("threshold is strict: equal holds", {"scale_up_backlog_threshold": 5}, at(500), m(5), 1.0,
     ("hold", None)),
    # Temporal's "never" is timestamp 0, so the lifetime refresh fires on the first poll with
    # any backlog, even below the threshold.
    ("never scaled: lifetime refresh below threshold", {"scale_up_backlog_threshold": 5}, NEVER,
     m(5), 1.0, ("start", 1)),
    ("threshold exceeded", {"scale_up_backlog_threshold": 5}, NEVER, m(6), 1.0, ("start", 1)),
    ("inside cooloff (50ms)", {}, at(1_000), m(4), 1.05, ("hold", None)),
    ("cooloff elapsed exactly (100ms)", {}, at(1_000), m(4), 1.1, ("start", 1)),
    ("float clock does not lose the boundary", {}, at(200), m(4), 0.3, ("start", 1)),
    ("zero cooloff", {"scale_up_cooloff_ms": 0}, at(1_000), m(4), 1.0, ("start", 1)),
    # Lifetime refresh: fires inside a long cooloff once the lifetime has passed, with any backlog.
    ("lifetime refresh inside cooloff",
     {"scale_up_cooloff_ms": 80_000, "metrics_poll_interval_ms": 100_000,
      "max_worker_lifetime_ms": 60_000}, at(0), m(1), 61.0, ("start", 1)),
    ("lifetime not reached, cooloff active",
     {"scale_up_cooloff_ms": 80_000, "metrics_poll_interval_ms": 100_000,
      "max_worker_lifetime_ms": 60_000}, at(0), m(1), 59.0, ("hold", None)),
    ("lifetime refresh below threshold",
     {"scale_up_backlog_threshold": 10, "max_worker_lifetime_ms": 60_000}, at(0), m(1), 60.0,
     ("start", 1)),
    ("lifetime refresh needs backlog",
     {"max_worker_lifetime_ms": 60_000}, at(0), m(0), 600.0, ("hold", None)),
    ("lifetime refresh disabled",
     {"scale_up_backlog_threshold": 10, "max_worker_lifetime_ms": 0}, at(0), m(1), 6_000.0,
     ("hold", None)),
    # Dispatch-rate epsilon.
    ("epsilon: rate flat -> suppressed", {"scale_up_dispatch_rate_epsilon": 0.5},
     at(0, ALL=2.0), m(9, dispatch=2.3), 10.0, ("hold", None)),
    ("epsilon: rate moved -> start", {"scale_up_dispatch_rate_epsilon": 0.5},
     at(0, ALL=2.0), m(9, dispatch=3.0), 10.0, ("start", 1)),
    ("epsilon: first poll never suppressed", {"scale_up_dispatch_rate_epsilon": 0.5},
     NEVER, m(9, dispatch=0.0), 10.0, ("start", 1)),
    ("epsilon disabled: flat rate still starts", {}, at(0, ALL=2.0), m(9, dispatch=2.0), 10.0,
     ("start", 1)),
    # Several queue types: still one worker per poll.
    ("two types with backlog -> one worker", {}, NEVER,
     m(by_type={"WORKFLOW": q(3), "ACTIVITY": q(7)}), 10.0, ("start", 1)),
    ("only activity has backlog", {}, NEVER,
     m(by_type={"WORKFLOW": q(0), "ACTIVITY": q(2)}), 10.0, ("start", 1)),
    ("epsilon per type: activity suppressed, workflow moved",
     {"scale_up_dispatch_rate_epsilon": 0.5}, at(0, WORKFLOW=1.0, ACTIVITY=4.0),
     m(by_type={"WORKFLOW": q(2, dispatch=3.0), "ACTIVITY": q(2, dispatch=4.0)}), 10.0,
     ("start", 1)),
    ("epsilon per type: both flat",
     {"scale_up_dispatch_rate_epsilon": 0.5}, at(0, WORKFLOW=1.0, ACTIVITY=4.0),
     m(by_type={"WORKFLOW": q(2, dispatch=1.0), "ACTIVITY": q(2, dispatch=4.0)}), 10.0,
     ("hold", None)),
    ("metrics unreadable", {}, NEVER, None, 10.0, ("hold", None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("details", "state", "metrics", "now", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in DECISIONS],
)
def test_decision_table(
    details: dict[str, Any],
    state: NoSyncState,
    metrics: GroupMetrics | None,
    now: float,
    expected: tuple[str, int | None],
) -> None:
    new_state, decision = scaler(**details).decide(state, metrics, now)
    assert summary(decision) == expected, decision.reason
    assert decision.reason
    if isinstance(decision, StartWorkers):
        assert new_state.last_scale_up_ms == round(now * 1000)
    else:
        assert new_state.last_scale_up_ms == state.last_scale_up_ms


def test_state_records_rates_per_type_and_metrics_none_keeps_state() -> None:
    s = scaler()
    state, _ = s.decide(
        NEVER, m(by_type={"WORKFLOW": q(0, dispatch=1.5), "ACTIVITY": q(0, dispatch=2.5)}), 1.0
    )
    assert state.previous_rate("WORKFLOW") == 1.5
    assert state.previous_rate("ACTIVITY") == 2.5
    same, decision = s.decide(state, None, 2.0)
    assert same is state
    assert isinstance(decision, Hold)
    assert "metrics unavailable" in decision.reason


def test_reason_states_inputs() -> None:
    _, decision = scaler(scale_up_backlog_threshold=3).decide(NEVER, m(120, dispatch=2.0), 5.0)
    assert isinstance(decision, StartWorkers)
    assert "backlog=120" in decision.reason
    assert "threshold 3" in decision.reason
    assert "start 1 worker" in decision.reason


def test_sustained_backlog_one_worker_per_poll() -> None:
    """A backlog of 500 across 10 polls adds 10 workers: one per trigger, never more."""
    s = scaler(metrics_poll_interval_ms=10_000)
    state = s.initial_state(0.0)
    started = 0
    for i in range(10):
        state, decision = s.decide(state, m(500, running=started), 10.0 * i)
        assert isinstance(decision, StartWorkers)
        assert decision.count == 1
        started += decision.count
    assert started == 10


@pytest.mark.parametrize(
    ("state", "now", "sync_match", "since_last", "expected"),
    [
        (NEVER, 1.0, False, 0, ("start", 1)),
        (NEVER, 1.0, True, 0, ("hold", None)),
        (NEVER, 1.0, True, 3, ("start", 1)),  # batched no-sync signals
        (at(1_000), 1.05, False, 0, ("hold", None)),  # cooloff
        (at(1_000), 1.1, False, 0, ("start", 1)),
    ],
)
def test_task_added_path(
    state: NoSyncState, now: float, sync_match: bool, since_last: int, expected: Any
) -> None:
    _, decision = scaler().task_added(
        state, now, sync_match=sync_match, no_sync_since_last=since_last
    )
    assert summary(decision) == expected
