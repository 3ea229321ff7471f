"""The scheduled storm: a policy that pre-warms knows the schedule's action times and learns what
its runs bring, so the storms after the first find warm workers."""

from __future__ import annotations

import itertools

import numpy as np

from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.scheduled import SCHEDULE_ID, TraceSchedule
from workerplane.sim.synthetic import BUILTIN, cron_storm, scheduled_storm


def _small(**kw: float) -> dict[str, float]:
    return {"storm_size": 60, "every_s": 300.0, "horizon_s": 900.0, **kw}


def test_the_schedule_returns_next_runs_with_the_work_of_finished_ones() -> None:
    trace = scheduled_storm(**_small())  # type: ignore[arg-type]
    assert trace.actions == (30.0, 330.0, 630.0)
    schedule = TraceSchedule(trace)
    runs = schedule.upcoming(0.0)
    assert [r.at for r in runs] == [30.0, 330.0, 630.0]
    assert {r.schedule_id for r in runs} == {SCHEDULE_ID}
    # Before the trace, the schedule ran once like its first run; later, every run counts.
    assert runs[0].work is not None and runs[0].work.tasks == 60 and runs[0].work.runs == 1
    later = schedule.upcoming(500.0)
    assert [r.at for r in later] == [330.0, 630.0]  # the one that landed recently, then the next
    assert later[0].work is not None and later[0].work.runs == 3  # before, at 30 and at 330
    # And how its tasks landed: 60 within 2 s, each tenth about 0.2 s after the one before.
    curve = later[0].work.arrivals
    assert len(curve) == 11 and curve[0] == 0.0 and curve[-1] <= 2.0
    assert all(0.1 < b - a < 0.35 for a, b in itertools.pairwise(curve))
    assert "scheduled-storm" in BUILTIN


def test_prewarming_starts_the_storms_at_once() -> None:
    """Same storms, action times known or not: known, each storm's first tasks find warm workers
    and the storm starts within the SLO; unknown, they wait a cold start."""
    policy = slo_policy(2.0, max_count=20)
    known = policy.run(scheduled_storm(**_small()), WorkerModel())  # type: ignore[arg-type]
    unknown = policy.run(cron_storm(**_small()), WorkerModel())  # type: ignore[arg-type]
    assert any("pre-warming" in d.reason for _, d in known.decisions)
    assert not any("pre-warming" in d.reason for _, d in unknown.decisions)
    assert np.nanmedian(known.waits) < np.nanmedian(unknown.waits)
    assert known.percentile(95) <= 2.0 < unknown.percentile(95)
