"""Scaling from zero on a Temporal dev server with its DEFAULT dynamic config, as users run it.

Production servers (Temporal Cloud included) cache task-queue stats for 5 s and split every task
queue into 4 partitions; the session's fast-stats server does neither. Here the controller must
see a task landing on an idle queue through the uncached per-partition backlog hint rather than
wait for the cache. Real server, real worker processes, the default ``slo`` scaler; the checks are
on behaviour (everything completes exactly once, the group grows and goes back to zero), never on
timing: ``bench/scale_core.py --server-defaults`` measures the latency.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import subprocess_group, write_spec
from tests.fixtures_default_temporal import default_temporal_server  # noqa: F401 - fixture
from workerplane.temporal.devserver import DevServer

pytestmark = pytest.mark.integration

SLO_SCALER = {"schedule_to_start_slo_ms": 5000, "metrics_poll_interval_ms": 250}


@pytest.fixture
def temporal_address(default_temporal_server: DevServer) -> str:  # noqa: F811
    """This module's controller (``run_controller``) talks to the default-config server."""
    return default_temporal_server.address


def _spec(tmp_path: Path, queue: str) -> Path:
    group = subprocess_group(slots=4)
    group["scaler"] = {"type": "slo", "details": {**SLO_SCALER, "min_count": 0, "max_count": 6}}
    return write_spec(
        tmp_path / "deploy.yaml", name=queue, task_queue=queue, groups={"workers": group}
    )


async def _run(client: Client, queue: str, seconds: float) -> str:
    return await client.execute_workflow(
        ProcessItem.run, seconds, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
    )


async def test_a_single_task_at_zero_starts_a_worker(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    running = await run_controller(_spec(tmp_path, unique_name))
    await asyncio.sleep(1.0)  # the controller has read (and the server cached) an idle queue
    assert running.workers() == 0
    client = await Client.connect(temporal_address)
    result = await asyncio.wait_for(_run(client, unique_name, 0.2), 120)
    assert result.startswith("done")
    await running.wait_for(lambda: running.workers() == 0, timeout_s=90)


async def test_a_burst_at_zero_scales_out_and_back(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    running = await run_controller(_spec(tmp_path, unique_name))
    client = await Client.connect(temporal_address)
    results = await asyncio.wait_for(
        asyncio.gather(*(_run(client, unique_name, 1.0) for _ in range(40))), 180
    )
    assert len(results) == 40 and all(r.startswith("done") for r in results)
    assert 2 <= running.peak("workers") <= 6
    await running.wait_for(lambda: running.workers() == 0, timeout_s=120)


async def test_a_trickle_is_served_task_by_task(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    running = await run_controller(_spec(tmp_path, unique_name))
    client = await Client.connect(temporal_address)
    results = []
    for _ in range(4):
        results.append(await asyncio.wait_for(_run(client, unique_name, 0.2), 120))
        await asyncio.sleep(2.0)
    assert all(r.startswith("done") for r in results)
    # The size asked for, not the processes alive: each task may get a fresh worker while the
    # last one still exits, and on a loaded machine exits take seconds.
    assert running.peak_desired("workers") <= 2, "a trickle never needs more than a worker or two"
    await running.wait_for(lambda: running.workers() == 0, timeout_s=120)


async def test_small_storms_that_recur_within_a_long_slo_share_a_start(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    """Storms of 8 workflows every 8 s at a 20 s SLO: once the group has learned that its tasks
    come back within the time a storm may wait, a storm that finds it at zero waits for the
    next, and both share one start (``slo_idle.first_worker_deferred``)."""
    group = subprocess_group(slots=4)
    details = {**SLO_SCALER, "schedule_to_start_slo_ms": 20_000, "min_count": 0, "max_count": 6}
    group["scaler"] = {"type": "slo", "details": details}
    groups = {"workers": group}
    spec = write_spec(
        tmp_path / "deploy.yaml", name=unique_name, task_queue=unique_name, groups=groups
    )
    running = await run_controller(spec)
    client = await Client.connect(temporal_address)
    storms, pending = 7, []
    for _ in range(storms):
        pending += [asyncio.ensure_future(_run(client, unique_name, 0.3)) for _ in range(8)]
        await asyncio.sleep(8.0)
    results = await asyncio.wait_for(asyncio.gather(*pending), 180)
    assert len(results) == 8 * storms and all(r.startswith("done") for r in results)
    sizes = [s.desired or 0 for cycle in running.history for s in cycle if s.group_id == "workers"]
    starts = sum(1 for before, after in itertools.pairwise(sizes) if before == 0 < after)
    reasons = [s.last_reason for cycle in running.history for s in cycle]
    assert any("deferred: the oldest task can wait for more" in r for r in reasons)
    assert starts < storms, f"{starts} starts for {storms} storms"
    await running.wait_for(lambda: running.workers() == 0, timeout_s=120)
