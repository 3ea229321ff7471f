"""Pre-warming end to end: a real Temporal Schedule on the dev server fans out work on a queue the
real controller manages with real subprocess workers.

From the second run on, the controller has learned what a run brings (from the first run's
history) and warms the group ahead of each action time: a worker is polling before the action, so
the run's first task starts at once instead of after a cold start.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from workerplane.lab.prewarm_measure import BatchResult
from workerplane.lab.prewarm_run import ScheduledBatch, run_batch

pytestmark = pytest.mark.integration


async def test_scheduled_runs_find_a_warm_worker(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    batch = ScheduledBatch(interval_s=15.0, runs=3, tasks=8, task_s=1.0, slots=4, max_count=4)
    # A generous margin: the machine may be loaded, and the test is about behaviour, not timing.
    prewarm = {"enabled": True, "margin_ms": 3_000}
    result = await run_batch(
        temporal_address, unique_name, tmp_path, batch, mode="prewarm", prewarm=prewarm
    )

    assert len(result.runs) == 3
    later = result.runs[1:]
    assert all(run.polling_before for run in later), result.runs
    # Warm: the first task starts about when the workflow does, far below a cold start.
    assert all(run.first_task_s < 2.0 for run in later), result.runs
    warmups = [s.warmups for _, statuses in result.history for s in statuses if s.warmups]
    assert warmups, "the status must list the upcoming warm-ups"
    assert warmups[-1][0].schedule_id == f"{unique_name}-schedule"


async def test_a_run_that_starts_child_workflows_is_warmed_for_their_work(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """The scheduled workflow only starts children; the activities are theirs. The warm-up is
    sized from the children's work (one visibility list and one child history per run), not
    from the parent's own history, which schedules no activity.

    The runs are 20 s apart: the second run is warmed only once the first, cold one has closed
    and been read, and on a loaded machine (CI, 2 cores) 15 s left the second run cold twice in
    four runs (its first task 0.9-1.0 s after the action time)."""
    batch = ScheduledBatch(
        interval_s=20.0, runs=3, tasks=8, task_s=1.0, slots=4, max_count=4, shape="children"
    )
    prewarm = {"enabled": True, "margin_ms": 3_000}
    result = await run_batch(
        temporal_address, unique_name, tmp_path, batch, mode="prewarm", prewarm=prewarm
    )

    assert [run.workflows for run in result.runs] == [9, 9, 9], result.runs
    later = result.runs[1:]
    assert all(run.polling_before for run in later), (
        result.runs,
        _warmups_before(result, batch.interval_s),
    )
    assert all(run.first_task_s < 2.0 for run in later), result.runs
    warmups = [w for _, statuses in result.history for s in statuses for w in s.warmups]
    assert warmups, "the status must list the upcoming warm-ups"
    assert warmups[-1].schedule_id == f"{unique_name}-schedule"
    # 8 tasks of a one-second sleep, as long as their histories say (more on a loaded machine),
    # that may each wait 1.2 s: 8 x 1.0 / 2.2 = 3.6 slots -> one 4-slot worker.
    learned = re.match(r"learned: 8 tasks of (\d+\.\d)s", warmups[-1].basis)
    assert learned, warmups[-1]
    duration_s = float(learned.group(1))
    assert 1.0 <= duration_s < 3.0, warmups[-1]
    # The basis shows the duration rounded to a tenth; either side of it sizes the same or one more.
    sized = {math.ceil(8 * d / (d + 1.2) / 4) for d in (duration_s - 0.05, duration_s + 0.05)}
    assert warmups[-1].workers in sized, warmups[-1]


def _warmups_before(result: BatchResult, interval_s: float) -> list[tuple[float, list[str]]]:
    """What the group listed as warm-ups in the interval before each run (a failure's
    evidence)."""
    seen = []
    for run in result.runs:
        listed = {
            f"{w.workers} at {w.starts_at - run.action_at:+.1f}s: {w.basis}"
            for t, statuses in result.history
            if run.action_at - interval_s <= t < run.action_at
            for s in statuses
            for w in s.warmups
        }
        seen.append((run.action_at, sorted(listed)))
    return seen
