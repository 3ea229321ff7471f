"""Rollouts end to end: ``workerplane serve`` (API, controller, rollout runner) with real versioned
workers on a real Temporal dev server.

One deployment goes through four builds: v1 (the first: current once its gate passed), v2
(progressive, gated, while pinned workflows stay open on v1: they finish on v1), v3 (ramped, then
rolled back) and v4 (its gate fails: the rollout stops and says why). No workflow fails or is
retried (each activity reports its attempt). Every wait is for an outcome, never for a time.
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
from rollout_worker import PinnedOrder
from temporalio.client import Client, WorkflowExecutionStatus

from workerplane.api.server import ServeConfig, serve
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _version(build_id: str, queue: str, rollout: dict[str, Any]) -> dict[str, Any]:
    return {
        "build_id": build_id, "task_queues": [queue],
        "compute_config": {"scaling_groups": {"workers": {
            "provider": {"type": "subprocess", "details": {
                "command": sys.executable, "args": ["-m", "tests.controller.rollout_worker"],
                "cwd": str(REPO_ROOT), "idle_exit_s": None,
            }},
            "scaler": {"type": "backlog", "details": {
                "min_count": 1, "max_count": 2, "target_per_worker": 4,
                "metrics_poll_interval_ms": 300,
            }},
        }}},
        "rollout": rollout,
    }  # fmt: skip


async def test_progressive_gated_rollouts_a_rollback_and_a_failed_gate(
    temporal_address: str, tmp_path: Path, unique_name: str
) -> None:
    token = generate_token()
    port = free_port()
    config = ServeConfig(
        state_dir=tmp_path / "state", port=port, temporal_address=temporal_address,
        tokens=(token,), refresh_s=0.3, temporal_routing=True,
    )  # fmt: skip
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop=stop))
    name = "ro-" + uuid.uuid4().hex[:8]
    queue = f"{name}-q"
    rollout = f"/v1/worker-deployments/{name}/rollout"
    gate = {"workflow_type": "Smoke", "input": True, "timeout": "2m"}
    temporal = await Client.connect(temporal_address)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as c:  # fmt: skip
            await until(c, "/healthz", lambda _: True)
            assert (await c.post("/v1/worker-deployments", json={"name": name})).status_code == 201

            # v1, the first build: its gate passes on v1, then it is current.
            progressive = {
                "strategy": "progressive", "gate": gate,
                "steps": [{"ramp_percentage": 25, "pause": 0}, {"ramp_percentage": 50, "pause": 1}],
            }  # fmt: skip
            created = await c.post(
                f"/v1/worker-deployments/{name}/versions", json=_version("v1", queue, progressive)
            )
            assert created.status_code == 201, created.text
            done = await until(c, rollout, lambda r: r["phase"] in ("succeeded", "failed"))
            assert done["phase"] == "succeeded" and done["gate"] == "passed", done
            gate_run = temporal.get_workflow_handle(done["gate_workflow_id"])
            assert await gate_run.result() == "v1:1"
            assert (await temporal_routing(temporal, name))[0] == "v1"

            # Pinned workflows open on v1 while v2 rolls out.
            orders = [
                await temporal.start_workflow(
                    PinnedOrder.run, id=f"{name}-order-{i}", task_queue=queue
                )
                for i in range(3)
            ]
            for order in orders:
                while True:
                    info = (await order.describe()).raw_description.workflow_execution_info
                    if info.versioning_info.deployment_version.build_id == "v1":
                        break
                    await asyncio.sleep(0.3)

            # v2: one POST with only the build ID (compute config and rollout copied).
            created = await c.post(
                f"/v1/worker-deployments/{name}/versions", json={"build_id": "v2"}
            )
            assert created.status_code == 201, created.text
            done = await until(c, rollout, lambda r: r["target_version"] == "v2"
                                and r["phase"] in ("succeeded", "failed"))  # fmt: skip
            assert done["phase"] == "succeeded" and done["gate"] == "passed", done
            seen = [e["message"] for e in done["events"]]
            assert "Temporal ramps 25% to v2 (step 1/2)" in seen, seen
            assert "Temporal ramps 50% to v2 (step 2/2)" in seen, seen
            assert await temporal.get_workflow_handle(done["gate_workflow_id"]).result() == "v2:1"
            assert await temporal_routing(temporal, name) == ("v2", "", 0.0)
            v1 = (await c.get(f"/v1/worker-deployments/{name}/versions/v1")).json()
            assert v1["draining"] is True
            # The pinned workflows finish on v1, with no retry.
            for order in orders:
                await order.signal(PinnedOrder.finish)
            assert [await o.result() for o in orders] == ["v1:1"] * 3

            # v3: ramped, then rolled back: v2 current again, no ramp.
            held = {"strategy": "progressive", "steps": [{"ramp_percentage": 40, "pause": "1h"}]}
            body = {"build_id": "v3", "rollout": held}
            assert (await c.post(f"/v1/worker-deployments/{name}/versions", json=body)).is_success
            ramped = await until(c, rollout, lambda r: r["target_version"] == "v3"
                                  and r["next_step_at"] is not None)  # fmt: skip
            assert (ramped["step"], ramped["ramp_percentage"]) == (1, 40)
            assert await temporal_routing(temporal, name) == ("v2", "v3", 40.0)
            assert (await c.post(f"{rollout}/rollback")).status_code == 200
            back = await until(c, rollout, lambda r: r["phase"] == "rolled-back")
            assert back["reason"] == "rolled back: v2 is current again"
            assert await temporal_routing(temporal, name) == ("v2", "", 0.0)
            assert (await c.post(f"{rollout}/rollback")).status_code == 409

            # v4: its gate fails; the rollout stops, says why, and routing stays on v2.
            failing = {"strategy": "all-at-once", "gate": {**gate, "input": False}}
            body = {"build_id": "v4", "rollout": failing}
            assert (await c.post(f"/v1/worker-deployments/{name}/versions", json=body)).is_success
            failed = await until(c, rollout, lambda r: r["target_version"] == "v4"
                                  and r["phase"] in ("failed", "succeeded"))  # fmt: skip
            assert failed["phase"] == "failed" and failed["gate"] == "failed", failed
            assert "smoke test failed: checkout returned 500" in failed["reason"]
            assert await temporal_routing(temporal, name) == ("v2", "", 0.0)
            gate_run = temporal.get_workflow_handle(failed["gate_workflow_id"])
            assert (await gate_run.describe()).status == WorkflowExecutionStatus.FAILED
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 90)
