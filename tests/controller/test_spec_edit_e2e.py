"""A spec edited while its workers run, end to end on a real dev server with real worker
processes: the workers of the old spec finish what they hold and leave, workers of the new spec
take the queue, and no task is lost or run twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from tests.controller.support import subprocess_group, write_spec
from workerplane.providers.subprocess.layout import group_directory

pytestmark = pytest.mark.integration


def _live_workers(state_dir: Path, key: str) -> dict[int, str]:
    """``pid -> environment`` of every live worker the group's records name."""
    workers = {}
    for record in group_directory(state_dir, key, "workers").glob("w-*.json"):
        pid = json.loads(record.read_text())["pid"]
        try:
            workers[pid] = Path(f"/proc/{pid}/environ").read_text()
        except OSError:
            continue
    return workers


async def test_an_edit_of_the_workers_env_replaces_them_without_losing_a_task(
    temporal_address: str, tmp_path: Path, unique_name: str, run_controller
) -> None:
    def group(release: str) -> dict[str, object]:
        spec = subprocess_group(slots=2, scaler={"min_count": 1})
        spec["provider"]["details"]["env"] = {"RELEASE": release}  # type: ignore[index]
        return spec

    path = tmp_path / "deploy.yaml"
    write_spec(path, name=unique_name, task_queue=unique_name, groups={"workers": group("1")})
    running = await run_controller(path)
    await running.wait_for(lambda: running.workers() >= 1)
    client = await Client.connect(temporal_address)
    # Long enough to still run when the edit lands: it must finish on the old worker.
    long_one = await client.start_workflow(
        ProcessItem.run, 8.0, id=f"{unique_name}-long", task_queue=unique_name
    )
    await asyncio.sleep(2.0)

    write_spec(path, name=unique_name, task_queue=unique_name, groups={"workers": group("2")})
    after = [
        await client.start_workflow(
            ProcessItem.run, 0.3, id=f"{unique_name}-{uuid.uuid4().hex[:8]}", task_queue=unique_name
        )
        for _ in range(6)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in after)), 120)
    assert all(r.endswith("(attempt 1)") for r in results), results
    assert await asyncio.wait_for(long_one.result(), 120) == "done after 8.0s (attempt 1)"

    def new_workers() -> set[int]:
        live = _live_workers(running.state_dir, unique_name)
        return {pid for pid, env in live.items() if "RELEASE=2\0" in env}

    def back_to_one_new_worker() -> bool:
        live = _live_workers(running.state_dir, unique_name)
        return len(live) == 1 and len(new_workers()) == 1

    await running.wait_for(back_to_one_new_worker, timeout_s=60)
    # It stays: the old provider let go of the group without taking its lease along (idle
    # workers leave when it goes stale, in 5 s, and would be started again, over and over).
    settled = new_workers()
    await asyncio.sleep(8.0)
    assert new_workers() == settled
