"""Cycle reports built by hand, for the observers' unit tests."""

from __future__ import annotations

import dataclasses

from workerplane.controller.cycle import CycleReport
from workerplane.planning.actions import (
    Action,
    ExecutionFailure,
    GroupState,
    LogLine,
    NoAction,
    Plan,
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
