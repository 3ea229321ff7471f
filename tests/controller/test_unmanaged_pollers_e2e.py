"""Unmanaged pollers on a real dev server: a managed group keeps its own workers on a queue, a
worker started by hand (a plain ``temporalio`` Worker, no marker) polls it too. The status
reports it; by default it is not capacity, and with ``unmanaged_pollers: count`` it is."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest
import yaml
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from tests.controller.support import RunningController, subprocess_group, write_spec
from workerplane.planning.status import GroupStatus

pytestmark = pytest.mark.integration

BY_HAND = "by-hand@test-laptop"


@activity.defn(name="unmanaged-noop")
async def noop() -> None:
    """Lets the hand-started worker poll the queue's activity tasks (none ever comes)."""


def _group(running: RunningController) -> GroupStatus | None:
    return next(iter(running.controller.statuses()), None)


def _reports_by_hand(running: RunningController) -> bool:
    status = _group(running)
    return status is not None and BY_HAND in status.unmanaged_identities


def _set_unmanaged_pollers(spec: Path, value: str) -> None:
    data = yaml.safe_load(spec.read_text())
    data["unmanaged_pollers"] = value
    spec.write_text(yaml.safe_dump(data))
    # A new mtime, also on filesystems with coarse timestamps: the controller reloads on it.
    stat = spec.stat()
    os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


async def test_a_worker_started_by_hand_is_reported_and_excluded_unless_counted(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    spec = write_spec(
        tmp_path / "deploy.yaml",
        name=unique_name,
        task_queue=unique_name,
        groups={"workers": subprocess_group(scaler={"min_count": 1, "max_count": 3})},
    )
    running = await run_controller(spec)
    await running.wait_for(lambda: running.workers() == 1)
    # The group's own worker polls under its deployment's marker: it is not unmanaged.
    await running.wait_for(lambda: (s := _group(running)) is not None and s.pollers >= 1)
    assert _group(running).unmanaged_pollers == 0  # type: ignore[union-attr]

    client = await Client.connect(temporal_address, identity=BY_HAND)
    by_hand = Worker(client, task_queue=unique_name, activities=[noop])
    worker_task = asyncio.create_task(by_hand.run())
    try:
        await running.wait_for(lambda: _reports_by_hand(running), timeout_s=120)
        status = _group(running)
        assert status is not None
        assert status.unmanaged_pollers == 1 and not status.unmanaged_counted
        # Not capacity by default: the group keeps its own minimum of workers.
        assert running.workers() == 1 and status.desired == 1

        _set_unmanaged_pollers(spec, "count")
        # Counted: the hand-started worker covers the minimum, so the group needs none of its own.
        await running.wait_for(
            lambda: (
                (s := _group(running)) is not None
                and s.unmanaged_counted
                and s.desired == 0
                and running.workers() == 0
            ),
            timeout_s=120,
        )
    finally:
        await by_hand.shutdown()
        with contextlib.suppress(Exception):
            await worker_task
