"""A webhook group's census counts its workers' tasks from their heartbeats, end to end.

Everything is real: the Temporal dev server (its ``ListWorkers``), a webhook receiver on loopback
that starts and stops real worker processes (``python -m examples.worker``, workerplane's runtime)
the way a launcher such as Nomad or Modal would, with the marker and connection the request gives
it, and the provider as the controller builds it (:func:`build_provider`). The webhook receiver
stands in for any launcher whose census cannot count tasks: an ECS service or a Cloud Run worker
pool reads the same heartbeats, but no emulator of those runs containers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from workerplane.planning.identity import MARKER_ENV, WorkerMarker
from workerplane.providers.base import Provider, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.heartbeat_counting import HeartbeatCountingProvider
from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV
from workerplane.providers.webhook.signature import SIGNATURE_HEADER, verify_signature
from workerplane.scaling.types import WorkerCensus
from workerplane.worker.runtime import SLOTS_ENV

pytestmark = pytest.mark.integration

SECRET = "launcher-secret"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Launcher:
    """A worker-set launcher: holds as many worker processes as the last ``set_size`` says."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: dict[str, float] = field(default_factory=dict)

    def hold(self, body: dict[str, Any]) -> int:
        with self.lock:
            self.processes = [p for p in self.processes if p.poll() is None]
            while len(self.processes) > body["count"]:
                self.processes.pop().send_signal(signal.SIGTERM)  # the runtime drains, then exits
            env = {
                **os.environ,
                "TEMPORAL_ADDRESS": body["temporal"]["address"],
                "TEMPORAL_NAMESPACE": body["temporal"]["namespace"],
                "TEMPORAL_TASK_QUEUE": body["task_queue"],
                MARKER_ENV: body["worker_identity"],
                SLOTS_ENV: "4",
                "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
            }
            while len(self.processes) < body["count"]:
                self.processes.append(
                    subprocess.Popen([sys.executable, "-m", "examples.worker"], env=env, cwd=REPO)
                )
            return len(self.processes)

    def stop_all(self) -> None:
        with self.lock:
            for process in self.processes:
                process.kill()
            for process in self.processes:
                process.wait(timeout=10)


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Launcher, str]]:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the launcher is on loopback
    state = Launcher()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            verify_signature(SECRET, self.headers.get(SIGNATURE_HEADER), raw, seen=state.seen)
            body = json.loads(raw)
            running = state.hold(body) if body["action"] == "set_size" else 0
            reply = json.dumps({"running": running}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/workers"
    server.shutdown()
    server.server_close()
    state.stop_all()


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
    launcher: tuple[Launcher, str], temporal_address: str, unique_name: str, tmp_path: Path
) -> None:
    _, url = launcher
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
