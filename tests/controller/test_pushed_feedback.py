"""The ``slo`` scaler's feedback from the workers' own reports to what an operator reads, in
process: workers' sketches pushed by the worker runtime's real pusher to a real API (on loopback,
over SQLite), read back by the controller's pushing provider, judged by real controller cycles
(``run_cycle``), published to the store and read through the API and ``workerplane status``.

Why not a dev-server run: the feedback judges a window only once it spans 120 s and holds 50
tasks, and a miss tightens only when capacity was short, which a real run produces only by
chance. The cycles here run on a scripted clock instead (the 120 s pass between two cycles), so
nothing depends on timing; the provider's workers and the queue are the unit tests' fakes.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from api_support import running_api

from tests.controller.test_controller_unit import FakeMetrics, FakeProvider, runtime
from workerplane.cli.status import _api_groups
from workerplane.controller.cycle import run_cycle
from workerplane.controller.worker_reports import PushedSketches, reporting_providers
from workerplane.providers.base import Provider, WorkerEnvironment
from workerplane.scaling.latency import LatencyRecorder
from workerplane.scaling.registry import build_scaler
from workerplane.scaling.slo_feedback import MIN_WINDOW_S
from workerplane.scaling.types import Strategy
from workerplane.terminal import target_wait
from workerplane.worker.push import SketchPusher

SLO_DETAILS = {"schedule_to_start_slo_ms": 5000, "worker_startup_ms": 1000}
VERSION: dict[str, Any] = {
    "build_id": "v1",
    "task_queues": ["orders"],
    "compute_config": {
        "scaling_groups": {
            "g": {
                "provider": {
                    "type": "webhook",
                    "details": {
                        "url": "https://launcher.test/",
                        "secret": "s",
                        "strategy": "worker-set",
                    },
                },
                "scaler": {"type": "slo", "details": SLO_DETAILS},
            }
        }
    },
}


async def test_a_missed_p95_the_workers_pushed_tightens_the_target_operators_see(
    tmp_path: Path,
) -> None:
    with running_api(f"sqlite:///{tmp_path / 'api.db'}") as api:
        with api.client() as c:
            assert c.post("/v1/worker-deployments", json={"name": "orders"}).status_code == 201
            created = c.post("/v1/worker-deployments/orders/versions", json=VERSION)
            assert created.status_code == 201, created.text

        # The controller's provider for the group: its workers get the report URL and token.
        envs: list[WorkerEnvironment] = []

        def fake(type_name: str, details: Any, **kw: Any) -> Provider:
            envs.append(kw["worker_env"])
            return FakeProvider(Strategy.WORKER_SET, running=4)

        factory = reporting_providers(
            api.url, api.store.box, PushedSketches(api.store.worker_reports, refresh_s=0.0), fake
        )
        env = WorkerEnvironment(address="unused:7233", namespace="default", task_queues=("q",))
        provider = factory(
            "webhook", {}, deployment="orders/v1", group_id="g", worker_env=env,
            state_dir=tmp_path,
        )  # fmt: skip
        scaler = build_scaler("slo", SLO_DETAILS, Strategy.WORKER_SET)
        group = runtime(provider, scaler)
        metrics = FakeMetrics(backlog=2)
        start = time.time()

        async def cycle(at: float) -> None:
            await run_cycle(group, metrics, monotonic=lambda: at, wall_clock=lambda: start + at)

        # A worker, as the runtime runs it: it records every task's wait and pushes its sketch.
        recorder = LatencyRecorder()
        worker_env = {**envs[0].extra_env, **envs[0].secret_env}
        pusher = SketchPusher.from_env(recorder.snapshot, worker_env)
        assert pusher is not None
        await cycle(0.0)  # the baseline: nothing measured yet
        for _ in range(100):
            recorder.record(8.0)  # the SLO is 5 s
        assert pusher.push()
        await cycle(1.0)  # the window opens
        await cycle(2.0 + MIN_WINDOW_S)  # 100 tasks over 120 s: judged
        status = group.status
        assert status is not None
        achieved = status.schedule_to_start
        assert achieved is not None and achieved.count == 100 and achieved.missing_slo
        assert achieved.target_wait_fraction is not None and achieved.target_wait_fraction < 0.6
        assert achieved.feedback == "p95 7.85s/5s over 100 tasks: tightened"

        # Published as the controller's store sink does; read as the console and the CLI do.
        api.store.controller.publish(
            [dataclasses.replace(status, version_key="orders/v1")], partial=True
        )
        with api.client() as c:
            version = c.get("/v1/worker-deployments/orders/versions/v1").json()
    body = version["compute_status"]["scaling_groups"]["g"]["schedule_to_start"]
    assert body["target_wait_fraction"] == achieved.target_wait_fraction
    assert body["configured_wait_fraction"] == 0.6
    assert body["feedback"] == achieved.feedback
    (shown,) = _api_groups(version)
    assert shown.schedule_to_start is not None
    words = target_wait(shown.schedule_to_start)
    assert words is not None and "tightened from the configured 0.60" in words
