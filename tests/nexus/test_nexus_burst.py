"""A burst through a Nexus endpoint, end to end on the dev server: the controller drives the
subprocess provider of a real ``workerplane nexus-handler`` process in another namespace."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from examples.app import ProcessItem
from tests.controller.support import write_spec
from tests.nexus.nexus_support import nexus_group
from workerplane.providers.subprocess import procfs

pytestmark = pytest.mark.integration


async def _start_burst(
    client: Client, queue: str, count: int, seconds: float
) -> list[WorkflowHandle[Any, str]]:
    return [
        await client.start_workflow(
            ProcessItem.run, seconds, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        for _ in range(count)
    ]


def _nexus_errors(running: Any) -> list[str]:
    return [
        s.last_error
        for snap in running.history
        for s in snap
        if s.last_error and "nexus endpoint" in s.last_error
    ]


async def test_burst_from_zero_and_back_through_endpoint(
    nexus_handler: Any, run_controller: Any, temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """50 workflows at zero workers: the handler starts workers, all complete, back to zero."""
    endpoint, handler = nexus_handler()
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": nexus_group(endpoint)},
    )
    running = await run_controller(spec)
    await running.wait_for(
        lambda: any(s.group_id == "workers" for s in running.controller.statuses())
    )
    assert running.workers() == 0, "an idle queue must have no workers"

    client = await Client.connect(temporal_address)
    handles = await _start_burst(client, unique_name, 50, 0.5)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)

    assert len(results) == 50 and all(r.startswith("done") for r in results)
    assert running.peak("workers") >= 2, "a burst of 50 must grow beyond one worker"
    await running.wait_for(lambda: running.workers() == 0, timeout_s=90)
    await running.wait_for(lambda: not procfs.live_worker_pids(handler.state_dir), timeout_s=60)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_handler_stopped_mid_burst_and_restarted(
    sig: signal.Signals,
    nexus_handler: Any,
    run_controller: Any,
    temporal_address: str,
    tmp_path: Path,
    unique_name: str,
) -> None:
    """The handler dies mid-burst: the status says so while it is down; once it is back, it
    adopts its workers, all 50 workflows complete and no worker is left behind."""
    endpoint, handler = nexus_handler()
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": nexus_group(endpoint)},
    )
    running = await run_controller(spec)
    client = await Client.connect(temporal_address)
    # Long enough that workers are still busy when the handler dies (it then adopts them).
    handles = await _start_burst(client, unique_name, 50, 4.0)
    await running.wait_for(lambda: running.workers() >= 1)

    handler.stop(sig)
    await running.wait_for(lambda: bool(_nexus_errors(running)), timeout_s=90)
    handler.start()

    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 240)
    assert len(results) == 50 and all(r.startswith("done") for r in results)
    await running.wait_for(lambda: running.workers() == 0, timeout_s=90)
    await running.wait_for(lambda: not procfs.live_worker_pids(handler.state_dir), timeout_s=60)
    # The error clears once the handler is back.
    await running.wait_for(
        lambda: any(
            s.group_id == "workers" and not s.last_error for s in running.controller.statuses()
        )
    )
