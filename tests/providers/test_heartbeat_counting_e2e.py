"""A webhook group's census counts its workers' tasks from their heartbeats, end to end.

Everything is real: the Temporal dev server (its ``ListWorkers``); the example webhook launcher
(``examples/webhook_launcher.py``) on loopback, starting and stopping real worker processes
(``python -m examples.worker``, workerplane's runtime) the way Nomad or Modal would, with the
marker and connection each request gives; and the provider as the controller builds it
(:func:`build_provider`). The launcher stands in for any platform whose census cannot count
tasks: an ECS service or a Cloud Run worker pool reads the same heartbeats, but no emulator of
those runs containers.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from examples.webhook_launcher import LocalLauncher, serve
from workerplane.planning.identity import MARKER_ENV, WorkerMarker
from workerplane.providers.base import Provider, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.heartbeat_counting import HeartbeatCountingProvider
from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV
from workerplane.providers.webhook.signature import SIGNATURE_HEADER, sign
from workerplane.scaling.types import WorkerCensus
from workerplane.worker.runtime import SLOTS_ENV

pytestmark = pytest.mark.integration

SECRET = "launcher-secret"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example launcher (``examples/webhook_launcher.py``) on loopback, starting the example
    worker with 4 slots."""
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the launcher is on loopback
    state = LocalLauncher(
        secret=SECRET,
        command=[sys.executable, "-m", "examples.worker"],
        env={SLOTS_ENV: "4", "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"},
    )
    server = serve(state)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/workers"
    server.shutdown()
    server.server_close()
    state.stop_all(timeout_s=5.0)


async def _until(
    provider: Provider, check: Callable[[WorkerCensus], bool], timeout_s: float = 60.0
) -> WorkerCensus:
    deadline = time.monotonic() + timeout_s
    while True:
        census = await provider.census()
        if check(census):
            return census
        assert time.monotonic() < deadline, f"timed out; last census {census}"
        await asyncio.sleep(0.3)


async def test_a_webhook_group_counts_its_workers_tasks_from_their_heartbeats(
    launcher: str, temporal_address: str, unique_name: str, tmp_path: Path
) -> None:
    url = launcher
    marker = WorkerMarker("shop", "default", "acts")
    provider = build_provider(
        "webhook",
        {"url": url, "secret": SECRET, "strategy": "worker-set", "timeout_s": 10.0},
        deployment="shop",
        group_id="acts",
        worker_env=WorkerEnvironment(
            address=temporal_address,
            namespace="default",
            task_queues=(unique_name,),
            extra_env={MARKER_ENV: marker.text},
        ),
        state_dir=tmp_path,
    )
    assert isinstance(provider, HeartbeatCountingProvider)
    client = await Client.connect(temporal_address)
    try:
        await provider.set_size(2)
        ready = await _until(provider, lambda c: c.ready == 2 and c.in_flight is not None)
        assert (ready.in_flight, ready.slots, ready.tasks_completed) == (0, 4, 0)

        handles = [
            await client.start_workflow(
                ProcessItem.run, 3.0, id=f"{unique_name}-{i}", task_queue=unique_name
            )
            for i in range(6)
        ]
        busy = await _until(provider, lambda c: (c.in_flight or 0) >= 6)
        assert busy.in_flight == 6 and busy.ready == 2, "6 activities of 3 s on 8 slots"
        results: list[Awaitable[str]] = [h.result() for h in handles]
        await asyncio.gather(*results)
        done = await _until(provider, lambda c: c.tasks_completed == 6 and c.in_flight == 0)
        assert done.mean_task_s is not None and 2.5 <= done.mean_task_s <= 4.5

        await provider.set_size(0)
        gone = await _until(provider, lambda c: c.ready == 0)
        assert gone.in_flight == 0 and gone.tasks_completed == 6, "their work stays counted"
    finally:
        await provider.close()


async def test_invoked_workers_are_counted_while_they_beat_and_not_once_they_leave_idle(
    launcher: str, temporal_address: str, unique_name: str, tmp_path: Path
) -> None:
    """Invoke strategy: the provider's own count is every worker started within its TTL (an
    upper bound); the heartbeats say which of them still run, and a worker that left once idle
    (the launcher's 10 s) says so in its last one."""
    marker = WorkerMarker("shop", "default", "burst")
    provider = build_provider(
        "webhook",
        {"url": launcher, "secret": SECRET, "worker_ttl_s": 600, "timeout_s": 10.0},
        deployment="shop",
        group_id="burst",
        worker_env=WorkerEnvironment(
            address=temporal_address,
            namespace="default",
            task_queues=(unique_name,),
            extra_env={MARKER_ENV: marker.text},
        ),
        state_dir=tmp_path,
    )
    try:
        assert await provider.invoke(2) == 2
        up = await _until(provider, lambda c: c.ready == 2)
        assert (up.running, up.in_flight) == (2, 0)
        left = await _until(provider, lambda c: c.ready == 0)
        assert left.running == 2 and left.in_flight == 0, "the TTL count stays; none is ready"
    finally:
        await provider.close()


def test_the_launcher_refuses_a_request_not_signed_with_its_secret(launcher: str) -> None:
    body = b'{"action": "set_size", "count": 3}'
    forged = {SIGNATURE_HEADER: sign("wrong", body, int(time.time()))}
    reply = httpx.post(launcher, content=body, headers=forged)
    assert reply.status_code == 401
    unsigned = httpx.post(launcher, content=body)
    assert unsigned.status_code == 401
