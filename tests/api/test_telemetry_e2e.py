"""End to end: ``workerplane serve`` on PostgreSQL and a real Temporal dev server records the
telemetry of a burst on an endpoint. The metrics route shows the workers rising and falling, the
events route the scale-up decision with the scaler's reason; after a restart of the whole app
the same data is served again."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from test_serve_e2e import REPO_ROOT, _wait

from examples.app import ProcessItem
from workerplane.api.server import ServeConfig, serve
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port

pytestmark = pytest.mark.integration

#: How often the controller's telemetry writes its buffered samples.
FLUSH_INTERVAL_S = 2.0


@contextlib.asynccontextmanager
async def serving(config: ServeConfig, token: str) -> Any:
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop=stop))
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{config.port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ) as client:
            await _wait(client, "/healthz", lambda r: r.status_code == 200)
            yield client
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, 60)


def _kept_all(before: list[Any], after: list[Any]) -> bool:
    """Whether ``after`` still holds every item of ``before``, in order.

    The telemetry buffers samples and flushes them every 2 s (and once more at shutdown), so a
    later read of the same window may also hold samples stamped inside it but written after the
    first read; none charted before may be lost.
    """
    remaining = iter(after)
    return all(any(item == later for later in remaining) for item in before)


async def _settled(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], timeout_s: float = 60
) -> Any:
    """The metrics of a closed window once every sample stamped inside it has been written.

    The telemetry buffers samples and flushes them every 2 s, so the window's last bucket
    may still grow (and its maxima and means change) for a flush interval after ``until``.
    Two reads a flush interval apart that agree mean the window is complete.
    """
    deadline = time.monotonic() + timeout_s
    before = (await client.get(path, params=params)).json()
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S + 0.5)
        after = (await client.get(path, params=params)).json()
        if after == before:
            return after
        assert time.monotonic() < deadline, f"{path} still changing: {after}"
        before = after


def _rose_and_fell(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return False
    running = [s["workers_running"] for s in response.json()["samples"]]
    return bool(running) and max(running) >= 2 and running[-1] == 0


async def test_a_burst_is_charted_and_logged_and_survives_a_restart(
    temporal_address: str,
    pg_url: str,
    tmp_path: Path,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO_ROOT)  # the example worker is `python -m examples.worker`
    token = generate_token()
    config = ServeConfig(
        state_dir=tmp_path / "state",
        port=free_port(),
        database_url=pg_url,
        temporal_address=temporal_address,
        tokens=(token,),
        refresh_s=0.3,
        temporal_routing=False,
    )
    name = "tel-" + str(abs(hash(unique_name)) % 10**8)
    queue = f"{name}-q"
    body = {
        "name": name,
        "endpoint_type": "temporal",
        "temporal_task_queue": queue,
        "command": [sys.executable, "-m", "examples.worker"],
        "min_workers": 0,
        "max_workers": 3,
        "per_worker": 2,
    }
    async with serving(config, token) as c:
        created = await c.post("/v1/endpoints", json=body)
        assert created.status_code == 201, created.text
        await _wait(c, f"/v1/endpoints/{name}", lambda r: r.json()["status"] == "READY", 90)

        temporal = await Client.connect(temporal_address)
        handles = [
            await temporal.start_workflow(
                ProcessItem.run, 1.0, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            for _ in range(12)
        ]
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)

        # Back to zero after the scaler's idle cooldown: the chart shows the rise and the fall.
        metrics_path = f"/v1/endpoints/{name}/metrics?since=30m"
        charted = (await _wait(c, metrics_path, _rose_and_fell, 120)).json()
        window = {"since": charted["since"], "until": charted["until"]}
        metrics = await _settled(c, f"/v1/endpoints/{name}/metrics", window)
        assert (metrics["deployment"], metrics["build_id"], metrics["group"]) == (
            name,
            "default",
            "workers",
        )
        kinds = [a["kind"] for a in metrics["actions"]]
        assert "scale_up" in kinds and "scale_down" in kinds
        # Each of the 12 activities' schedule-to-start, as its worker measured it.
        achieved = metrics["schedule_to_start"]
        assert achieved is not None and achieved["count"] == 12, achieved
        assert achieved["p50_s"] <= achieved["p95_s"] <= achieved["p99_s"]
        assert any(s["schedule_to_start_p95_s"] is not None for s in metrics["samples"])
        by_group = await c.get(
            f"/v1/worker-deployments/{name}/versions/default/groups/workers/metrics",
            params=window,
        )
        assert _kept_all(metrics["samples"], by_group.json()["samples"])

        events = (await c.get(f"/v1/endpoints/{name}/events?since=30m&kind=decision")).json()
        ups = [e for e in events["events"] if e["message"].startswith("scaled up")]
        assert ups, events
        assert ups[-1]["reason"] and ups[-1]["reason"] in ups[-1]["message"]
        assert (ups[-1]["deployment"], ups[-1]["group"], ups[-1]["severity"]) == (
            name,
            "workers",
            "info",
        )
        everything = (await c.get("/v1/events", params={"deployment": name, "since": "30m"})).json()
        assert "readiness" in {e["kind"] for e in everything["events"]}

    async with serving(config, token) as again:
        kept = (await again.get(f"/v1/endpoints/{name}/metrics", params=window)).json()
        assert _kept_all(metrics["samples"], kept["samples"])
        assert _kept_all(metrics["actions"], kept["actions"])
        kept_events = (
            await again.get(f"/v1/endpoints/{name}/events?since=30m&kind=decision")
        ).json()
        assert {e["id"] for e in events["events"]} <= {e["id"] for e in kept_events["events"]}
