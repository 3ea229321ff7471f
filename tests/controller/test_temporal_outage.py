"""The Temporal server goes away mid-burst: the controller keeps the size, then recovers."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import subprocess_group, write_spec
from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.temporal.devserver import free_port, start_dev_server

pytestmark = pytest.mark.integration


async def test_metrics_outage_never_scales_to_zero(tmp_path: Path, unique_name: str) -> None:
    port = free_port()
    db = tmp_path / "temporal.db"
    server = start_dev_server(port=port, db_file=db, log_file=tmp_path / "server.log")
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(slots=2)},
    )
    history: list = []
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(tmp_path / "state" / "status.json"),
        ControllerSettings(state_dir=tmp_path / "state", address=server.address, refresh_s=0.2),
        on_cycle=history.append,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    try:
        client = await Client.connect(server.address)
        ids = [f"{unique_name}-{uuid.uuid4().hex[:6]}" for _ in range(8)]
        for workflow_id in ids:
            await client.start_workflow(
                ProcessItem.run, 4.0, id=workflow_id, task_queue=unique_name
            )
        deadline = time.monotonic() + 60
        while sum(s.workers_running for s in controller.statuses()) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)

        server.stop()
        outage_start = len(history)
        await asyncio.sleep(3.0)
        during = [s for snap in history[outage_start:] for s in snap]
        assert any(not s.metrics_ok for s in during), "the outage is visible in the status"
        assert any(s.last_error and "metrics unavailable" in s.last_error for s in during)
        blind = [s for s in during if not s.metrics_ok]
        assert blind and min(s.desired or 0 for s in blind) >= 2, "never scale down on missing data"

        server = start_dev_server(port=port, db_file=db, log_file=tmp_path / "server.log")
        client = await Client.connect(server.address)
        results = await asyncio.wait_for(
            asyncio.gather(*(client.get_workflow_handle(i).result() for i in ids)), 180
        )
        assert len(results) == 8
        deadline = time.monotonic() + 60
        while sum(s.workers_running for s in controller.statuses()) > 0:
            assert time.monotonic() < deadline, "did not scale back to zero after recovery"
            await asyncio.sleep(0.2)
        assert all(s.metrics_ok and s.last_error is None for s in controller.statuses())
    finally:
        stop.set()
        await task
        await controller.shutdown(drain=True)
        server.stop()
