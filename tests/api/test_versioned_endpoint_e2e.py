"""A versioned endpoint end to end: ``workerplane serve`` (API, controller, rollout runner) with
real subprocess workers on a real Temporal dev server.

The workers run ``tests/controller/rollout_worker.py`` (workflow ``PinnedOrder``, signal
``finish``). A change to the endpoint's worker definition (its env here) is a new build: v2
takes new workflows once its rollout made it current, while a workflow pinned to v1 finishes on
v1. Every wait is for an outcome, never for a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support.rollout_waits import temporal_routing, until
from temporalio.client import Client, WorkflowHandle

from workerplane.api.server import ServeConfig, serve
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


async def _pinned_to(order: WorkflowHandle[Any, Any], build_id: str) -> None:
    while True:
        info = (await order.describe()).raw_description.workflow_execution_info
        if info.versioning_info.deployment_version.build_id == build_id:
            return
        await asyncio.sleep(0.3)


async def test_a_new_env_is_a_new_build_while_pinned_work_finishes_on_the_old(
    temporal_address: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the worker is `python -m tests.controller.rollout_worker`
    token = generate_token()
    port = free_port()
    config = ServeConfig(
        state_dir=tmp_path / "state", port=port, temporal_address=temporal_address,
        tokens=(token,), refresh_s=0.3, temporal_routing=True,
    )  # fmt: skip
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop=stop))
    name = "ve-" + uuid.uuid4().hex[:8]
    queue = f"{name}-q"
    path = f"/v1/endpoints/{name}"
    temporal = await Client.connect(temporal_address)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as c:  # fmt: skip
            await until(c, "/healthz", lambda _: True)
            body = {
                "name": name, "endpoint_type": "temporal", "temporal_task_queue": queue,
                "command": [sys.executable, "-m", "tests.controller.rollout_worker"],
                "env": {"RELEASE": "1"}, "min_workers": 1, "max_workers": 2,
                "versioning": {"build_id": "auto"},
            }  # fmt: skip
            created = await c.post("/v1/endpoints", json=body)
            assert created.status_code == 201, created.text
            v1 = created.json()["build_id"]
            done = await until(c, path, lambda e: e["rollout"]["phase"] == "succeeded")
            assert done["rollout"]["target_version"] == v1
            assert (await temporal_routing(temporal, name))[0] == v1

            old = await temporal.start_workflow("PinnedOrder", id=f"{name}-old", task_queue=queue)
            await _pinned_to(old, v1)

            changed = await c.put(path, json={"env": {"RELEASE": "2"}})
            assert changed.status_code == 200, changed.text
            v2 = changed.json()["build_id"]
            assert v2 != v1
            done = await until(
                c, path, lambda e: e["rollout"]["target_version"] == v2
                and e["rollout"]["phase"] in ("succeeded", "failed"),
            )  # fmt: skip
            assert done["rollout"]["phase"] == "succeeded", done["rollout"]
            assert (await temporal_routing(temporal, name))[0] == v2

            new = await temporal.start_workflow("PinnedOrder", id=f"{name}-new", task_queue=queue)
            await _pinned_to(new, v2)
            await new.signal("finish")
            await old.signal("finish")
            assert await new.result() == f"{v2}:1"
            assert await old.result() == f"{v1}:1"
            drained = await c.get(f"/v1/worker-deployments/{name}/versions/{v1}")
            assert drained.json()["draining"] is True
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 90)
