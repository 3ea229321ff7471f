"""A worker that runs only workflow tasks measures the first workflow task of each run: its
sketch matches the histories' ``WorkflowTaskStarted - WorkflowTaskScheduled`` of those tasks.

Real dev server, real worker processes (``examples.worker``): one serving only the WORKFLOW
type (it measures), one only ACTIVITY. The workflows are started before the workflow worker, so
their first tasks wait for it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.test_achieved_latency import nearest_rank
from workerplane.worker.status import read_status

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def start_worker(address: str, queue: str, types: str, status: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WORKERPLANE_"))}
    env.update(
        TEMPORAL_ADDRESS=address,
        TEMPORAL_TASK_QUEUE=queue,
        WORKERPLANE_TASK_QUEUE_TYPES=types,
        WORKERPLANE_STATUS_FILE=str(status),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "examples.worker"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def first_task_wait_from_history(client: Client, workflow_id: str) -> float:
    scheduled = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED and scheduled is None:
            scheduled = at
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            assert scheduled is not None
            return at - scheduled
    raise AssertionError(f"{workflow_id}: no workflow task started")


async def test_first_workflow_tasks_are_measured(
    temporal_address: str, tmp_path: Path, workers: list[subprocess.Popen[bytes]]
) -> None:
    queue = f"wft-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(temporal_address)
    ids = [f"{queue}-{n}" for n in range(20)]
    handles = [
        await client.start_workflow(ProcessItem.run, 0.1, id=wid, task_queue=queue) for wid in ids
    ]
    status = tmp_path / "workflows.json"
    workers.append(start_worker(temporal_address, queue, "ACTIVITY", tmp_path / "acts.json"))
    workers.append(start_worker(temporal_address, queue, "WORKFLOW", status))
    await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)

    deadline = time.monotonic() + 30
    while True:  # the status file is rewritten within a heartbeat
        report = read_status(status)
        sketch = report.waited() if report is not None else None
        if sketch is not None and sketch.count >= len(ids):
            break
        assert time.monotonic() < deadline, report
        await asyncio.sleep(0.2)
    assert sketch.count == len(ids)
    truth = [await first_task_wait_from_history(client, wid) for wid in ids]
    for q in (0.5, 0.95):
        measured, expected = sketch.quantile(q), nearest_rank(truth, q)
        assert measured is not None
        assert abs(measured - expected) <= max(0.1 * expected, 0.05), (q, measured, expected)
