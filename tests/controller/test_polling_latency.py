"""The wait from a decision to start workers until they poll, measured from cycle reports alone."""

from __future__ import annotations

import dataclasses

from workerplane.controller.cycle import CycleReport
from workerplane.controller.polling_latency import (
    PollingLatency,
    retired_workers,
    started_workers,
)
from workerplane.planning.actions import (
    Action,
    ExecutionFailure,
    GroupState,
    Invoke,
    LogLine,
    NoAction,
    Plan,
    Reconcile,
    Resize,
)
from workerplane.planning.observe import Observation
from workerplane.planning.status import GroupStatus
from workerplane.scaling.types import Hold, WorkerCensus

NO_ACTION = NoAction()

STATUS = GroupStatus(
    version_key="orders", group_id="g", provider_type="fake", scaler_type="backlog",
    strategy="worker-set", workers_running=0, workers_ready=0, in_flight=0, pollers=0, backlog=0,
    backlog_age_s=0.0, add_rate=0.0, dispatch_rate=0.0, desired=0, last_decision="hold",
    last_reason="", last_error=None, provider_validation_error=None, metrics_ok=True,
    updated_at=0.0,
)  # fmt: skip


def report(
    at: float,
    action: Action = NO_ACTION,
    *,
    ready: int | None = 0,
    held: int | None = 0,
    first: bool = False,
    failed: bool = False,
) -> CycleReport:
    """A cycle at monotonic time ``at`` that saw ``ready`` workers polling while holding
    ``held``, and did ``action``."""
    previous = None if first else dataclasses.replace(STATUS, desired=held)
    return CycleReport(
        version_key="orders",
        group_id="g",
        observation=Observation(census=WorkerCensus(running=ready or 0, ready=ready), metrics=None),
        plan=Plan(Hold("r"), action, LogLine(20, ""), GroupState(None)),
        failure=ExecutionFailure("provider: no", kind="throttled") if failed else None,
        previous=previous,
        status=STATUS,
        started_at=at,
        duration_s=0.01,
    )


def test_each_started_worker_is_timed_until_it_polls() -> None:
    latency = PollingLatency()
    assert latency.observe(report(10.0, Resize(3, "up"), ready=0, held=0)) == []
    assert latency.pending() == 3
    assert latency.observe(report(12.0, ready=1, held=3)) == [2.0]
    assert latency.observe(report(15.0, ready=3, held=3)) == [5.0, 5.0]
    assert latency.pending() == 0


def test_a_second_scale_up_waits_behind_the_first() -> None:
    latency = PollingLatency()
    latency.observe(report(0.0, Resize(1, "up"), ready=0, held=0))
    # The first worker is not polling yet when the size grows to 2: the new one is the 2nd.
    latency.observe(report(1.0, Resize(2, "up"), ready=0, held=1))
    assert latency.observe(report(3.0, ready=1, held=2)) == [3.0]
    assert latency.observe(report(4.0, ready=2, held=2)) == [3.0]


def test_a_scale_down_forgets_the_starts_above_the_new_size() -> None:
    latency = PollingLatency()
    latency.observe(report(0.0, Resize(4, "up"), ready=0, held=0))
    latency.observe(report(1.0, Resize(1, "down"), ready=0, held=4))
    assert latency.pending() == 1
    assert latency.observe(report(2.0, ready=1, held=1)) == [2.0]


def test_failed_calls_promise_nothing_and_stale_starts_are_given_up() -> None:
    latency = PollingLatency(give_up_after_s=60.0)
    latency.observe(report(0.0, Resize(2, "up"), ready=0, held=0, failed=True))
    assert latency.pending() == 0
    latency.observe(report(0.0, Invoke(1), ready=0))
    assert latency.observe(report(100.0, ready=0)) == []
    assert (latency.pending(), latency.given_up) == (0, 1)


def test_a_rebuilt_group_or_one_without_readiness_is_not_timed() -> None:
    latency = PollingLatency()
    latency.observe(report(0.0, Resize(2, "up"), ready=0, held=0))
    assert latency.observe(report(5.0, ready=2, first=True)) == []  # a new controller's group
    latency.observe(report(6.0, Invoke(2), ready=None))  # e.g. Lambda: cannot tell readiness
    assert latency.pending() == 0


def test_workers_started_and_retired_per_action() -> None:
    assert started_workers(report(0.0, Invoke(3))) == 3
    assert started_workers(report(0.0, Resize(5, "up"), held=2)) == 3
    assert retired_workers(report(0.0, Resize(1, "down"), held=4)) == 3
    # A crashed worker asked for again; an extra one retired.
    assert started_workers(report(0.0, Reconcile(size=3, running=1))) == 2
    assert retired_workers(report(0.0, Reconcile(size=1, running=2))) == 1
    assert started_workers(report(0.0, Invoke(3), failed=True)) == 0
    # An adopted group's first cycle: the held size is the provider's census.
    first = report(0.0, Resize(2, "up"), first=True)
    first = dataclasses.replace(
        first,
        observation=dataclasses.replace(
            first.observation, census=WorkerCensus(running=1, desired=1)
        ),
    )
    assert started_workers(first) == 1
