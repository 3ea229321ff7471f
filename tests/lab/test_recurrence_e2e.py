"""Inferred recurrence end to end: an external loop (no Temporal Schedule) starts a fan-out on a
queue the real controller manages with real subprocess workers, every 15 s.

After three bursts at near-equal intervals the controller has inferred the period from what it
observes anyway (no schedule is read: ``prewarm.enabled`` is off) and warms the group ahead of the
fourth: a worker is polling before it lands, and the status lists the inferred warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.lab.prewarm_run import (
    GROUP,
    ScheduledBatch,
    scaler_details,
    write_group_deployment,
)
from workerplane.planning.recurrence import INFERRED_ID
from workerplane.planning.status import GroupStatus
from workerplane.temporal.connection import ResolvedConnection, connect

pytestmark = pytest.mark.integration

INTERVAL_S = 15.0
BURSTS = 4


async def test_bursts_without_a_schedule_find_a_warm_worker(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    batch = ScheduledBatch(interval_s=INTERVAL_S, tasks=12, task_s=1.0, slots=4, max_count=4)
    # A generous margin: the machine may be loaded, and the test is about behaviour, not timing.
    details = scaler_details(batch, {"margin_ms": 3_000})
    spec = write_group_deployment(tmp_path / "deploy.yaml", unique_name, batch, details)
    history: list[tuple[float, list[GroupStatus]]] = []
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(tmp_path / "status.json"),
        ControllerSettings(state_dir=tmp_path, address=temporal_address, refresh_s=0.5),
        on_cycle=lambda statuses: history.append((time.time(), list(statuses))),
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(controller.run(stop))
    client = await connect(ResolvedConnection(address=temporal_address, namespace="default"))
    started: list[float] = []
    try:
        await asyncio.sleep(5.0)  # the controller's first cycles: the group idles at zero
        first = time.time()
        for burst in range(BURSTS):
            await asyncio.sleep(max(0.0, first + burst * INTERVAL_S - time.time()))
            started.append(time.time())
            handle = await client.start_workflow(
                "ProcessBatch",
                args=[batch.tasks, batch.task_s],
                id=f"{unique_name}-{burst}",
                task_queue=unique_name,
            )
        await asyncio.wait_for(handle.result(), timeout=120.0)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await loop
        await controller.shutdown(drain=True)

    def polling_before(at: float) -> bool:
        return any(
            at - 1.0 <= t < at and s.group_id == GROUP and (s.workers_ready or 0) > 0
            for t, statuses in history
            for s in statuses
        )

    warmups = [w for _, statuses in history for s in statuses for w in s.warmups]
    assert any(w.schedule_id == INFERRED_ID for w in warmups), "no inferred warm-up listed"
    assert all(w.basis.startswith("inferred: every ") for w in warmups), warmups
    assert polling_before(started[-1]), "no worker was polling before the fourth burst"
