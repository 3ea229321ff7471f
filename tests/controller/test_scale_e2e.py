"""End to end on a real Temporal dev server with real worker processes (no fakes).

The controller reads real task-queue stats, the backlog scaler decides, and the subprocess provider
starts and retires real ``examples.worker`` processes.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import subprocess_group, write_spec

pytestmark = pytest.mark.integration


async def _start_burst(client: Client, queue: str, count: int, seconds: float) -> list:  # type: ignore[type-arg]
    return [
        await client.start_workflow(
            ProcessItem.run, seconds, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        for _ in range(count)
    ]


@pytest.mark.parametrize("strategy", ["worker-set", "invoke"])
async def test_burst_scales_from_zero_and_back(
    strategy: str, temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    """30 workflows on an idle queue at zero workers: workers start, all complete, back to 0."""
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(strategy=strategy)},
    )
    running = await run_controller(spec)
    await asyncio.sleep(1.0)
    assert running.workers() == 0, "an idle queue must have no workers"

    client = await Client.connect(temporal_address)
    handles = await _start_burst(client, unique_name, 30, 0.5)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)

    assert len(results) == 30 and all(r.startswith("done") for r in results)
    assert running.peak("workers") >= 2, "a burst of 30 must grow beyond one worker"
    assert running.peak("workers") <= 6, "never above max_count"
    await running.wait_for(lambda: running.workers() == 0, timeout_s=60)


async def test_separate_workflow_and_activity_groups(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    """Workflow tasks and activity tasks each scale on their own queue type's backlog."""
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={
            # One process per 50 workflow tasks: a burst of 12 needs just one.
            "workflows": subprocess_group(types=["WORKFLOW"], slots=50),
            # Heavy activities, one per worker: the same burst needs several.
            "activities": subprocess_group(types=["ACTIVITY"], slots=1, scaler={"max_count": 4}),
        },
    )
    running = await run_controller(spec)
    client = await Client.connect(temporal_address)
    handles = await _start_burst(client, unique_name, 12, 2.0)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)

    assert len(results) == 12
    assert running.peak("workflows") == 1
    assert running.peak("activities") >= 2
    assert running.peak("activities") <= 4
    await running.wait_for(lambda: running.workers() == 0, timeout_s=60)
    activity_statuses = [s for snap in running.history for s in snap if s.group_id == "activities"]
    assert any(s.backlog > 0 for s in activity_statuses), "the activity group saw its own backlog"


async def test_long_activity_survives_scale_down(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    """Scaling down while a long activity runs never kills it: it finishes on its first attempt."""
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(slots=2, scaler={"scale_down_cooldown_ms": 500})},
    )
    running = await run_controller(spec)
    client = await Client.connect(temporal_address)
    # Long enough to outlive the short burst even on a loaded machine.
    long_one = await client.start_workflow(
        ProcessItem.run, 20.0, id=f"{unique_name}-long", task_queue=unique_name
    )
    short = await _start_burst(client, unique_name, 10, 0.3)
    await asyncio.wait_for(asyncio.gather(*(h.result() for h in short)), 120)
    peak = running.peak("workers")
    mark = len(running.history)
    # The short burst is done: the controller scales down while the long activity still runs.
    result = await asyncio.wait_for(long_one.result(), 120)
    during_long = [s.workers_running for snap in running.history[mark:] for s in snap]

    assert result == "done after 20.0s (attempt 1)"
    assert peak >= 2
    assert during_long, "the controller kept cycling while the long activity ran"
    assert min(during_long) < peak, "the controller scaled down while the long activity ran"
    await running.wait_for(lambda: running.workers() == 0, timeout_s=60)
