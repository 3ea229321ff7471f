"""A version's sunset on the real dev server, with real versioned worker processes (file mode).

v1 runs a pinned workflow that waits for a signal; the spec moves to v2 and v2 becomes current.
v1 keeps running as draining and goes to zero while idle; the signal brings the pinned
workflow's next task, and v1 starts a worker for it from zero. Once the workflow completes,
Temporal reports v1 DRAINED; v1 is scaled down, then deleted. No workflow fails or is retried.

Temporal counts a draining version's open pinned workflows first
``matching.wv.VersionDrainageStatusVisibilityGracePeriod`` after it stopped being current, then
every ``matching.wv.VersionDrainageStatusRefreshInterval`` (3 minutes each by default). This
module's own dev server sets both to 1 s with ``--dynamic-config-value``, so v1 is reported
drained within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client

from examples.app import AwaitRelease
from tests.controller.support import RunningController, subprocess_group
from workerplane.controller.controller import Controller
from workerplane.controller.cycle import CycleReport
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.status import GroupStatus
from workerplane.planning.sunset import SunsetPhase
from workerplane.providers.subprocess.layout import group_directory
from workerplane.temporal.devserver import DevServer, start_dev_server

pytestmark = pytest.mark.integration

#: Temporal's drainage checks, every second instead of every 3 minutes.
FAST_DRAINAGE = {
    "matching.wv.VersionDrainageStatusVisibilityGracePeriod": '"1s"',
    "matching.wv.VersionDrainageStatusRefreshInterval": '"1s"',
}


@pytest.fixture(scope="module")
def drainage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    base = tmp_path_factory.mktemp("temporal-drainage")
    server = start_dev_server(
        in_memory=True, extra_config=FAST_DRAINAGE, log_file=base / "server.log"
    )
    yield server
    server.stop()


def _write(path: Path, name: str, build_id: str, stamp: float) -> None:
    group = subprocess_group(slots=2, scaler={"min_count": 1})
    spec: dict[str, Any] = {
        "name": name,
        "task_queue": name,
        "deployment": {"name": f"{name}-dep", "build_id": build_id},
        # A 2 s idle cooldown (30 s by default) still outlasts the moment between the pinned
        # workflow task and the activity it schedules, when v1 looks idle.
        "rollout": {
            "sunset": {"idle_cooldown": "2s", "scale_down_delay": "1s", "delete_delay": "1s"}
        },
        "compute": {"scaling_groups": {"workers": group}},
    }
    path.write_text(yaml.safe_dump(spec))
    os.utime(path, (stamp, stamp))


class EveryCycle:
    """The status after every group cycle (a publish sends only the latest, once a second)."""

    def __init__(self) -> None:
        self.statuses: list[GroupStatus] = []

    def on_cycle(self, report: CycleReport) -> None:
        self.statuses.append(report.status)


async def _set_current(client: Client, deployment: str, build_id: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace="default",
                    deployment_name=deployment,
                    build_id=build_id,
                    identity="workerplane-test",
                )
            )
            return
        except Exception:
            assert time.monotonic() < deadline, f"{build_id} never registered"
            await asyncio.sleep(0.5)


def _of(snapshot: list[GroupStatus], key: str) -> list[GroupStatus]:
    return [s for s in snapshot if s.version_key == key]


async def test_a_drained_version_is_scaled_down_then_deleted(
    drainage_server: DevServer, tmp_path: Path, unique_name: str
) -> None:
    spec_path = tmp_path / "deploy.yaml"
    _write(spec_path, unique_name, "v1", 1000.0)
    v1, v2 = f"{unique_name}/v1", f"{unique_name}/v2"
    state = tmp_path / "state"
    history: list[list[GroupStatus]] = []
    cycles = EveryCycle()
    controller = Controller(
        FileSpecSource(spec_path),
        JsonStatusSink(state / "status.json"),
        ControllerSettings(
            state_dir=state,
            address=drainage_server.address,
            refresh_s=0.2,
            drainage_read_interval_s=0.5,
        ),
        on_cycle=history.append,
        observers=[cycles],
    )
    running = RunningController(controller, state, history)
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    client = await Client.connect(drainage_server.address)
    try:
        await _set_current(client, f"{unique_name}-dep", "v1")
        handle = await client.start_workflow(
            AwaitRelease.run,
            0.5,
            id=f"{unique_name}-{uuid.uuid4().hex[:6]}",
            task_queue=unique_name,
        )
        deadline = time.monotonic() + 60
        while True:  # the first workflow task ran on v1: the workflow is pinned to it
            info = (await handle.describe()).raw_description.workflow_execution_info
            if info.versioning_info.deployment_version.build_id == "v1":
                break
            assert time.monotonic() < deadline, "the workflow never ran on v1"
            await asyncio.sleep(0.2)

        _write(spec_path, unique_name, "v2", 2000.0)  # a new build: v1 drains
        await _set_current(client, f"{unique_name}-dep", "v2")

        def v1_workers() -> int:
            return sum(s.workers_running for s in _of(controller.statuses(), v1))

        def v1_draining_at_zero() -> bool:
            statuses = _of(controller.statuses(), v1)
            return sum(s.workers_running for s in statuses) == 0 and any(
                s.sunset is not None and s.sunset.phase is SunsetPhase.DRAINING for s in statuses
            )

        # v1 has an open pinned workflow: Temporal reports it draining, and idle it goes to zero.
        await running.wait_for(v1_draining_at_zero, timeout_s=90)

        mark = len(history)
        await handle.signal(AwaitRelease.release)
        result = await asyncio.wait_for(handle.result(), 120)
        assert result.endswith("(attempt 1)")  # its activity ran once, on v1
        # v1 was scaled up from zero for its pinned workflow. The cycle that asked for the worker
        # says so (its held size); a worker that started, ran both tasks and idled out between
        # two published observations on a loaded machine shows in no census (seen once in CI).
        asked = [
            max(s.workers_running, s.desired or 0) for snap in history[mark:] for s in _of(snap, v1)
        ]
        assert max(asked) >= 1

        # Drained: scaled down, then deleted (its groups are gone, v2 runs on).
        await running.wait_for(lambda: not _of(controller.statuses(), v1), timeout_s=120)
        # It was deleted only after it was asked to go to zero, after Temporal said drained.
        # Judged on its last cycle, not its last published status: with 1 s delays, the
        # scaled-down phase can fall between two publishes (once a second) on a loaded machine,
        # where the group cycles every 0.2 s. (The phase order, and that no version is deleted
        # while a worker runs, are covered by tests/planning/test_sunset.py.)
        last_seen = [s for s in cycles.statuses if s.version_key == v1][-1]
        assert last_seen.desired == 0
        assert last_seen.sunset is not None
        assert last_seen.sunset.phase in (
            SunsetPhase.DRAINED,
            SunsetPhase.SCALED_DOWN,
            SunsetPhase.DELETE,
        )
        assert _of(controller.statuses(), v2)
        gone = group_directory(state, v1, "workers")
        await running.wait_for(lambda: not gone.exists(), timeout_s=30)  # its state went too
        described = (await handle.describe()).raw_description.workflow_execution_info
        assert described.versioning_info.deployment_version.build_id == "v1"
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await controller.shutdown(drain=True)
