"""One real pre-warming run: Temporal Schedules bring work to a queue the real controller manages
with real subprocess workers; the runs' histories say when each run's tasks started
(:mod:`workerplane.lab.prewarm_measure`).

Used by the end-to-end tests (tests/lab/test_prewarm_e2e.py) and ``bench/prewarm.py``, which runs
it without pre-warming, with it, and with a hand-placed warm-up (per-schedule hints) side by side.
Three shapes of a run of ``tasks`` activities:

* ``batch``: one schedule starts one ``ProcessBatch`` workflow that fans out the activities;
* ``children``: one schedule starts one ``ProcessChildren`` workflow that starts ``tasks`` child
  workflows, each running one activity;
* ``schedules``: ``tasks`` schedules that fire together each start one ``ProcessItem`` workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
)

from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import REPO_ROOT, example_worker_group, write_deployment
from workerplane.lab.prewarm_measure import (
    GROUP,
    BatchResult,
    run_timing,
    run_workflows,
    worker_seconds,
)
from workerplane.temporal.connection import ResolvedConnection, connect

SHAPES = ("batch", "children", "schedules")

#: Schedules are created at least this long before their first action time, so that all of them
#: fire at the same action times.
CREATE_AHEAD_S = 5.0


@dataclass(frozen=True)
class ScheduledBatch:
    """The schedules and the group: every ``interval_s`` a run brings ``tasks`` activities of
    ``task_s`` seconds (in the given ``shape``) to a worker-set group of ``slots``-slot workers."""

    interval_s: float = 20.0
    runs: int = 3
    tasks: int = 8
    task_s: float = 1.0
    slots: int = 4
    max_count: int = 6
    slo_ms: int = 2_000
    worker_startup_ms: int | None = None
    schedule_refresh_s: float = 2.0
    shape: str = "batch"

    def schedule_ids(self, queue: str) -> list[str]:
        """The ids of the bench's schedules on ``queue``."""
        if self.shape == "schedules":
            return [f"{queue}-schedule-{i:03}" for i in range(self.tasks)]
        return [f"{queue}-schedule"]

    def action(self, queue: str, schedule_id: str) -> ScheduleActionStartWorkflow:
        """What each of the schedules starts."""
        run_id = schedule_id.replace("-schedule", "-run")
        if self.shape == "schedules":
            args: list[Any] = [self.task_s]
            workflow = "ProcessItem"
        else:
            args = [self.tasks, self.task_s]
            workflow = "ProcessChildren" if self.shape == "children" else "ProcessBatch"
        return ScheduleActionStartWorkflow(workflow, args=args, id=run_id, task_queue=queue)

    def workflows_per_run(self) -> int:
        """How many workflows one run of the schedules brings."""
        return {"batch": 1, "children": 1 + self.tasks, "schedules": self.tasks}[self.shape]


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


def hand_placed(batch: ScheduledBatch, queue: str) -> dict[str, Any]:
    """The warm-up a user would place by hand: a slot for every task of the run, as hints on
    the schedules (the ``schedules`` shape's single-task schedules: a worker on enough of them,
    0 on the others)."""
    workers = min(batch.max_count, math.ceil(batch.tasks / batch.slots))
    ids = batch.schedule_ids(queue)
    if len(ids) == 1:
        return {"enabled": True, "schedules": {ids[0]: {"workers": workers}}}
    return {
        "enabled": True,
        "schedules": {s: {"workers": 1 if i < workers else 0} for i, s in enumerate(ids)},
    }


def write_group_deployment(
    path: Path, queue: str, batch: ScheduledBatch, details: dict[str, Any]
) -> Path:
    """Write the deployment of the runs' one group to ``path``: the example worker, a worker-set
    of ``batch.slots``-slot workers on ``queue`` scaled by ``slo`` with ``details``. Workers stay
    until the scaler releases them (no idle exit), so what they cost is the controller's doing."""
    group = example_worker_group(
        cwd=REPO_ROOT,
        scaler_type="slo",
        scaler_details=details,
        strategy="worker-set",
        slots=batch.slots,
        idle_exit_s=None,
        grace_period_s=30.0,
    )
    return write_deployment(path, name=queue, task_queue=queue, groups={GROUP: group})


async def run_batch(
    address: str,
    queue: str,
    state_dir: Path,
    batch: ScheduledBatch,
    *,
    mode: str,
    prewarm: dict[str, Any] | None,
) -> BatchResult:
    """Run the controller on ``queue`` while the schedules fire ``batch.runs`` times each, then
    measure. The schedules' ids are :meth:`ScheduledBatch.schedule_ids` (for hints)."""
    spec = write_group_deployment(
        state_dir / "deploy.yaml", queue, batch, scaler_details(batch, prewarm)
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
    ids = batch.schedule_ids(queue)
    try:
        await _create_schedules(client, queue, ids, batch)
        runs = await _wait_for_runs(client, queue, batch)
    finally:
        for schedule_id in ids:
            with contextlib.suppress(Exception):
                await client.get_schedule_handle(schedule_id).delete()
        stop.set()
        with contextlib.suppress(Exception):
            await loop
        await controller.shutdown(drain=True)
    for at, workflows in runs.items():
        result.runs.append(await run_timing(client, at, workflows, result.history))
    if len(runs) > 1:
        start = result.runs[1].action_at - batch.interval_s
        result.worker_seconds = worker_seconds(
            result.history, start, start + batch.interval_s * len(runs)
        )
    return result


async def _create_schedules(
    client: Client, queue: str, ids: list[str], batch: ScheduledBatch
) -> None:
    """Create the schedules, each limited to ``batch.runs`` actions, early enough in an interval
    that all of them fire at the same action times (interval schedules fire at multiples of their
    interval since the epoch)."""
    into_interval = time.time() % batch.interval_s
    if batch.interval_s - into_interval < CREATE_AHEAD_S + 0.01 * len(ids):
        await asyncio.sleep(batch.interval_s - into_interval + 0.5)
    for schedule_id in ids:
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=batch.action(queue, schedule_id),
                spec=ScheduleSpec(
                    intervals=[ScheduleIntervalSpec(every=timedelta(seconds=batch.interval_s))]
                ),
                state=ScheduleState(limited_actions=True, remaining_actions=batch.runs),
            ),
        )


async def _wait_for_runs(
    client: Client, queue: str, batch: ScheduledBatch
) -> dict[float, list[tuple[str, str]]]:
    """Every run's workflows, once all of them have started and closed."""
    deadline = time.monotonic() + batch.interval_s * (batch.runs + 2) + 180.0
    expected = batch.runs * batch.workflows_per_run()
    while time.monotonic() < deadline:
        await asyncio.sleep(2.0)
        closed = await client.count_workflows(
            f"TaskQueue = '{queue}' AND ExecutionStatus != 'Running'"
        )
        if closed.count >= expected:
            return await run_workflows(client, queue)
    raise TimeoutError(f"the schedules on {queue} did not complete {batch.runs} runs in time")
