"""One managed Deployment per version, and a drained version's sunset on kmock: the controller
scales the old version's Deployment to zero, then deletes it; the current one is untouched."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.controller.test_controller_unit import FakeMetrics, ListSource
from tests.controller.test_sunset_controller import FakeDrainage, SunsetSink
from tests.providers.test_k8s_provider import NS, Env, k8s  # noqa: F401 - the fixture
from workerplane.config.model import DeploymentSpec
from workerplane.controller.controller import Controller
from workerplane.controller.settings import ControllerSettings
from workerplane.planning.status import ManagedVersion
from workerplane.planning.sunset import Drainage, DrainageState
from workerplane.providers.kubernetes.names import version_object_name


def _spec(kubeconfig: str, build_id: str, image_tag: str | None = None) -> DeploymentSpec:
    return DeploymentSpec.model_validate(
        {
            "name": "llm",
            "task_queues": ["llm"],
            "deployment": {"name": "llm", "build_id": build_id},
            "rollout": {"sunset": {"scale_down_delay": 0, "delete_delay": 0}},
            "compute": {
                "scaling_groups": {
                    "gpu": {
                        "provider": {
                            "type": "k8s",
                            "details": {
                                "namespace": NS,
                                "deployment": "llm",
                                "kubeconfig": kubeconfig,
                                "managed": {
                                    "image": f"registry.example/llm:{image_tag or build_id}"
                                },
                            },
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


def test_a_version_s_objects_carry_its_build_id() -> None:
    assert version_object_name("llm", "v1") == "llm-v1"
    assert version_object_name("llm", "Build_2.0") == "llm-build-2-0"
    long = version_object_name("x" * 60, "auto-0123456789ab")
    assert len(long) == 63 and long != version_object_name("x" * 60, "auto-0123456789ac")


async def _replicas(env: Env, name: str) -> int | None:
    live = await env.get("Deployment", name)
    return None if live is None else int(live["spec"].get("replicas") or 0)


async def _until_gone(env: Env, name: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await env.get("Deployment", name) is not None:
        assert time.monotonic() < deadline, f"{name} was never deleted"
        await asyncio.sleep(0.05)


async def test_two_versions_two_deployments_the_drained_one_goes(
    k8s: Env,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    old = ManagedVersion("llm/v1", _spec(k8s.kubeconfig, "v1"), generation=1)
    new = ManagedVersion("llm/v2", _spec(k8s.kubeconfig, "v2"), generation=1)
    source = ListSource([old, new])
    drainage = FakeDrainage({"v1": Drainage(DrainageState.NONE, routed=True)})
    controller = Controller(
        source,
        SunsetSink(),
        ControllerSettings(
            state_dir=tmp_path, refresh_s=0.05, publish_interval_s=0.05, drainage_read_interval_s=0
        ),
        metrics=FakeMetrics(0),
        drainage=drainage,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    try:
        deadline = time.monotonic() + 60
        while [await _replicas(k8s, n) for n in ("llm-v1", "llm-v2")] != [1, 1]:
            assert time.monotonic() < deadline, "each version never got its own Deployment"
            await asyncio.sleep(0.05)
        # v2 became current: v1 drains, Temporal reports it drained; its sunset runs.
        source.versions = [ManagedVersion("llm/v1", old.spec, draining=True, generation=2), new]
        drainage.states["v1"] = Drainage(DrainageState.DRAINED, changed_at=time.time())
        await _until_gone(k8s, "llm-v1")
        writes = k8s.writes()
        scaled = [
            i
            for i, (method, path) in enumerate(writes)
            if method == "PATCH" and path.endswith("/deployments/llm-v1/scale")
        ]
        deleted = writes.index(("DELETE", f"/apis/apps/v1/namespaces/{NS}/deployments/llm-v1"))
        assert scaled and scaled[-1] < deleted  # scaled to zero first, then deleted
        live = await k8s.get("Deployment", "llm-v2")
        assert live is not None and live["spec"]["replicas"] == 1
    finally:
        stop.set()
        await task
        await controller.shutdown(drain=False)


async def test_a_new_template_for_a_running_version_rolls_its_deployment_without_a_scale_down(
    k8s: Env,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """A spec change of the same version (here its image) builds a new provider for the same
    Deployment. The new one applies its template (Kubernetes rolls the pods); the old one is
    closed, not drained: draining it would scale the new one's Deployment to zero."""
    first = ManagedVersion("llm/v1", _spec(k8s.kubeconfig, "v1"), generation=1)
    source = ListSource([first])
    controller = Controller(
        source,
        SunsetSink(),
        ControllerSettings(state_dir=tmp_path, refresh_s=0.05, publish_interval_s=0.05),
        metrics=FakeMetrics(0),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))

    async def image() -> str | None:
        live = await k8s.get("Deployment", "llm-v1")
        return None if live is None else live["spec"]["template"]["spec"]["containers"][0]["image"]

    try:
        deadline = time.monotonic() + 60
        while await _replicas(k8s, "llm-v1") != 1:
            assert time.monotonic() < deadline, "the Deployment never got its worker"
            await asyncio.sleep(0.05)
        edited_at = len(k8s.writes())
        source.versions = [
            ManagedVersion("llm/v1", _spec(k8s.kubeconfig, "v1", "v1-patched"), generation=2)
        ]
        while await image() != "registry.example/llm:v1-patched":
            assert time.monotonic() < deadline, "the new template was never applied"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # cycles of the new provider (and any retiring of the old)
        scaled = [
            path
            for method, path in k8s.writes()[edited_at:]
            if method == "PATCH" and path.endswith("/deployments/llm-v1/scale")
        ]
        assert scaled == [], "the Deployment was scaled while its provider was replaced"
        assert await _replicas(k8s, "llm-v1") == 1
    finally:
        stop.set()
        await task
        await controller.shutdown(drain=False)
