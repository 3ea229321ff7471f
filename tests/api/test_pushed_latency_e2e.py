"""A group whose workers the controller cannot read (the webhook provider) reports the
schedule-to-start its tasks really got: its workers push their sketches to the API.

Real dev server, ``workerplane serve`` (API and controller), the real webhook provider posting to
a real launcher on loopback that starts real worker processes (``examples.worker`` on
workerplane's runtime) with the report URL and token the body carries. The truth is read back
from the workflow histories, as in ``tests/controller/test_achieved_latency.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from test_serve_e2e import _wait
from test_telemetry_e2e import serving

from examples.app import ProcessItem
from tests.controller.test_achieved_latency import nearest_rank, schedule_to_start_from_history
from workerplane.api.server import ServeConfig
from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV
from workerplane.security.tokens import generate_token
from workerplane.temporal.devserver import free_port
from workerplane.worker.push import PUSH_INTERVAL_ENV, REPORT_TOKEN_ENV, REPORT_URL_ENV

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


class Launcher:
    """Holds as many worker processes as the last ``set_size`` asked for."""

    def __init__(self) -> None:
        self.workers: list[subprocess.Popen[bytes]] = []
        self.started = 0
        self.lock = threading.Lock()

    def env(self, body: dict[str, Any]) -> dict[str, str]:
        # Unversioned workers: the version's work waits in the unversioned queue until one of
        # its workers polls, and the controller scales on that queue (no routing needed).
        env = {k: v for k, v in os.environ.items() if not k.startswith("WORKERPLANE_")}
        env.update(
            {
                "TEMPORAL_ADDRESS": body["temporal"]["address"],
                "TEMPORAL_NAMESPACE": body["temporal"]["namespace"],
                "TEMPORAL_TASK_QUEUE": body["task_queue"],
                "WORKERPLANE_TASK_QUEUES": ",".join(body["task_queues"]),
                "WORKERPLANE_SLOTS": "4",
                REPORT_URL_ENV: body["report"]["url"],
                REPORT_TOKEN_ENV: body["report"]["token"],
                PUSH_INTERVAL_ENV: "1",
            }
        )
        return env

    def set_size(self, body: dict[str, Any]) -> int:
        with self.lock:
            self.workers = [w for w in self.workers if w.poll() is None]
            while len(self.workers) < body["count"]:
                self.started += 1
                self.workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "examples.worker"],
                        cwd=REPO_ROOT,
                        env=self.env(body),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            while len(self.workers) > body["count"]:
                self.workers.pop().send_signal(signal.SIGTERM)  # it pushes once more, then exits
            return len(self.workers)

    def stop(self) -> None:
        with self.lock:
            for worker in self.workers:
                with contextlib.suppress(ProcessLookupError):
                    worker.kill()
                worker.wait()


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Launcher, str]]:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    state = Launcher()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply: dict[str, Any] = {}
            if body["action"] == "set_size":
                reply["running"] = state.set_size(body)
            payload = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/workers"
    server.shutdown()
    server.server_close()
    state.stop()


async def test_pushed_p95_matches_the_workflow_histories(
    temporal_address: str, tmp_path: Path, unique_name: str, launcher: tuple[Launcher, str]
) -> None:
    """A burst of 40 from zero on webhook-launched workers: the p95 the controller reports (from
    the workers' pushes) is within 10 % (or 50 ms) of the histories' p95."""
    state, url = launcher
    token = generate_token()
    config = ServeConfig(
        state_dir=tmp_path / "state", port=free_port(), temporal_address=temporal_address,
        tokens=(token,), refresh_s=0.3, temporal_routing=False,
    )  # fmt: skip
    name = "push-" + uuid.uuid4().hex[:8]
    queue = f"{name}-q"
    group = {
        "provider": {
            "type": "webhook",
            "details": {"url": url, "secret": "s3cret", "strategy": "worker-set"},
        },
        "scaler": {
            "type": "slo",
            "details": {
                "schedule_to_start_slo_ms": 5000,
                "max_count": 4,
                "metrics_poll_interval_ms": 200,
            },
        },
    }
    version = {
        "build_id": "v1",
        "task_queues": [queue],
        "compute_config": {"scaling_groups": {"workers": group}},
    }
    async with serving(config, token) as api:
        created = await api.post("/v1/worker-deployments", json={"name": name})
        assert created.status_code == 201, created.text
        made = await api.post(f"/v1/worker-deployments/{name}/versions", json=version)
        assert made.status_code == 201, made.text
        path = f"/v1/worker-deployments/{name}/versions/v1"
        await _wait(api, path, lambda r: _group(r) is not None)

        client = await Client.connect(temporal_address)
        ids = [f"{name}-{uuid.uuid4().hex[:8]}" for _ in range(40)]
        handles = [
            await client.start_workflow(ProcessItem.run, 0.5, id=wid, task_queue=queue)
            for wid in ids
        ]
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 180)
        # The workers push every second; the controller reads the pushes every 2 s and
        # publishes its status every second.
        counted = await _wait(api, path, lambda r: (_achieved(r) or {}).get("count", 0) >= 40)
        reported = _achieved(counted)
    assert state.started >= 1
    assert reported is not None and reported["count"] == 40, reported
    truth = [w for wid in ids for w in await schedule_to_start_from_history(client, wid)]
    assert len(truth) == 40
    expected = nearest_rank(truth, 0.95)
    assert abs(reported["p95_s"] - expected) <= max(0.1 * expected, 0.05), (reported, expected)
    assert reported["slo_s"] == 5.0


def _group(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    groups = (response.json().get("compute_status") or {}).get("scaling_groups") or {}
    found: dict[str, Any] | None = groups.get("workers")
    return found


def _achieved(response: httpx.Response) -> dict[str, Any] | None:
    group = _group(response)
    return group.get("schedule_to_start") if group else None
