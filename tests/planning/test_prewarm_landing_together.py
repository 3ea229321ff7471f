"""Pre-warming for many schedules that fire together: their learned warm-ups are sized on the
slots of all their tasks, not rounded up to a worker each."""

from __future__ import annotations

from workerplane.planning.prewarm import RunWork, UpcomingRun, WarmupSizing, plan_warmups
from workerplane.scaling.prewarm import PrewarmDetails

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
