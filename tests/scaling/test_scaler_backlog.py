"""Table-driven and property tests of workerplane's default ``backlog`` scaler."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scaler_helpers import m, run, summary

from workerplane.scaling.backlog import (
    STARTUP_WINDOW_MS,
    BacklogDetails,
    BacklogScaler,
    BacklogState,
)
from workerplane.scaling.registry import (
    ScalerConfigError,
    build_scaler,
    validate_details,
)
from workerplane.scaling.types import GroupMetrics, Hold, SetSize, StartWorkers, Strategy

INVOKE, WSET = Strategy.INVOKE, Strategy.WORKER_SET


def scaler(strategy: Strategy = WSET, **details: Any) -> BacklogScaler:
    return BacklogScaler(BacklogDetails.model_validate(details), strategy)


# ---------------------------------------------------------------------------------------------
# Details
# ---------------------------------------------------------------------------------------------


def test_defaults() -> None:
    assert BacklogDetails().model_dump() == {
        "min_count": 0,
        "max_count": 10,
        "target_per_worker": 10.0,
        "scale_down_cooldown_ms": 10_000,
        "metrics_poll_interval_ms": 1_000,
        "backlog_age_slo_ms": None,
        "max_scale_up_step": None,
    }
    assert scaler().poll_interval_s == 1.0
    # Both strategies are supported; an empty type means the default scaler.
    assert build_scaler("", {}, INVOKE).strategy is INVOKE
    assert build_scaler("backlog", {}, WSET).strategy is WSET


@pytest.mark.parametrize(
    ("details", "field", "message"),
    [
        ({"target": 4}, "target", 'unknown config key "target" for backlog scaling algorithm'),
        ({"target_per_worker": 0}, "target_per_worker", "must be greater than 0"),
        ({"target_per_worker": "lots"}, "target_per_worker", "must be a number"),
        ({"target_per_worker": True}, "target_per_worker", "must be a number"),
        ({"max_count": 0}, "max_count", "max_count must be at least 1"),
        ({"min_count": -1}, "min_count", "min_count must be at least 0"),
        ({"min_count": 2.5}, "min_count", "must be an integer"),
        ({"metrics_poll_interval_ms": 99}, "metrics_poll_interval_ms", "at least 100"),
        ({"scale_down_cooldown_ms": -1}, "scale_down_cooldown_ms", "at least 0"),
        ({"backlog_age_slo_ms": 0}, "backlog_age_slo_ms", "at least 1"),
        ({"max_scale_up_step": 0}, "max_scale_up_step", "at least 1"),
        ({"min_count": 5, "max_count": 3}, "", "min_count (5) must not exceed max_count (3)"),
    ],
)
def test_invalid_details_name_the_field_and_rule(
    details: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ScalerConfigError) as err:
        validate_details("backlog", details)
    assert field in [f for f, _ in err.value.problems]
    assert any(message in msg for _, msg in err.value.problems), err.value.problems


def test_details_not_an_object() -> None:
    with pytest.raises(ScalerConfigError, match="details must be a JSON object"):
        validate_details("backlog", [1, 2])  # type: ignore[arg-type]


def test_unknown_scaler_type() -> None:
    with pytest.raises(ScalerConfigError, match="invalid scaling algorithm type 'magic'"):
        build_scaler("magic", {}, INVOKE)


# ---------------------------------------------------------------------------------------------
# Single decisions: (strategy, details, state, metrics, now) -> expected
# ---------------------------------------------------------------------------------------------

S0 = BacklogState()


# A state that has observed the group for a long time at the given size, with an idle window.
def long(size: int, peak: int = 0) -> BacklogState:
    return BacklogState(size=size, window=((0, peak),), observing_since_ms=0)


Row = tuple[str, Strategy, dict[str, Any], BacklogState, GroupMetrics | None, float, Any]
DECISIONS: list[Row] = [
    # Immediate scale-up from zero, on the very first observation.
    ("invoke: 1 task at 0 workers", INVOKE, {}, S0, m(1), 0.0, ("start", 1)),
    ("invoke: 25 tasks, 10/worker", INVOKE, {}, S0, m(25), 0.0, ("start", 3)),
    ("worker-set: 1 task at 0 workers", WSET, {}, S0, m(1), 0.0, ("size", 1)),
    ("worker-set: 25 tasks", WSET, {}, S0, m(25), 0.0, ("size", 3)),
    ("slots: 200 tasks, 4/worker, max 10", INVOKE, {"target_per_worker": 4}, S0, m(200), 0.0,
     ("start", 10)),
    # In-flight counts as load.
    ("invoke: running 2, 20 in flight, 15 waiting", INVOKE, {}, S0,
     m(15, running=2, in_flight=20), 0.0, ("start", 2)),
    ("invoke: enough running", INVOKE, {}, S0, m(5, running=3, in_flight=20), 0.0,
     ("hold", None)),
    ("invoke never stops workers", INVOKE, {}, long(5), m(0, running=5, in_flight=0), 60.0,
     ("hold", None)),
    # Clamping.
    ("clamp to max", WSET, {"max_count": 4}, S0, m(1000), 0.0, ("size", 4)),
    ("invoke: clamp counts running", INVOKE, {"max_count": 4}, S0, m(1000, running=3), 0.0,
     ("start", 1)),
    ("invoke: at max", INVOKE, {"max_count": 4}, S0, m(1000, running=4), 0.0, ("hold", None)),
    ("min_count held with no work", WSET, {"min_count": 2}, S0, m(0), 0.0, ("size", 2)),
    ("invoke: min_count started", INVOKE, {"min_count": 2}, S0, m(0), 0.0, ("start", 2)),
    ("size above max cut at once", WSET, {"max_count": 3}, S0, m(50, desired=8, running=8), 0.0,
     ("size", 3)),
    # Step limit (min_count still wins).
    ("step limit", WSET, {"max_scale_up_step": 2}, S0, m(100), 0.0, ("size", 2)),
    ("invoke step limit", INVOKE, {"max_scale_up_step": 2}, S0, m(100), 0.0, ("start", 2)),
    ("min wins over step", WSET, {"max_scale_up_step": 1, "min_count": 3}, S0, m(0), 0.0,
     ("size", 3)),
    # The provider's reported size is the current size.
    ("census size used", WSET, {}, long(1), m(25, desired=3, running=3, in_flight=0), 60.0,
     ("hold", None)),
    # Unknown in-flight with waiting tasks: running workers count as full.
    ("unknown in-flight with backlog", WSET, {}, long(3), m(25, desired=3, running=3), 60.0,
     ("size", 6)),
    # No scale-down while work is in flight.
    ("in flight blocks scale to zero", WSET, {}, long(3), m(0, running=3, in_flight=25, desired=3),
     60.0, ("hold", None)),
    ("unknown in-flight, dispatching: busy", WSET, {}, long(3),
     m(0, running=3, dispatch=4.0, desired=3), 60.0, ("hold", None)),
    ("unknown in-flight, tasks still added: busy", WSET, {}, long(3),
     m(0, running=3, add=0.5, desired=3), 60.0, ("hold", None)),
    # Starting workers (running, not yet ready) are not load: 2 polling + 3 starting, backlog 25
    # -> 2*10 + 25 = 45 -> 5 workers, all already there.
    ("invoke: starting workers absorb backlog", INVOKE, {}, S0, m(25, running=5, ready=2), 0.0,
     ("hold", None)),
    ("invoke: readiness unknown -> all busy", INVOKE, {}, S0, m(25, running=5), 0.0,
     ("start", 3)),
    ("known idle after a full idle window", WSET, {}, long(3),
     m(0, running=3, in_flight=0, desired=3), 60.0, ("size", 0)),
    ("unknown in-flight, rates ~0: idle", WSET, {}, long(3),
     m(0, running=3, dispatch=0.001, desired=3), 60.0, ("size", 0)),
    ("idle but window saw 2 recently", WSET, {}, BacklogState(size=3, window=((55_000, 2),),
     observing_since_ms=0), m(0, running=3, in_flight=0, desired=3), 60.0, ("size", 2)),
    ("idle but not observed for a whole cooldown", WSET, {}, S0,
     m(0, running=3, in_flight=0, desired=3), 60.0, ("hold", None)),
    ("zero cooldown scales down at once", WSET, {"scale_down_cooldown_ms": 0}, S0,
     m(0, running=3, in_flight=0, desired=3), 60.0, ("size", 0)),
    # Backlog-age SLO.
    ("SLO violated: +50%", WSET, {"backlog_age_slo_ms": 2_000}, S0, m(40, age=3.0), 0.0,
     ("size", 6)),
    ("SLO violated: at least +1", WSET, {"backlog_age_slo_ms": 2_000}, S0, m(5, age=3.0), 0.0,
     ("size", 2)),
    ("SLO met", WSET, {"backlog_age_slo_ms": 2_000}, S0, m(40, age=1.0), 0.0, ("size", 4)),
    ("SLO boost capped at max", WSET, {"backlog_age_slo_ms": 2_000, "max_count": 5}, S0,
     m(40, age=3.0), 0.0, ("size", 5)),
    ("invoke SLO", INVOKE, {"backlog_age_slo_ms": 500}, S0, m(40, age=0.6, running=4,
     in_flight=0), 0.0, ("start", 2)),
    # Missing data.
    ("metrics unreadable (worker-set)", WSET, {}, long(3), None, 60.0, ("hold", None)),
    ("metrics unreadable (invoke)", INVOKE, {}, S0, None, 0.0, ("hold", None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "details", "state", "metrics", "now", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in DECISIONS],
)
def test_decision_table(
    strategy: Strategy,
    details: dict[str, Any],
    state: BacklogState,
    metrics: GroupMetrics | None,
    now: float,
    expected: tuple[str, int | None],
) -> None:
    _, decision = scaler(strategy, **details).decide(state, metrics, now)
    assert summary(decision) == expected, decision.reason
    assert decision.reason


def test_reason_states_inputs() -> None:
    _, decision = scaler(INVOKE, target_per_worker=4).decide(S0, m(120, running=0, in_flight=8), 0)
    assert isinstance(decision, StartWorkers)
    assert "backlog=120 in_flight=8 target=4/worker -> desired 32, clamped to max 10" in (
        decision.reason
    )


# ---------------------------------------------------------------------------------------------
# Sequences: a whole episode through decide(), the way the controller drives it
# ---------------------------------------------------------------------------------------------


def drive(
    s: BacklogScaler, script: list[tuple[float, int, int | None]]
) -> list[tuple[float, str, int | None]]:
    """Run ``(now, backlog, in_flight)`` observations against a worker-set group whose size
    follows the decisions (as a provider would report it)."""
    state = s.initial_state(0.0)
    size = 0
    out = []
    for now, backlog, in_flight in script:
        metrics = m(backlog, running=size, in_flight=in_flight, desired=size)
        state, decision = s.decide(state, metrics, now)
        if isinstance(decision, SetSize):
            size = decision.size
        out.append((now, *summary(decision)))
    return out


def test_burst_then_cooldown_to_zero() -> None:
    s = scaler(WSET, target_per_worker=4, scale_down_cooldown_ms=10_000)
    script: list[tuple[float, int, int | None]] = [(0.0, 0, 0), (1.0, 30, 0)]
    script += [(float(t), 0, 12) for t in range(2, 8)]  # draining: 12 in flight, no backlog
    script += [(float(t), 0, 0) for t in range(8, 25)]  # idle from t=8
    out = drive(s, script)
    assert out[0] == (0.0, "hold", None)
    assert out[1] == (1.0, "size", 8)  # at once: ceil(30/4)
    # desired 3 while draining: partial scale-down only after 10 s of desired < 8 (from t=2).
    sizes = [(t, n) for t, k, n in out if k == "size"]
    assert (12.0, 3) in sizes
    assert all(not (2.0 <= t < 12.0) for t, _ in sizes)
    # Idle from t=8: scale to zero exactly one cooldown later, never before.
    assert sizes[-1] == (18.0, 0)


def test_long_activity_never_scaled_to_zero() -> None:
    """One task in flight for minutes with no backlog and no dispatch: the size stays 1."""
    s = scaler(WSET, scale_down_cooldown_ms=5_000)
    script: list[tuple[float, int, int | None]] = [(0.0, 1, 0)]
    script += [(float(t), 0, 1) for t in range(1, 300)]
    out = drive(s, script)
    assert out[0] == (0.0, "size", 1)
    assert all(k == "hold" for _, k, _ in out[1:])


def test_metrics_outage_never_scales_down() -> None:
    s = scaler(WSET, scale_down_cooldown_ms=5_000)
    state = s.initial_state(0.0)
    state, d = s.decide(state, m(30, desired=0), 0.0)
    assert summary(d) == ("size", 3)
    for t in range(1, 20):
        state, d = s.decide(state, None, float(t))
        assert isinstance(d, Hold)
    # Metrics come back idle: the blind cycles count as "keep 3", so the window restarts.
    state, d = s.decide(state, m(0, in_flight=0, desired=3, running=3), 20.0)
    assert isinstance(d, Hold)
    state, d = s.decide(state, m(0, in_flight=0, desired=3, running=3), 24.0)
    assert isinstance(d, Hold)
    state, d = s.decide(state, m(0, in_flight=0, desired=3, running=3), 25.0)
    assert summary(d) == ("size", 0)


def test_spike_inside_window_restarts_stabilization() -> None:
    s = scaler(WSET, scale_down_cooldown_ms=10_000)
    out = drive(s, [(0.0, 50, 0), (5.0, 0, 0), (12.0, 20, 0), (16.0, 0, 0), (21.0, 0, 0),
                    (22.0, 0, 0), (22.5, 0, 0)])  # fmt: skip
    assert out[0] == (0.0, "size", 5)
    assert out[1] == (5.0, "hold", None)
    # t=12: desired 2 < 5, but 5 was desired at t=0 (outside the window) -> down to 2.
    assert out[2] == (12.0, "size", 2)
    assert out[3] == (16.0, "hold", None)
    # 2 was desired at t=12; the window [now - 10 s, now] includes its ends, so it holds at 22.
    assert out[4] == (21.0, "hold", None)
    assert out[5] == (22.0, "hold", None)
    assert out[6] == (22.5, "size", 0)


def test_invoke_sequence_sizes_to_backlog() -> None:
    s = scaler(INVOKE, target_per_worker=4)
    state = s.initial_state(0.0)
    running = 0
    started = []
    for t, backlog in enumerate([200, 160, 120, 80, 40, 0]):
        state, d = s.decide(state, m(backlog, running=running, in_flight=4 * running), float(t))
        if isinstance(d, StartWorkers):
            running += d.count
            started.append(d.count)
    assert started == [10]  # sized to the backlog at once, capped at max 10, never more


def lambda_cold_start(
    s: BacklogScaler, backlogs: list[int], *, polling_from: int, cycle_s: float = 0.5
) -> list[int]:
    """Drive an invoke group the way Lambda reports it: the provider counts its invokes
    (``running``) but knows neither readiness nor in-flight tasks; the server lists a worker
    among the pollers once it polls (from cycle ``polling_from`` on). Returns the start counts."""
    state = s.initial_state(0.0)
    running, started = 0, []
    for cycle, backlog in enumerate(backlogs):
        pollers = running if cycle >= polling_from else 0
        metrics = m(backlog, running=running, pollers=pollers, add=2.0)
        state, decision = s.decide(state, metrics, cycle * cycle_s)
        if isinstance(decision, StartWorkers):
            running += decision.count
            started.append(decision.count)
    return started


def test_invoke_cold_start_does_not_pile_up_invokes() -> None:
    """5 workflows on an idle queue, 4 slots per handler, cold starts of ~3 s (6 cycles): 2
    invokes, not one more pair every 0.5 s cycle (10 invokes before the fix)."""
    s = scaler(INVOKE, target_per_worker=4, metrics_poll_interval_ms=500)
    assert lambda_cold_start(s, [5] * 6 + [0] * 4, polling_from=6) == [2]


def test_invoke_trickling_burst_sized_to_backlog_minus_starting_slots() -> None:
    """40 workflows started one after another, arriving over 5 cycles while the first handlers
    start: 10 invokes in all (40 / 4 slots); before the fix every cycle added ceil(backlog / 4)
    on top of the starting workers (40 invokes with room for them)."""
    s = scaler(INVOKE, target_per_worker=4, max_count=50)
    started = lambda_cold_start(s, [8, 16, 24, 32, 40, 40, 0, 0], polling_from=6)
    assert sum(started) == 10


def test_invoke_starting_worker_counts_as_busy_after_the_startup_window() -> None:
    """A worker the provider still counts (it exited idle, or its invoke was lost) but that the
    server does not list as a poller is taken as busy once its startup window has passed, so a
    new task still gets a worker at once."""
    s = scaler(INVOKE, target_per_worker=4)
    state, first = s.decide(s.initial_state(0.0), m(1, add=1.0), 0.0)
    assert summary(first) == ("start", 1)
    later = STARTUP_WINDOW_MS / 1000 + 1
    _, decision = s.decide(state, m(1, running=1, pollers=0, add=1.0), later)
    assert summary(decision) == ("start", 1), decision.reason
    _, within = s.decide(state, m(1, running=1, pollers=0, add=1.0), 1.0)
    assert summary(within) == ("hold", None), within.reason
    assert "1 starting" in within.reason


def test_state_window_stays_small() -> None:
    s = scaler(WSET, scale_down_cooldown_ms=3_600_000, metrics_poll_interval_ms=100)
    state = s.initial_state(0.0)
    for i in range(5_000):
        state, _ = s.decide(state, m(i % 97, running=3, in_flight=0, desired=3), i * 0.1)
    assert len(state.window) <= s.details.max_count + 1


# ---------------------------------------------------------------------------------------------
# Property: whatever happens, the output stays within [min, max]
# ---------------------------------------------------------------------------------------------

observations = st.one_of(
    st.none(),
    st.builds(
        lambda backlog, age, add, dispatch, in_flight, running, reported: m(
            backlog,
            age=age,
            add=add,
            dispatch=dispatch,
            in_flight=in_flight,
            running=running,
            desired=reported,
        ),
        st.integers(0, 5_000),
        st.floats(0, 600),
        st.floats(0, 500),
        st.floats(0, 500),
        st.none() | st.integers(0, 500),
        st.integers(0, 40),
        st.none() | st.integers(0, 40),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    min_count=st.integers(0, 5),
    extra=st.integers(0, 20),
    target=st.floats(0.5, 50),
    cooldown=st.integers(0, 20_000),
    slo=st.none() | st.integers(1, 10_000),
    step=st.none() | st.integers(1, 5),
    strategy=st.sampled_from([INVOKE, WSET]),
    steps=st.lists(st.tuples(st.floats(0, 5), observations), min_size=1, max_size=30),
)
def test_output_always_within_min_max(
    min_count: int,
    extra: int,
    target: float,
    cooldown: int,
    slo: int | None,
    step: int | None,
    strategy: Strategy,
    steps: list[tuple[float, GroupMetrics | None]],
) -> None:
    max_count = max(1, min_count + extra)
    s = scaler(
        strategy,
        min_count=min_count,
        max_count=max_count,
        target_per_worker=target,
        scale_down_cooldown_ms=cooldown,
        backlog_age_slo_ms=slo,
        max_scale_up_step=step,
    )
    now = 0.0
    timeline = []
    for dt, metrics in steps:
        now += dt
        timeline.append((now, metrics))
    _, decisions = run(s, timeline)
    for (_, metrics), d in zip(timeline, decisions, strict=True):
        assert d.reason
        if isinstance(d, SetSize):
            assert min_count <= d.size <= max_count
        elif isinstance(d, StartWorkers):
            assert metrics is not None
            assert d.count >= 1
            assert metrics.workers.running + d.count <= max_count
        else:
            assert isinstance(d, Hold)
        if metrics is None:
            assert isinstance(d, Hold)
