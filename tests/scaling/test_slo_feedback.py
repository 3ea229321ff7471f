"""The ``slo`` scaler's feedback loop: the achieved p95 tightens, relaxes or holds the target wait
(tables on hand-made sketches; the loop is a pure function of state, census sketch and time)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workerplane.scaling.latency import GroupFacts, LatencySketch
from workerplane.scaling.registry import ScalerConfigError, build_scaler
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_feedback import (
    DECAY_TAU_S,
    MAX_FRACTION,
    MAX_SCALE,
    MIN_SCALE,
    MIN_TASKS,
    MIN_WINDOW_S,
    STALE_S,
    Feedback,
    observe,
)
from workerplane.scaling.slo_model import SloDetails, wait_fraction
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus

#: A 5 s SLO a task finding no worker meets (1.3 s to see it, 2 s to start one): capacity.
CAPACITY = GroupFacts(desired=4, max_count=100, startup_s=2.0, signal_delay_s=1.3)
SLO_S = 5.0
WINDOW_MS = int(MIN_WINDOW_S * 1000)


def fed(fb: Feedback, waits: list[float], at_ms: int, facts: GroupFacts = CAPACITY) -> Feedback:
    """``fb`` after a window of ``waits`` measured right after ``at_ms`` and judged a window
    later (the census's sketch only grows: the new waits are added to the baseline)."""
    base = fb.baseline if fb.baseline is not None else LatencySketch()
    grown = base.merge(LatencySketch.of(waits))
    fb = observe(fb, grown, at_ms, 4, SLO_S, facts)
    return observe(fb, grown, at_ms + WINDOW_MS, 4, SLO_S, facts)


def started() -> Feedback:
    """A loop that has seen its baseline sketch."""
    return observe(Feedback(), LatencySketch(), 0, 4, SLO_S, CAPACITY)


@pytest.mark.parametrize(
    ("wait_s", "scale", "action"),
    [
        (5.5, 0.773, "tightened"),  # a miss: towards 0.85 of the SLO, 0.85 * 5 / 5.5
        (20.0, 0.75, "tightened"),  # far off: one bounded step down
        (4.9, 1.0, "held"),  # in the band between 0.8 and 1.0 of the SLO
        (4.2, 1.0, "held"),
        (3.5, 1.214, "relaxed"),  # comfortably under: towards 0.85 of the SLO, 0.85 * 5 / 3.5
        (1.0, 1.25, "relaxed"),  # far under: one bounded step up
    ],
)
def test_one_window_moves_the_scale_a_bounded_step(
    wait_s: float, scale: float, action: str
) -> None:
    fb = fed(started(), [wait_s] * MIN_TASKS, 1000)
    assert fb.scale == pytest.approx(scale, rel=0.03)
    assert fb.verdict is not None and fb.verdict.action == action
    assert fb.verdict.count == MIN_TASKS and fb.window.count == 0


def test_relaxing_stops_at_its_bound_and_tightening_at_its_floor() -> None:
    fb = started()
    for i in range(10):
        fb = fed(fb, [0.5] * MIN_TASKS, 1000 + i * 2 * WINDOW_MS)
    assert fb.scale == MAX_SCALE
    assert fb.verdict is not None and fb.verdict.action == "held (at its bound)"
    for i in range(10, 20):
        fb = fed(fb, [30.0] * MIN_TASKS, 1000 + i * 2 * WINDOW_MS)
    assert fb.scale == MIN_SCALE
    # Relaxed to MAX_FRACTION at most; a larger configured fraction is kept.
    relaxed = SloState(feedback=replace(fb, scale=MAX_SCALE))
    assert wait_fraction(SloDetails(), relaxed) == MAX_FRACTION
    assert wait_fraction(SloDetails(target_wait_fraction=0.9), relaxed) == 0.9
    assert wait_fraction(SloDetails(), SloState(feedback=fb)) == 0.3


def test_after_a_miss_relaxing_stops_below_the_scale_that_missed() -> None:
    fb = fed(started(), [1.0] * MIN_TASKS, 1000)  # relaxed to 1.25
    fb = fed(fb, [6.0] * MIN_TASKS, 1000 + 2 * WINDOW_MS)  # that missed: 1.25 -> 0.94
    assert fb.scale == pytest.approx(0.9375)
    assert fb.ceiling == pytest.approx(1.0)
    fb = fed(fb, [1.0] * MIN_TASKS, 1000 + 4 * WINDOW_MS)
    assert fb.scale == pytest.approx(0.9375)  # relaxing needs two windows comfortably under
    fb = fed(fb, [1.0] * MIN_TASKS, 1000 + 6 * WINDOW_MS)
    assert fb.scale == pytest.approx(1.1025)  # the ceiling lifted a little, not back to 1.25


def test_a_window_too_small_or_too_short_is_not_judged() -> None:
    fb = fed(started(), [9.0] * (MIN_TASKS - 1), 1000)
    assert (fb.scale, fb.verdict, fb.window.count) == (1.0, None, MIN_TASKS - 1)
    grown = LatencySketch.of([9.0] * MIN_TASKS)
    early = observe(started(), grown, 1000, 4, SLO_S, CAPACITY)
    early = observe(early, grown, 1000 + WINDOW_MS - 1, 4, SLO_S, CAPACITY)
    assert early.verdict is None and early.window.count == MIN_TASKS
    # A window that stays too sparse for half an hour starts over.
    sparse = observe(fb, fb.baseline, 1000 + 1_800_001, 4, SLO_S, CAPACITY)
    assert sparse.window.count == 0 and sparse.opened_ms is None


def test_the_first_sketch_is_only_a_baseline() -> None:
    adopted = LatencySketch.of([30.0] * 500)  # measured before: when, nobody knows
    fb = observe(Feedback(), adopted, 0, 4, SLO_S, CAPACITY)
    fb = observe(fb, adopted, WINDOW_MS, 4, SLO_S, CAPACITY)
    assert (fb.baseline, fb.window.count, fb.verdict) == (adopted, 0, None)


@pytest.mark.parametrize(
    ("facts", "cause"),
    [
        # a 2 s SLO below the 3.3 s a task finding no worker waits: more workers cannot help
        (GroupFacts(desired=4, max_count=100, startup_s=2.0, signal_delay_s=3.5), "signal delay"),
        (GroupFacts(desired=4, max_count=100, startup_s=6.0, signal_delay_s=1.3), "startup"),
        (GroupFacts(desired=4, max_count=4, startup_s=2.0, signal_delay_s=1.3), "max_count"),
    ],
)
def test_a_miss_capacity_cannot_fix_never_tightens_below_the_default(
    facts: GroupFacts, cause: str
) -> None:
    fb = fed(started(), [9.0] * MIN_TASKS, 1000, facts)
    assert fb.scale == 1.0
    assert fb.verdict is not None and fb.verdict.action.startswith(f"held (not capacity: {cause}")
    relaxed = replace(started(), scale=1.25)
    undone = fed(relaxed, [9.0] * MIN_TASKS, 1000, facts)
    assert undone.scale == 1.0  # a relaxation is undone, nothing more


def test_without_new_measurements_the_scale_decays_back_to_the_default() -> None:
    fb = fed(started(), [1.0] * MIN_TASKS, 1000)
    assert fb.scale == pytest.approx(1.25)
    last = fb.measured_ms
    assert last is not None
    stale_ms = last + int(STALE_S * 1000)
    held = observe(fb, fb.baseline, stale_ms, 4, SLO_S, CAPACITY)
    assert held.scale == fb.scale  # an idle half hour between storms keeps what was learned
    later = observe(held, None, stale_ms + int(DECAY_TAU_S * 1000), 4, SLO_S, CAPACITY)
    assert later.scale == pytest.approx(1.0 + 0.25 / 2.718281828, rel=1e-3)
    gone = observe(later, None, stale_ms + int(10 * DECAY_TAU_S * 1000), 4, SLO_S, CAPACITY)
    assert (gone.scale, gone.ceiling) == (1.0, MAX_SCALE)


def test_a_group_whose_workers_never_report_keeps_the_configured_fraction() -> None:
    fb = Feedback()
    for t in range(0, 3_600_000, 60_000):
        fb = observe(fb, None, t, 4, SLO_S, CAPACITY)
    assert fb == Feedback()
    assert wait_fraction(SloDetails(), SloState(feedback=fb)) == 0.6


# -------------------------------------------------------------------------- through the scaler


def slo(**details: object) -> SloScaler:
    s = build_scaler(
        "slo", {"max_count": 100, "schedule_to_start_slo_ms": 5000, **details}, Strategy.WORKER_SET
    )
    assert isinstance(s, SloScaler)
    return s


def observed(sketch: LatencySketch, at: float) -> GroupMetrics:
    census = WorkerCensus(
        running=4, ready=4, in_flight=2, desired=4, slots=4, schedule_to_start=sketch
    )
    stats = QueueStats(add_rate=1.0, dispatch_rate=1.0, pollers=4)
    return GroupMetrics(stats=stats, workers=census, observed_at=at, by_type={"ACTIVITY": stats})


def run(scaler: SloScaler, waits: list[float]) -> tuple[SloState, str]:
    """The scaler's state and reason after a baseline, a window of ``waits`` and its verdict."""
    state = replace(scaler.initial_state(0.0), startup_ms=2000.0)
    grown = LatencySketch.of(waits)
    reason = ""
    for at, sketch in ((0.0, LatencySketch()), (1.0, grown), (2.0 + MIN_WINDOW_S, grown)):
        state, decision = scaler.decide(state, observed(sketch, at), at)
        reason = decision.reason
    return state, reason


def test_the_scaler_explains_its_adjusted_target_wait() -> None:
    state, reason = run(slo(), [1.0] * 100)
    assert state.feedback.scale == pytest.approx(1.25)
    assert "feedback: wait target 0.75 of the SLO (p95 0.98s/5s over 100 tasks: relaxed)" in reason


def test_feedback_false_keeps_the_configured_fraction() -> None:
    state, reason = run(slo(feedback=False), [1.0] * 100)
    assert state.feedback == Feedback()
    assert "feedback" not in reason


def test_feedback_must_be_a_boolean() -> None:
    with pytest.raises(ScalerConfigError) as err:
        build_scaler("slo", {"feedback": "often"}, Strategy.WORKER_SET)
    assert [field for field, _ in err.value.problems] == ["feedback"]
