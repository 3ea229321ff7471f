"""A running group's spec changes: which changes keep its provider, which build a new one, and
how the old one's workers are handed over or retired. Real controller code; in-memory
providers that record what was done to them, and a spec source the test edits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.controller.test_controller_unit import BeatingMetrics, FakeMetrics, RecordingSink
from workerplane.config.model import DeploymentSpec
from workerplane.controller.controller import Controller
from workerplane.controller.cycle import CycleReport
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.status import ManagedVersion
from workerplane.providers.base import Provider, ProviderCheck, ProviderError, WorkerEnvironment
from workerplane.scaling.types import Strategy, WorkerCensus


def spec(
    *,
    address: str = "temporal-a:7233",
    queue: str = "orders",
    args: tuple[str, ...] = (),
    min_count: int = 1,
) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "orders",
            "task_queues": [queue],
            "temporal": {"address": address, "namespace": "default"},
            "compute": {
                "scaling_groups": {
                    "g": {
                        "provider": {
                            "type": "subprocess",
                            "details": {
                                "command": "worker",
                                "args": list(args),
                                "strategy": "worker-set",
                            },
                        },
                        "scaler": {
                            "type": "backlog",
                            "details": {"min_count": min_count, "metrics_poll_interval_ms": 100},
                        },
                    }
                }
            },
        }
    )


class RecordingProvider(Provider):
    """Workers in memory; every call lands in the shared ``log`` as ``(provider number, call)``."""

    type = "fake"
    strategy = Strategy.WORKER_SET

    def __init__(
        self,
        number: int,
        worker_env: WorkerEnvironment,
        claim: str | None,
        log: list[tuple[int, str]],
        fail_start: bool = False,
    ) -> None:
        self.number = number
        self.worker_env = worker_env
        self._claim = claim
        self._log = log
        self._fail_start = fail_start
        self.size = 0
        #: While set (and not yet opened), a drain waits on it: a retirement under way.
        self.drain_gate: asyncio.Event | None = None

    @property
    def claim(self) -> str | None:
        return self._claim

    def _record(self, call: str) -> None:
        self._log.append((self.number, call))

    async def start(self) -> None:
        self._record("start")
        if self._fail_start:
            raise ProviderError("cannot reach the cluster", kind="internal")

    async def validate(self) -> ProviderCheck:
        return ProviderCheck(ok=True)

    async def census(self) -> WorkerCensus:
        return WorkerCensus(running=self.size, ready=self.size, in_flight=0)

    async def set_size(self, size: int) -> None:
        self._record(f"set_size {size}")
        self.size = size

    async def drain(self, timeout_s: float) -> None:
        self._record("drain")
        if self.drain_gate is not None:
            await self.drain_gate.wait()
        self._record("drained")
        self.size = 0

    async def close(self) -> None:
        self._record("close")


@dataclass
class Fleet:
    """The providers the controller built, and how the next one is built."""

    claim: str | None = None
    fail_start: bool = False

    def __post_init__(self) -> None:
        self.built: list[RecordingProvider] = []
        self.log: list[tuple[int, str]] = []

    def __call__(
        self,
        type_name: str,
        details: Mapping[str, Any],
        *,
        worker_env: WorkerEnvironment,
        **_: Any,
    ) -> Provider:
        provider = RecordingProvider(
            len(self.built), worker_env, self.claim, self.log, self.fail_start
        )
        self.built.append(provider)
        return provider

    def calls(self, number: int) -> list[str]:
        return [call for n, call in self.log if n == number]


@dataclass
class EditableSource:
    version: ManagedVersion
    removed: bool = False

    async def snapshot(self) -> list[ManagedVersion]:
        return [] if self.removed else [self.version]

    def edit(self, new_spec: DeploymentSpec) -> None:
        self.version = ManagedVersion(
            key="orders", spec=new_spec, generation=self.version.generation + 1
        )


async def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def run_controller(
    tmp_path: Path,
    source: EditableSource,
    drain_timeout_s: float = 5.0,
    metrics: FakeMetrics | None = None,
    **extra: Any,
) -> tuple[Controller, Callable[[], Any]]:
    """Run the controller on ``source`` (``extra``: its providers, ...). Returns the controller
    and a coroutine function that stops it."""
    controller = Controller(
        source,
        RecordingSink(),
        ControllerSettings(state_dir=tmp_path, refresh_s=0.05, drain_timeout_s=drain_timeout_s),
        metrics=metrics or FakeMetrics(0),
        **extra,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))

    async def finish() -> None:
        stop.set()
        await task
        await controller.shutdown(drain=False)

    return controller, finish


async def run_until_a_worker(
    tmp_path: Path, fleet: Fleet, source: EditableSource, drain_timeout_s: float = 5.0
) -> tuple[Controller, Callable[[], Any]]:
    """Run the controller on ``source`` until its first provider holds a worker. Returns the
    controller and a coroutine function that stops it."""
    controller, finish = run_controller(tmp_path, source, drain_timeout_s, providers=fleet)
    await eventually(lambda: "set_size 1" in fleet.calls(0))
    return controller, finish


async def run_with_edit(
    tmp_path: Path, fleet: Fleet, before: DeploymentSpec, after: DeploymentSpec
) -> tuple[Controller, Callable[[], Any]]:
    """Run the controller on ``before`` until its provider holds a worker, then edit the spec to
    ``after``. Returns the controller and a coroutine function that stops it."""
    source = EditableSource(ManagedVersion(key="orders", spec=before, generation=1))
    controller, finish = await run_until_a_worker(tmp_path, fleet, source)
    source.edit(after)
    return controller, finish


async def test_a_scaler_change_keeps_the_provider_and_its_workers(tmp_path: Path) -> None:
    fleet = Fleet()
    _, finish = await run_with_edit(tmp_path, fleet, spec(min_count=1), spec(min_count=2))
    await eventually(lambda: "set_size 2" in fleet.calls(0))
    await finish()
    assert len(fleet.built) == 1
    assert "drain" not in fleet.calls(0)


async def test_a_new_address_starts_workers_with_it_and_retires_the_old_ones(
    tmp_path: Path,
) -> None:
    """The provider spec is the same, but workers started with the old address would serve the
    old server: the group gets a provider with the new environment."""
    fleet = Fleet()
    _, finish = await run_with_edit(
        tmp_path, fleet, spec(address="temporal-a:7233"), spec(address="temporal-b:7233")
    )
    await eventually(lambda: len(fleet.built) == 2 and "set_size 1" in fleet.calls(1))
    await eventually(lambda: "close" in fleet.calls(0))
    await finish()
    assert fleet.built[0].worker_env.address == "temporal-a:7233"
    assert fleet.built[1].worker_env.address == "temporal-b:7233"
    assert "drain" in fleet.calls(0), "its own workers are retired, gracefully"


async def test_a_new_queue_starts_workers_on_it(tmp_path: Path) -> None:
    fleet = Fleet()
    _, finish = await run_with_edit(tmp_path, fleet, spec(queue="orders"), spec(queue="orders-v2"))
    await eventually(lambda: len(fleet.built) == 2 and "set_size 1" in fleet.calls(1))
    await finish()
    assert fleet.built[1].worker_env.task_queues == ("orders-v2",)


async def test_a_provider_of_the_same_claim_takes_the_workers_over_without_a_drain(
    tmp_path: Path,
) -> None:
    """The same Deployment (or state directory) under a new provider spec: draining the old
    provider would scale the new one's workers to zero. The old one stops sizing before the
    new one starts, and is closed, not drained."""
    fleet = Fleet(claim="k8s:cluster:ctx:workers/orders")
    _, finish = await run_with_edit(tmp_path, fleet, spec(), spec(args=("--v2",)))
    await eventually(lambda: len(fleet.built) == 2 and "close" in fleet.calls(0))
    await eventually(lambda: "set_size 1" in fleet.calls(1))
    await finish()
    assert "drain" not in fleet.calls(0)
    assert "set_size 0" not in fleet.calls(0)
    new_start = fleet.log.index((1, "start"))
    old_calls = [i for i, (n, call) in enumerate(fleet.log) if n == 0 and call != "close"]
    assert max(old_calls) < new_start, fleet.log


async def test_a_takeover_that_cannot_start_leaves_the_old_provider_running(
    tmp_path: Path,
) -> None:
    fleet = Fleet(claim="aws-ecs:::cluster/orders")
    controller, finish = await run_with_edit(tmp_path, fleet, spec(), spec(args=("--v2",)))
    fleet.fail_start = True  # every provider built from now on
    await eventually(lambda: len(fleet.built) >= 2)
    await eventually(
        lambda: any(
            s.group_id == "g" and (s.provider_validation_error or "").startswith("cannot start")
            for s in controller.statuses()
        )
    )
    # The old provider still sizes its workers: its next cycles reach it.
    calls_before = len(fleet.calls(0))
    fleet.built[0].size = 0  # a worker died
    await eventually(lambda: len(fleet.calls(0)) > calls_before)
    await finish()
    assert "close" not in fleet.calls(0)[:calls_before]
    assert "set_size 1" in fleet.calls(0)[calls_before:]


async def test_a_group_back_before_its_retirement_ends_keeps_its_workers(tmp_path: Path) -> None:
    """Removed, then restored while its workers still drain: the restored group's provider
    takes the workers over, and the retirement stops instead of draining them under it."""
    fleet = Fleet(claim="k8s:cluster:ctx:workers/orders")
    source = EditableSource(ManagedVersion(key="orders", spec=spec(), generation=1))
    _, finish = await run_until_a_worker(tmp_path, fleet, source, drain_timeout_s=30.0)
    fleet.built[0].drain_gate = asyncio.Event()  # its drain will take a while
    source.removed = True
    await eventually(lambda: "drain" in fleet.calls(0))
    source.removed = False
    await eventually(lambda: len(fleet.built) == 2 and "close" in fleet.calls(0))
    await eventually(lambda: "set_size 1" in fleet.calls(1))
    await finish()
    assert "drained" not in fleet.calls(0), "the retirement was stopped before its drain ended"
    new_start = fleet.log.index((1, "start"))
    assert fleet.log.index((0, "close")) < new_start


def webhook_spec(url: str, secret: str) -> DeploymentSpec:
    group = {
        "provider": {
            "type": "webhook",
            "details": {"url": url, "secret": secret, "strategy": "worker-set", "timeout_s": 2.0},
        },
        "scaler": {"type": "backlog", "details": {"min_count": 1, "metrics_poll_interval_ms": 100}},
    }
    return DeploymentSpec.model_validate(
        {
            "name": "orders",
            "task_queues": ["orders"],
            "temporal": {"address": "temporal-a:7233", "namespace": "default"},
            "compute": {"scaling_groups": {"g": group}},
        }
    )


async def test_a_rotated_webhook_secret_hands_the_receivers_workers_over(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A real webhook provider and a real receiver on loopback: rotating the secret builds a new
    provider for the same receiver and group (the same claim), and the receiver is never told
    to hold 0 workers in between, which retired its workers for a cycle before. The new
    provider takes over what the old one knew of the receiver's workers, so no cycle counts
    none (the receiver has no list API: before, the new provider's first census said 0)."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV
    from workerplane.providers.webhook.signature import SIGNATURE_HEADER, verify_signature

    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    old_secret, new_secret = "old-secret-0123456789abcdef", "new-secret-0123456789abcdef"
    received: list[tuple[str, int, str]] = []  # (action, count, the secret that signed it)

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed_by = "?"
            for secret in (old_secret, new_secret):
                try:
                    verify_signature(secret, self.headers[SIGNATURE_HEADER], body)
                    signed_by = secret
                except ValueError:
                    pass
            request = json.loads(body)
            received.append((request["action"], request["count"], signed_by))
            reply = json.dumps({"running": request["count"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/workers"
    source = EditableSource(
        ManagedVersion(key="orders", spec=webhook_spec(url, old_secret), generation=1)
    )
    running: list[int] = []  # each cycle's census, once the receiver ran a worker

    class Censuses:
        def on_cycle(self, report: CycleReport) -> None:
            if running or report.status.workers_running:
                running.append(report.status.workers_running)

    # The real providers; the receiver's workers send no heartbeats (an empty ListWorkers).
    _, finish = run_controller(tmp_path, source, metrics=BeatingMetrics(0), observers=[Censuses()])
    try:
        await eventually(lambda: ("set_size", 1, old_secret) in received and bool(running))
        source.edit(webhook_spec(url, new_secret))
        await eventually(lambda: any(signed == new_secret for _, _, signed in received))
        seen = len(running)
        await eventually(lambda: len(running) >= seen + 5)  # the new provider's cycles
    finally:
        await finish()
        server.shutdown()
        server.server_close()
    sizes = [(count, signed) for action, count, signed in received if action == "set_size"]
    # Held at 1 throughout: the new provider knew the receiver held 1, so it had nothing to ask.
    assert sizes and all(count == 1 for count, _ in sizes), received
    assert running and 0 not in running, running
