"""A webhook group's census counts its workers' tasks from their heartbeats, end to end.

Everything is real: the Temporal dev server (its ``ListWorkers``); the example webhook launcher
(``examples/webhook_launcher.py``) on loopback, starting and stopping real worker processes
(``python -m examples.worker``, workerplane's runtime) the way Nomad or Modal would, with the
marker and connection each request gives; and the controller with a spec file. The launcher
stands in for any platform whose census cannot count tasks: an ECS service or a Cloud Run worker
pool is counted the same way, but no emulator of those runs containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from examples.app import ProcessItem
from examples.webhook_launcher import LocalLauncher, example_worker_launcher, serve_in_background
from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import write_deployment
from workerplane.planning.status import GroupStatus
from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV
from workerplane.providers.webhook.signature import SIGNATURE_HEADER, sign

pytestmark = pytest.mark.integration

SECRET = "launcher-secret"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalLauncher, str]]:
    """The example launcher on loopback, starting the example worker with 4 slots."""
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the launcher is on loopback
    state = example_worker_launcher(SECRET, slots=4)
    server, url = serve_in_background(state)
    yield state, url
    server.shutdown()
    server.server_close()
    state.stop_all(timeout_s=5.0)


class Statuses:
    def __init__(self) -> None:
        self.seen: list[GroupStatus] = []

    def __call__(self, statuses: list[GroupStatus]) -> None:
        self.seen.extend(statuses)

    async def until(self, check: Callable[[GroupStatus], bool], timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(check(s) for s in self.seen):
            last = self.seen[-1] if self.seen else None
            assert time.monotonic() < deadline, f"timed out; last status {last}"
            await asyncio.sleep(0.2)


async def _run(
    launcher: str, address: str, queue: str, base: Path, *, heartbeats: bool
) -> tuple[Controller, asyncio.Event, asyncio.Task[None], Statuses]:
    group = {
        "provider": {
            "type": "webhook",
            "details": {"url": launcher, "secret": SECRET, "strategy": "worker-set"},
        },
        "scaler": {"type": "slo", "details": {"max_count": 4}},
    }
    spec = write_deployment(base / "spec.yaml", name=queue, task_queue=queue, groups={"w": group})
    statuses = Statuses()
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(base / "status.json"),
        ControllerSettings(
            state_dir=base, address=address, publish_interval_s=0.2, worker_heartbeats=heartbeats
        ),
        on_cycle=statuses,
    )
    stop = asyncio.Event()
    return controller, stop, asyncio.create_task(controller.run(stop)), statuses


async def test_a_webhook_group_counts_its_tasks_from_its_workers_heartbeats_and_goes_to_zero(
    launcher: tuple[LocalLauncher, str], temporal_address: str, unique_name: str, tmp_path: Path
) -> None:
    """Six 3 s activities: the group's status counts them in flight (a census that could not
    would say ``None``) from its first worker's first heartbeat on, and the group goes back to
    zero once they are done, each worker's process gone."""
    state, url = launcher
    controller, stop, running, statuses = await _run(
        url, temporal_address, unique_name, tmp_path, heartbeats=True
    )
    client = await Client.connect(temporal_address)
    try:
        handles = [
            await client.start_workflow(
                ProcessItem.run, 3.0, id=f"{unique_name}-{i}", task_queue=unique_name
            )
            for i in range(6)
        ]
        await statuses.until(lambda s: (s.in_flight or 0) >= 3 and (s.workers_ready or 0) >= 1)
        await asyncio.gather(*(h.result() for h in handles))
        await statuses.until(lambda s: s.desired == 0 and s.in_flight == 0)
        counted = [s.in_flight is not None for s in statuses.seen if s.workers_running]
        first = counted.index(True)  # before the first worker's first heartbeat: unknown
        assert all(counted[first:]), "once a worker has beaten, every cycle counts"
        deadline = time.monotonic() + 30
        while state.running():
            assert time.monotonic() < deadline, "the launcher's workers did not leave"
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await running
        await controller.shutdown(drain=True)


async def test_without_the_heartbeats_the_census_cannot_count(
    launcher: tuple[LocalLauncher, str], temporal_address: str, unique_name: str, tmp_path: Path
) -> None:
    """``worker_heartbeats`` off: the same group's census says nothing of its tasks (the scalers
    take every polling worker as full), as before the heartbeat census."""
    _, url = launcher
    controller, stop, running, statuses = await _run(
        url, temporal_address, unique_name, tmp_path, heartbeats=False
    )
    client = await Client.connect(temporal_address)
    try:
        handle = await client.start_workflow(
            ProcessItem.run, 2.0, id=f"{unique_name}-0", task_queue=unique_name
        )
        await handle.result()
        await statuses.until(lambda s: s.workers_running > 0)
        assert all(s.in_flight is None for s in statuses.seen if s.workers_running)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await running
        await controller.shutdown(drain=True)


def test_the_launcher_refuses_a_request_not_signed_with_its_secret(
    launcher: tuple[LocalLauncher, str],
) -> None:
    state, url = launcher
    body = b'{"action": "set_size", "count": 3}'
    forged = {SIGNATURE_HEADER: sign("wrong", body, int(time.time()))}
    assert httpx.post(url, content=body, headers=forged).status_code == 401
    assert httpx.post(url, content=body).status_code == 401
    assert state.lives == [], "nothing was started"
