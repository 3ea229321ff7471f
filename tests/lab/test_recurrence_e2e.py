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
from workerplane.lab.prewarm_measure import polling_at
from workerplane.lab.prewarm_run import ScheduledBatch, scaler_details, write_group_deployment
from workerplane.planning.recurrence import INFERRED_ID
from workerplane.planning.status import GroupStatus
from workerplane.temporal.connection import ResolvedConnection, connect

pytestmark = pytest.mark.integration

INTERVAL_S = 15.0
BURSTS = 4


ATTEMPTS = 2


async def test_bursts_without_a_schedule_find_a_warm_worker(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    """Each burst's activities land once a worker has run its workflow's first task, so their
    onset moves with a cold start: on a loaded machine, by more than the poll of jitter the
    period allows. A second attempt on a fresh queue then runs the same scenario; one of them
    must show the inferred warm-up and a worker polling before the fourth burst."""
    failure = ""
    for attempt in range(ATTEMPTS):
        name = f"{unique_name}-{attempt}"
        history, started = await _run_bursts(temporal_address, tmp_path / name, name)
        failure = _missed(history, started)
        if not failure:
            return
    raise AssertionError(f"{failure} (in each of {ATTEMPTS} attempts)")


async def _run_bursts(
    address: str, workdir: Path, name: str
) -> tuple[list[tuple[float, list[GroupStatus]]], list[float]]:
    """Bursts every ``INTERVAL_S`` on a managed queue; every published cycle, with its time."""
    workdir.mkdir(parents=True)
    batch = ScheduledBatch(interval_s=INTERVAL_S, tasks=12, task_s=1.0, slots=4, max_count=4)
    # A generous margin: the machine may be loaded, and the test is about behaviour, not timing.
    details = scaler_details(batch, {"margin_ms": 3_000})
    spec = write_group_deployment(workdir / "deploy.yaml", name, batch, details)
    history: list[tuple[float, list[GroupStatus]]] = []
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(workdir / "status.json"),
        ControllerSettings(state_dir=workdir, address=address, refresh_s=0.5),
        on_cycle=lambda statuses: history.append((time.time(), list(statuses))),
    )
    stop = asyncio.Event()
    loop = asyncio.create_task(controller.run(stop))
    client = await connect(ResolvedConnection(address=address, namespace="default"))
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
                id=f"{name}-{burst}",
                task_queue=name,
            )
        await asyncio.wait_for(handle.result(), timeout=120.0)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await loop
        await controller.shutdown(drain=True)
    return history, started


def _missed(history: list[tuple[float, list[GroupStatus]]], started: list[float]) -> str:
    """What the run missed of the behaviour ("" when nothing)."""
    warmups = [w for _, statuses in history for s in statuses for w in s.warmups]
    if not any(w.schedule_id == INFERRED_ID for w in warmups):
        return "no inferred warm-up listed"
    wrong = [w for w in warmups if not w.basis.startswith("inferred: every ")]
    if wrong:
        return f"warm-ups not inferred: {wrong}"
    last = started[-1]
    return "" if polling_at(history, last) else "no worker was polling before the fourth burst"
