"""The schedule-to-start the controller reports is what the tasks really got.

Real dev server, real worker processes (the subprocess provider running ``examples.worker`` on
workerplane's runtime, which measures every activity), the real controller. The truth is read
back from the workflow histories: each activity's ``ActivityTaskStarted`` minus its
``ActivityTaskScheduled`` event time.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import REPO_ROOT, write_spec
from workerplane.embedded.example import example_worker_group

pytestmark = pytest.mark.integration


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def schedule_to_start_from_history(client: Client, workflow_id: str) -> list[float]:
    scheduled: dict[int, float] = {}
    waited = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            waited.append(at - scheduled[attrs.scheduled_event_id])
    return waited


async def test_the_reported_p95_matches_the_workflow_histories(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    """A burst of 40 from zero workers: the controller's p95 over the run is within 10 % (or
    50 ms) of the p95 computed from the histories of the same 40 activities."""
    group = example_worker_group(
        cwd=REPO_ROOT,
        scaler_type="slo",
        scaler_details={
            "schedule_to_start_slo_ms": 5000,
            "max_count": 4,
            "metrics_poll_interval_ms": 200,
        },
        strategy="worker-set",
        slots=4,
        idle_exit_s=2.0,
    )
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": group},
    )
    running = await run_controller(spec)
    await running.wait_for(lambda: bool(running.controller.statuses()))
    client = await Client.connect(temporal_address)
    ids = [f"{unique_name}-{uuid.uuid4().hex[:8]}" for _ in range(40)]
    handles = [
        await client.start_workflow(ProcessItem.run, 0.5, id=wid, task_queue=unique_name)
        for wid in ids
    ]
    await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)

    def measured() -> int:
        status = running.controller.statuses()[0].schedule_to_start
        return status.count if status is not None else 0

    # The workers' status files are read each cycle; the last activities show within a cycle
    # or two after their workflows completed.
    await running.wait_for(lambda: measured() >= 40, timeout_s=30)
    reported = running.controller.statuses()[0].schedule_to_start
    assert reported is not None and reported.count == 40
    truth = [w for wid in ids for w in await schedule_to_start_from_history(client, wid)]
    assert len(truth) == 40
    expected = nearest_rank(truth, 0.95)
    assert reported.p95_s is not None
    assert abs(reported.p95_s - expected) <= max(0.1 * expected, 0.05), (reported, expected)
    assert reported.slo_s == 5.0
    assert reported.missing_slo is (reported.p95_s > 5.0)
