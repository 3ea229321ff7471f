"""The simulated workers report the schedule-to-start they measured as production's do: at their
next status write after the task started, through the census the controller reads."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.sim.sim_support import make_trace
from workerplane.scaling.latency import LatencySketch
from workerplane.scaling.types import Decision, GroupMetrics, SetSize, Strategy
from workerplane.sim.distributions import Distribution
from workerplane.sim.engine import simulate
from workerplane.sim.fleet import READY, SimWorker
from workerplane.sim.models import WorkerModel
from workerplane.sim.reports import WorkerReports


def test_a_task_is_reported_at_its_workers_next_status_write() -> None:
    reports = WorkerReports(1.0)
    worker = SimWorker(wid=0, launched_at=0.3, state=READY)  # writes at 1.3, 2.3, ...
    reports.record(worker, 1.0, 2.5)
    assert reports.sketch(1.29).count == 0
    assert reports.sketch(1.3) == LatencySketch.of([2.5])


@dataclass
class OneWorker:
    """Holds one worker and keeps every census it was shown."""

    strategy: Strategy = Strategy.WORKER_SET
    poll_interval_s: float = 1.0

    def __post_init__(self) -> None:
        self.seen: list[GroupMetrics] = []

    def initial_state(self, now: float) -> None:
        return None

    def decide(
        self, state: None, metrics: GroupMetrics | None, now: float
    ) -> tuple[None, Decision]:
        assert metrics is not None
        self.seen.append(metrics)
        return None, SetSize(1, "one")


@pytest.mark.parametrize(("interval", "counts"), [(1.0, [0, 0, 0, 1, 1]), (None, [None] * 5)])
def test_the_census_carries_the_reported_sketch(
    interval: float | None, counts: list[int | None]
) -> None:
    """A worker polling from 2 s takes the task that landed at 0 s (waited 2 s): it writes its
    status at 3 s, the cycle at 3 s reads it. Without reports the census has none."""
    trace = make_trace([0.0], [1.0], horizon=5.0)
    scaler = OneWorker()
    model = WorkerModel(startup=Distribution.const(2.0), slots=1, report_interval_s=interval)
    simulate(trace, scaler, model)
    sketches = [m.workers.schedule_to_start for m in scaler.seen[:5]]
    assert [None if s is None else s.count for s in sketches] == counts
    if interval is not None:
        assert sketches[-1] == LatencySketch.of([2.0])
