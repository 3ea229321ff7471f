"""Pre-warming at scale: many schedules that fire together are sized on the slots of all their
tasks, not rounded up to a worker each; a first warm-up is taken further ahead when its startup
was timed on the scaler's own (smaller) scale-ups."""

from __future__ import annotations

import pytest

from workerplane.planning.prewarm import WarmTiming, sizing_of
from workerplane.planning.warmups import RunWork, UpcomingRun, WarmupSizing, plan_warmups
from workerplane.scaling.prewarm import PrewarmDetails
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo import SloScaler
from workerplane.scaling.slo_model import SloState
from workerplane.scaling.types import Strategy, WorkerCensus

NOON = 43_200.0

SIZING = WarmupSizing(
    startup_s=2.0, poll_s=1.0, margin_s=0.5, slots=4.0, target_wait_s=1.2, max_count=50
)

ONE_TASK = RunWork(tasks=1, mean_task_s=1.0, spread_s=0.0, runs=3)


def test_a_hundred_schedules_firing_together_share_the_workers_of_their_tasks() -> None:
    runs = [UpcomingRun(f"s{i:03}", NOON, ONE_TASK) for i in range(100)]
    warmups = plan_warmups(runs, PrewarmDetails(enabled=True), SIZING, now=NOON - 20)
    # 100 one-second tasks that may each wait 1.2 s: 100 / 2.2 = 45.5 slots -> 12 workers, not 100.
    assert len(warmups) == 100
    assert sum(w.workers for w in warmups) == 12
    assert all("12 workers shared by 100 schedules" in w.basis for w in warmups)


def test_runs_that_land_apart_and_hints_are_not_shared() -> None:
    details = PrewarmDetails(enabled=True, schedules={"hinted": {"workers": 3}})  # type: ignore[arg-type]
    runs = [
        UpcomingRun("early", NOON, ONE_TASK),
        UpcomingRun("late", NOON + 30, ONE_TASK),
        UpcomingRun("hinted", NOON, ONE_TASK),
    ]
    warmups = plan_warmups(runs, details, SIZING, now=NOON - 20)
    assert {w.schedule_id: w.workers for w in warmups} == {"early": 1, "late": 1, "hinted": 3}
    assert not any("shared" in w.basis for w in warmups)


@pytest.mark.parametrize(
    ("timing", "scaler_startup_ms", "lead_s"),
    [
        (WarmTiming(), None, 2.0 + 0.5),  # configured: one startup ahead
        (WarmTiming(), 4_000.0, 1.5 * 4.0 + 0.5),  # the scaler's own scale-ups: 1.5 ahead
        (WarmTiming(startup_s=3.0), 4_000.0, 3.0 + 0.5),  # a warm-up timed: one ahead
    ],
)
def test_a_startup_timed_on_smaller_scale_ups_is_taken_further_ahead(
    timing: WarmTiming, scaler_startup_ms: float | None, lead_s: float
) -> None:
    details = {"schedule_to_start_slo_ms": 2000, "max_count": 8, "target_per_worker": 4,
               "worker_startup_ms": 2000, "prewarm": {"enabled": True}}  # fmt: skip
    scaler = build_scaler("slo", details, Strategy.WORKER_SET)
    assert isinstance(scaler, SloScaler)
    state = SloState(startup_ms=scaler_startup_ms)
    sizing = sizing_of(scaler, state, timing, WorkerCensus(), default_startup_ms=1_000.0)
    assert sizing.lead_s == pytest.approx(lead_s)
