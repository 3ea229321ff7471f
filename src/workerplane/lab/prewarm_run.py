"""One real pre-warming run: a Temporal Schedule fans out work on a queue the real controller
manages with real subprocess workers; the run's histories say when each run's first task started.

Used by the end-to-end test (tests/lab/test_prewarm_e2e.py) and ``bench/prewarm.py``, which runs
it without pre-warming, with it, and with a hand-placed warm-up (a per-schedule hint) side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import REPO_ROOT, example_worker_group, write_deployment
from workerplane.planning.status import GroupStatus
from workerplane.temporal.connection import ResolvedConnection, connect

GROUP = "workers"


@dataclass(frozen=True)
class ScheduledBatch:
    """The schedule and the group: every ``interval_s`` a run brings ``tasks`` activities of
    ``task_s`` seconds to a worker-set group of ``slots``-slot workers."""

    interval_s: float = 20.0
    runs: int = 3
    tasks: int = 8
    task_s: float = 1.0
    slots: int = 4
    max_count: int = 6
    slo_ms: int = 2_000
    worker_startup_ms: int | None = None
    schedule_refresh_s: float = 2.0


@dataclass(frozen=True)
class RunTiming:
    """One run of the schedule as its history and the controller's status saw it.

    Attributes:
        action_at: the action time (epoch seconds).
        first_task_s: from the action time until the run's first task (its workflow task) started.
        first_activity_s: from the action time until its first activity started.
        last_activity_s: from the action time until its last activity started.
        polling_before: a worker of the group was polling in the second before the action time.
    """

    action_at: float
    first_task_s: float
    first_activity_s: float
    last_activity_s: float
    polling_before: bool


@dataclass
class BatchResult:
    """What one mode measured: each run, and the group's worker-seconds from the second run's
    previous interval to one interval after the last run (the cold first run left out)."""

    mode: str
    runs: list[RunTiming] = field(default_factory=list)
    worker_seconds: float = 0.0
    history: list[tuple[float, list[GroupStatus]]] = field(default_factory=list, repr=False)


def scaler_details(batch: ScheduledBatch, prewarm: dict[str, Any] | None) -> dict[str, Any]:
    """The group's ``slo`` details; ``prewarm`` as given (``None``: pre-warming off)."""
    details: dict[str, Any] = {
        "schedule_to_start_slo_ms": batch.slo_ms,
        "max_count": batch.max_count,
        "target_per_worker": batch.slots,
        "metrics_poll_interval_ms": 500,
    }
    if batch.worker_startup_ms is not None:
        details["worker_startup_ms"] = batch.worker_startup_ms
    if prewarm is not None:
        details["prewarm"] = prewarm
    return details


def hand_placed(batch: ScheduledBatch, schedule_id: str) -> dict[str, Any]:
    """The warm-up a user would place by hand: a slot for every task of the run."""
    workers = min(batch.max_count, math.ceil(batch.tasks / batch.slots))
    return {"enabled": True, "schedules": {schedule_id: {"workers": workers}}}


async def run_batch(
    address: str,
    queue: str,
    state_dir: Path,
    batch: ScheduledBatch,
    *,
    mode: str,
    prewarm: dict[str, Any] | None,
) -> BatchResult:
    """Run the controller on ``queue`` while a schedule fires ``batch.runs`` times, then measure.

    The schedule's id is ``f"{queue}-schedule"`` (for a hint)."""
    group = example_worker_group(
        cwd=REPO_ROOT,
        scaler_type="slo",
        scaler_details=scaler_details(batch, prewarm),
        strategy="worker-set",
        slots=batch.slots,
        idle_exit_s=None,
        grace_period_s=30.0,
    )
    spec = write_deployment(
        state_dir / "deploy.yaml", name=queue, task_queue=queue, groups={GROUP: group}
    )
    result = BatchResult(mode)
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(state_dir / "status.json"),
        ControllerSettings(
            state_dir=state_dir,
            address=address,
            refresh_s=0.5,
            schedule_refresh_s=batch.schedule_refresh_s,
        ),
        on_cycle=lambda statuses: result.history.append((time.time(), list(statuses))),
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(controller.run(stop))
    client = await connect(ResolvedConnection(address=address, namespace="default"))
    schedule_id = f"{queue}-schedule"
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "ProcessBatch",  # examples/app.py: fans out `tasks` activities
                args=[batch.tasks, batch.task_s],
                id=f"{queue}-run",
                task_queue=queue,
            ),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(seconds=batch.interval_s))]
            ),
        ),
    )
    try:
        actions = await _wait_for_runs(client, schedule_id, batch)
    finally:
        with contextlib.suppress(Exception):
            await handle.delete()
        stop.set()
        with contextlib.suppress(Exception):
            await loop
        await controller.shutdown(drain=True)
    for at, workflow_id, run_id in actions:
        result.runs.append(await _timing(client, at, workflow_id, run_id, result.history))
    if len(actions) > 1:
        start = actions[1][0] - batch.interval_s
        result.worker_seconds = worker_seconds(
            result.history, start, start + batch.interval_s * len(actions)
        )
    return result


async def _wait_for_runs(
    client: Client, schedule_id: str, batch: ScheduledBatch
) -> list[tuple[float, str, str]]:
    """The first ``batch.runs`` actions, once each of their workflows has closed."""
    deadline = time.monotonic() + batch.interval_s * (batch.runs + 2) + 120.0
    handle = client.get_schedule_handle(schedule_id)
    while time.monotonic() < deadline:
        info = (await handle.describe()).info
        running = {
            r.workflow_id
            for r in info.running_actions
            if isinstance(r, ScheduleActionExecutionStartWorkflow)
        }
        actions = [
            (a.scheduled_at.timestamp(), a.action.workflow_id, a.action.first_execution_run_id)
            for a in info.recent_actions
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
        ][: batch.runs]
        if len(actions) >= batch.runs and not any(wid in running for _, wid, _ in actions):
            return actions
        await asyncio.sleep(1.0)
    raise TimeoutError(f"schedule {schedule_id} did not complete {batch.runs} runs in time")


async def _timing(
    client: Client,
    at: float,
    workflow_id: str,
    run_id: str,
    history: list[tuple[float, list[GroupStatus]]],
) -> RunTiming:
    events = (await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events
    task_starts: list[float] = []
    activity_starts: list[float] = []
    for event in events:
        moment = event.event_time.ToMicroseconds() / 1e6
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            task_starts.append(moment)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            activity_starts.append(moment)
    polling = any(
        at - 1.0 <= t < at and s.group_id == GROUP and (s.workers_ready or 0) > 0
        for t, statuses in history
        for s in statuses
    )
    return RunTiming(
        action_at=at,
        first_task_s=min(task_starts) - at,
        first_activity_s=min(activity_starts) - at,
        last_activity_s=max(activity_starts) - at,
        polling_before=polling,
    )


def worker_seconds(
    history: list[tuple[float, list[GroupStatus]]], start: float, end: float
) -> float:
    """The group's running workers integrated over ``[start, end)`` (epoch seconds), from the
    controller's published statuses (a step function between publishes)."""
    samples = [
        (t, sum(s.workers_running for s in statuses if s.group_id == GROUP))
        for t, statuses in history
    ]
    total = 0.0
    for (t0, n), (t1, _) in itertools.pairwise(samples):
        lo, hi = max(t0, start), min(t1, end)
        if hi > lo:
            total += n * (hi - lo)
    return total
