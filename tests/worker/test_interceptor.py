"""The schedule-to-start interceptor in a worker that does not use workerplane's runtime.

A plain ``temporalio`` worker on the real dev server adds
``ScheduleToStartInterceptor.reporting(status_file)``; the status file then carries the worker's
polling state, its activity counts and the latency sketch the subprocess provider collects.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from examples.app import ProcessItem, process_item
from workerplane.worker.interceptor import ScheduleToStartInterceptor
from workerplane.worker.status import read_status

pytestmark = pytest.mark.integration


async def test_a_plain_worker_reports_each_activitys_schedule_to_start(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    client = await Client.connect(temporal_address)
    handles = [
        await client.start_workflow(
            ProcessItem.run, 0.1, id=f"{unique_name}-{uuid.uuid4().hex[:6]}", task_queue=unique_name
        )
        for _ in range(5)
    ]
    status_file = tmp_path / "worker.status"
    interceptor = ScheduleToStartInterceptor.reporting(status_file)
    async with Worker(
        client,
        task_queue=unique_name,
        workflows=[ProcessItem],
        activities=[process_item],
        interceptors=[interceptor],
    ):
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    sketch = interceptor.snapshot()
    assert sketch.count == 5
    slowest = sketch.quantile(1.0)
    assert slowest is not None and 0 <= slowest < 30  # scheduled by the worker's own workflows
    deadline = time.monotonic() + 10
    while (status := read_status(status_file)) is None or status.tasks_finished < 5:
        assert time.monotonic() < deadline, f"the status file never showed 5 tasks: {status}"
        await asyncio.sleep(0.2)
    assert status.state == "polling" and status.in_flight == 0
    reported = status.waited()
    assert reported is not None and reported.buckets == sketch.buckets
