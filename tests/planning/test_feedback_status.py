"""The group's status says how the ``slo`` scaler's feedback sized it: the target wait it plans
with now and the achieved p95 that moved it (plan_cycle on hand-made observations)."""

from __future__ import annotations

from dataclasses import replace

from workerplane.planning.actions import GroupState
from workerplane.planning.observe import Observation
from workerplane.planning.plan import GroupIntent, plan_cycle
from workerplane.planning.status import GroupStatus
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler
from workerplane.scaling.slo_feedback import MIN_WINDOW_S
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus


def observation(sketch: LatencySketch, at: float) -> Observation:
    census = WorkerCensus(
        running=4, ready=4, in_flight=2, desired=4, slots=4, schedule_to_start=sketch
    )
    stats = QueueStats(add_rate=1.0, dispatch_rate=1.0, pollers=4)
    metrics = GroupMetrics(stats=stats, workers=census, observed_at=at, by_type={"ACTIVITY": stats})
    return Observation(census=census, metrics=metrics, wall_time=1_000_000.0 + at)


def status_after(waits: list[float], **details: object) -> GroupStatus:
    scaler = build_scaler("slo", {"schedule_to_start_slo_ms": 5000, **details}, Strategy.WORKER_SET)
    assert isinstance(scaler, SloScaler)
    intent = GroupIntent("orders", "g", "subprocess", "slo", Strategy.WORKER_SET, scaler)
    state = GroupState(scaler_state=replace(scaler.initial_state(0.0), startup_ms=2000.0))
    grown = LatencySketch.of(waits)
    status = None
    for at, sketch in ((0.0, LatencySketch()), (1.0, grown), (2.0 + MIN_WINDOW_S, grown)):
        plan, status = plan_cycle(observation(sketch, at), intent, state, at)
        state = plan.state
    assert status is not None
    return status


def test_the_status_shows_the_target_wait_the_feedback_set() -> None:
    achieved = status_after([1.0] * 100).schedule_to_start
    assert achieved is not None
    assert achieved.target_wait_fraction == 0.75
    assert achieved.feedback == "p95 0.98s/5s over 100 tasks: relaxed"


def test_without_feedback_the_status_shows_the_configured_target_wait() -> None:
    achieved = status_after([1.0] * 100, feedback=False).schedule_to_start
    assert achieved is not None
    assert (achieved.target_wait_fraction, achieved.feedback) == (0.6, None)
