"""End to end: ``workerplane serve`` (API + controller in one event loop) drives real subprocess
workers on a real Temporal dev server. Endpoint create / min-max updates / delete change the live
worker count, observed through the API (available_workers = workers polling)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from workerplane.api.server import ServeConfig, serve
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _wait(
    client: httpx.AsyncClient,
    path: str,
    ok: Callable[[httpx.Response], bool],
    timeout_s: float = 60,
) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response: httpx.Response | None = await client.get(path)
        except httpx.TransportError:  # the server is still starting
            response = None
        if response is not None and ok(response):
            return response
        if time.monotonic() > deadline:
            detail = f"{response.status_code} {response.text[:800]}" if response else "no answer"
            raise AssertionError(f"timed out waiting on {path}: {detail}")
        await asyncio.sleep(0.3)


@pytest.mark.integration
async def test_endpoint_lifecycle_drives_real_workers(
    temporal_address: str, tmp_path: Path, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the example worker is `python -m examples.worker`
    token = generate_token()
    port = free_port()
    config = ServeConfig(
        state_dir=tmp_path / "state", port=port, temporal_address=temporal_address,
        tokens=(token,), refresh_s=0.3, temporal_routing=False,
    )  # fmt: skip
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop=stop))
    name = "e2e-" + str(abs(hash(unique_name)) % 10**8)
    body: dict[str, Any] = {
        "name": name, "endpoint_type": "temporal", "temporal_task_queue": f"{name}-q",
        "command": [sys.executable, "-m", "examples.worker"],
        "min_workers": 2, "max_workers": 4, "per_worker": 4, "request_id": "create-1",
    }  # fmt: skip

    def ready_with(n: int) -> Callable[[httpx.Response], bool]:
        return lambda r: (
            r.status_code == 200
            and r.json()["status"] == "READY"
            and r.json()["available_workers"] == n
            and r.json()["unavailable_workers"] == 0
        )

    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as c:  # fmt: skip
            await _wait(c, "/healthz", lambda r: r.status_code == 200)
            created = await c.post("/v1/endpoints", json=body)
            assert created.status_code == 201, created.text
            assert created.json()["status"] in ("UPDATE_PENDING", "UPDATE_IN_PROGRESS")
            r = await _wait(c, f"/v1/endpoints/{name}", ready_with(2), 90)
            version = (await c.get(f"/v1/worker-deployments/{name}/versions/default")).json()
            group = version["compute_status"]["scaling_groups"]["workers"]
            assert group["current_size"] == 2 and group["last_decision"]

            # min up: the running set grows.
            token_now = r.json()["conflict_token"]
            up = await c.put(
                f"/v1/endpoints/{name}", json={"min_workers": 3, "conflict_token": token_now}
            )
            assert up.status_code == 200, up.text
            await _wait(c, f"/v1/endpoints/{name}", ready_with(3), 90)

            # max down: the running set shrinks at once to the new max.
            down = await c.put(f"/v1/endpoints/{name}", json={"min_workers": 1, "max_workers": 1})
            assert down.status_code == 200, down.text
            await _wait(c, f"/v1/endpoints/{name}", ready_with(1), 90)

            # delete: drains, then the endpoint is gone.
            deleted = await c.delete(f"/v1/endpoints/{name}")
            assert deleted.status_code == 202
            assert deleted.json()["status"] == "DELETE_IN_PROGRESS"
            await _wait(c, f"/v1/endpoints/{name}", lambda r: r.status_code == 404, 90)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 60)
