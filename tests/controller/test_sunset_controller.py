"""The controller's sunset without a server: a fake drainage, an in-memory provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.controller.test_controller_unit import SET, FakeMetrics, FakeProvider, ListSource
from workerplane.config.model import DeploymentSpec
from workerplane.controller.controller import Controller
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.status import ControllerStatus, GroupStatus, ManagedVersion, VersionStatus
from workerplane.planning.sunset import Drainage, DrainageState, SunsetPhase
from workerplane.providers.base import Provider, WorkerEnvironment
from workerplane.temporal.connection import ResolvedConnection


def versioned_spec(build_id: str) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "orders",
            "task_queues": ["orders"],
            "deployment": {"name": "orders", "build_id": build_id},
            "rollout": {"sunset": {"scale_down_delay": 0, "delete_delay": 0}},
            "compute": {
                "scaling_groups": {
                    "g": {
                        "provider": {
                            "type": "subprocess",
                            "details": {"command": ["true"], "strategy": "worker-set"},
                        },
                        "scaler": {
                            "type": "backlog",
                            "details": {"min_count": 1, "metrics_poll_interval_ms": 100},
                        },
                    }
                }
            },
        }
    )


class RemovableProvider(FakeProvider):
    def __init__(self) -> None:
        super().__init__(SET)
        self.removed = asyncio.Event()

    async def remove_resources(self) -> None:
        self.removed.set()


@dataclass
class FakeDrainage:
    """Temporal's drainage per build ID; every read is counted."""

    states: dict[str, Drainage]
    reads: list[str] = field(default_factory=list)

    async def read(
        self, connection: ResolvedConnection, deployment_name: str, build_id: str
    ) -> Drainage | None:
        self.reads.append(build_id)
        return self.states.get(build_id)


@dataclass
class SunsetSink:
    versions: list[VersionStatus] = field(default_factory=list)

    async def publish(
        self,
        statuses: list[GroupStatus],
        versions: Any = (),
        *,
        partial: bool = False,
        controller: ControllerStatus | None = None,
    ) -> None:
        self.versions.extend(versions)


async def _until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_a_drained_version_is_scaled_to_zero_then_deleted(tmp_path: Path) -> None:
    built: dict[str, RemovableProvider] = {}

    def providers(
        type_name: str,
        details: Mapping[str, Any],
        *,
        deployment: str,
        group_id: str,
        worker_env: WorkerEnvironment,
        state_dir: Path,
    ) -> Provider:
        built[deployment] = RemovableProvider()
        return built[deployment]

    old = ManagedVersion("orders/v1", versioned_spec("v1"), draining=True, generation=2)
    new = ManagedVersion("orders/v2", versioned_spec("v2"), generation=1)
    drainage = FakeDrainage(
        {
            "v1": Drainage(DrainageState.DRAINING, changed_at=time.time()),
            "v2": Drainage(DrainageState.NONE, routed=True),
        }
    )
    sink = SunsetSink()
    controller = Controller(
        ListSource([old, new]),
        sink,
        ControllerSettings(
            state_dir=tmp_path, refresh_s=0.05, publish_interval_s=0.05, drainage_read_interval_s=0
        ),
        providers=providers,
        metrics=FakeMetrics(0),
        drainage=drainage,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    try:
        # Draining: its pinned work is served, it is not deleted; the current one is never read.
        await _until(
            lambda: any(v.sunset and v.sunset.phase is SunsetPhase.DRAINING for v in sink.versions)
        )
        assert "v2" not in drainage.reads
        assert not built["orders/v1"].removed.is_set()
        drainage.states["v1"] = Drainage(DrainageState.DRAINED, changed_at=time.time())
        await asyncio.wait_for(built["orders/v1"].removed.wait(), 30)
        assert built["orders/v1"].running == 0
        assert not built["orders/v2"].removed.is_set() and built["orders/v2"].running == 1
        await _until(
            lambda: any(
                v.sunset and v.sunset.phase is SunsetPhase.DELETE and v.drained
                for v in sink.versions
            )
        )
        assert {g.version_key for g in controller.statuses()} == {"orders/v2"}
    finally:
        stop.set()
        await task
        await controller.shutdown(drain=False)
