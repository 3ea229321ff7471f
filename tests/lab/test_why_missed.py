"""Why the default policy misses: the sentence the policy report prints."""

from __future__ import annotations

import numpy as np

from workerplane.lab.why_missed import why_missed
from workerplane.sim.models import SimResult, WorkerModel


def result(arrivals: list[float], waits: list[float], ready: list[int]) -> SimResult:
    """A result whose ready workers are sampled every 10 s."""
    t = np.arange(len(ready)) * 10.0
    empty = np.zeros(len(ready))
    return SimResult(
        trace="t", policy="p", waits=np.array(waits), completed=np.ones(len(waits), np.int64),
        worker_seconds=0.0, startup_seconds=0.0, retiring_seconds=0.0, launches=0,
        scale_actions=0, decisions=[], end_time=t[-1], series_t=t, series_backlog=empty,
        series_workers=empty, series_ready=np.array(ready, float), series_busy=empty,
        arrivals=np.array(arrivals),
    )  # fmt: skip


def test_an_slo_below_a_cold_start_is_named_as_the_cause() -> None:
    why = why_missed(result([1.0], [4.0], [0]), 2.0, WorkerModel())
    assert "below the 3.3 s a task waits when no worker runs" in why


def test_a_surge_larger_than_the_ready_workers_is_named_as_the_cause() -> None:
    """100 tasks within a second on a queue with one ready worker (4 slots): the late ones
    arrived in a surge no reactive scaler can meet; pre-warming is the fix."""
    arrivals = list(np.linspace(10.0, 11.0, 100))
    waits = [6.0] * 100
    why = why_missed(result(arrivals, waits, [1, 1, 1]), 5.0, WorkerModel())
    assert why.startswith("96% of the late tasks arrived in a surge")  # the first 4 had a slot
    assert "pre-warming" in why


def test_late_tasks_with_slots_to_spare_are_a_capacity_shortfall() -> None:
    arrivals = [5.0, 15.0, 25.0]
    why = why_missed(result(arrivals, [6.0, 6.0, 6.0], [2, 2, 2]), 5.0, WorkerModel())
    assert why.startswith("the capacity held was short")
