"""The ``k8s`` provider against kmock, an in-memory Kubernetes API served on loopback.

kmock is an emulator: it stores objects but runs no controllers, so ``FakeCluster`` (see
``k8s_support``) plays the Deployment/ReplicaSet controllers and the kubelet, and runs each pod's
real readiness probe command. Faults (409/429/5xx) are injected before kmock stores anything.
Every object the provider writes is validated against the official Kubernetes schemas.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from k8s_support import (
    FakeCluster,
    Fault,
    FaultyEmulator,
    deployment_manifest,
    kubeconfig_for,
    start_emulator,
    stop_emulator,
    validate_k8s,
)

from workerplane.providers._retry import Backoff
from workerplane.providers.base import ProviderError, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.kubernetes.api import KubeApi, KubeApiError, ObjectRef, load_api_client
from workerplane.providers.kubernetes.details import ClusterPolicy, K8sDetails
from workerplane.providers.kubernetes.names import (
    ANN_DELETION_COST,
    ANN_IN_FLIGHT,
    ANN_OWNER,
    ANN_SPEC_HASH,
)
from workerplane.providers.kubernetes.podreport import PodReporter
from workerplane.providers.kubernetes.provider import KubernetesProvider, load_cluster_policy
from workerplane.worker.status import WorkerStatus, write_status

NS = "workers"
FAST = Backoff(attempts=4, base_s=0.01, max_s=0.05)


class Env:
    def __init__(self, emulator: FaultyEmulator, url: str, tmp: Path) -> None:
        self.emulator = emulator
        self.url = url
        self.kubeconfig = kubeconfig_for(url)
        self.api = KubeApi(load_api_client(self.kubeconfig), backoff=FAST)
        self.cluster = FakeCluster(KubeApi(load_api_client(self.kubeconfig)), NS, tmp)
        self.tmp = tmp

    def provider(
        self,
        details: dict[str, Any],
        *,
        env: WorkerEnvironment | None = None,
        policy: ClusterPolicy | None = None,
        group: str = "activities",
    ) -> KubernetesProvider:
        parsed = K8sDetails.model_validate(
            {"namespace": NS, "kubeconfig": self.kubeconfig, **details}
        )
        return KubernetesProvider(
            parsed,
            worker_env=env or worker_env(),
            deployment="orders",
            group_id=group,
            policy=policy or ClusterPolicy(),
            api=KubeApi(load_api_client(self.kubeconfig), backoff=FAST),
        )

    def writes(self) -> list[tuple[str, str]]:
        """Every write request kmock received so far (method, path)."""
        out = []
        for request in self.emulator:
            method = str(getattr(request.method, "value", request.method)).upper()
            if method in ("POST", "PATCH", "PUT", "DELETE"):
                out.append((method, request.url.path))
        return out

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return await self.api.get(ObjectRef(kind, NS, name))


def worker_env(
    secret: dict[str, str] | None = None, build_id: str | None = None
) -> WorkerEnvironment:
    """The workers' environment; versioned (one Deployment per version) with a ``build_id``."""
    return WorkerEnvironment(
        address="temporal.example:7233",
        namespace="orders-ns",
        task_queues=("orders",),
        task_queue_types=("ACTIVITY",),
        deployment_name="orders" if build_id else None,
        build_id=build_id,
        secret_env=dict(secret or {}),
        extra_env={"TEMPORAL_TLS_CLIENT_CERT_PATH": "/home/me/cert.pem"},
    )


@pytest_asyncio.fixture
async def k8s(tmp_path: Path) -> AsyncIterator[Env]:
    emulator, server, url = await start_emulator()
    env = Env(emulator, url, tmp_path)
    try:
        yield env
    finally:
        env.api.close()
        env.cluster.api.close()
        await stop_emulator(emulator, server)


def polling(
    path: Path,
    in_flight: int = 0,
    state: str = "polling",
    slots: int | None = None,
    running_s: float = 0.0,
) -> None:
    import os
    import time

    write_status(
        path,
        WorkerStatus(
            pid=os.getpid(), state=state, in_flight=in_flight, updated_at=time.time(),
            slots=slots, running_seconds=running_s,
        ),
    )  # fmt: skip


# -- user-owned Deployment --------------------------------------------------------------------


async def test_registry_builds_the_provider_from_temporal_keys(k8s: Env) -> None:
    ctx = dict(
        deployment="orders",
        group_id="g",
        details={"namespace": NS, "deployment": "web", "kubeconfig": k8s.kubeconfig},
        worker_env=worker_env(),
        state_dir=k8s.tmp,
    )
    provider = build_provider("k8s", **ctx)
    assert isinstance(provider, KubernetesProvider)
    assert provider.strategy.value == "worker-set"
    check = await provider.validate()
    assert not check.ok and check.kind == "not_found"
    await provider.close()


async def test_scale_user_owned_deployment_up_and_down(k8s: Env) -> None:
    await k8s.api.create(ObjectRef("Deployment", NS, "web"), deployment_manifest("web", NS))
    provider = k8s.provider({"deployment": "web"})
    await provider.start()

    await provider.set_size(3)
    pods = await k8s.cluster.reconcile("web")
    assert len(pods) == 3
    census = await provider.census()
    assert (census.desired, census.running, census.ready) == (3, 3, 0)

    # The worker runtime in each pod starts polling: the real probe now passes.
    for pod in pods:
        polling(k8s.cluster.status_file(pod["metadata"]["name"]))
    await k8s.cluster.reconcile("web")
    census = await provider.census()
    assert (census.running, census.ready) == (3, 3)

    await provider.set_size(1)
    assert len(await k8s.cluster.reconcile("web")) == 1
    census = await provider.census()
    assert (census.desired, census.running) == (1, 1)

    # Only the scale subresource was written on the user's Deployment.
    dep_writes = [w for w in k8s.writes() if "/deployments/web" in w[1] and "/status" not in w[1]]
    assert dep_writes and all(path.endswith("/deployments/web/scale") for _, path in dep_writes)
    await provider.close()


async def test_missing_deployment_is_a_clear_error_before_any_write(k8s: Env) -> None:
    provider = k8s.provider({"deployment": "nope"})
    with pytest.raises(ProviderError) as info:
        await provider.start()
    assert info.value.kind == "not_found"
    assert "workers/nope not found" in str(info.value)
    with pytest.raises(ProviderError):
        await provider.set_size(2)
    assert k8s.writes() == []
    await provider.close()


async def test_kubeconfig_path_and_context(k8s: Env) -> None:
    await k8s.api.create(ObjectRef("Deployment", NS, "web"), deployment_manifest("web", NS, 2))
    path = k8s.tmp / "kubeconfig.yaml"
    path.write_text(k8s.kubeconfig)
    details = K8sDetails(namespace=NS, deployment="web", kubeconfig=str(path), context="kmock")
    provider = KubernetesProvider(
        details, worker_env=worker_env(), deployment="orders", group_id="g", policy=ClusterPolicy()
    )
    assert (await provider.census()).desired == 2
    await provider.close()


async def test_conflict_and_throttle_are_retried(k8s: Env) -> None:
    await k8s.api.create(ObjectRef("Deployment", NS, "web"), deployment_manifest("web", NS))
    provider = k8s.provider({"deployment": "web"})
    conflict = Fault("PATCH", "/deployments/web/scale", 409, times=2)
    throttle = Fault("PATCH", "/deployments/web/scale", 429, times=1)
    k8s.emulator.faults += [conflict, throttle]
    await provider.set_size(4)
    assert (conflict.hits, throttle.hits) == (2, 1)
    assert (await k8s.get("Deployment", "web"))["spec"]["replicas"] == 4  # type: ignore[index]
    assert provider.last_error is None
    await provider.close()


async def test_persistent_5xx_surfaces_the_status(k8s: Env) -> None:
    await k8s.api.create(ObjectRef("Deployment", NS, "web"), deployment_manifest("web", NS))
    provider = k8s.provider({"deployment": "web"})
    k8s.emulator.faults.append(Fault("PATCH", "/scale", 503, times=100))
    with pytest.raises(KubeApiError) as info:
        await provider.set_size(2)
    assert info.value.status == 503 and info.value.retryable
    assert "503 ServiceUnavailable" in str(info.value) and "after 4 tries" in str(info.value)
    assert provider.last_error and "503" in provider.last_error
    assert (await k8s.get("Deployment", "web"))["spec"]["replicas"] == 0  # type: ignore[index]
    await provider.close()


async def test_scale_down_removes_idle_pods_first_then_those_whose_tasks_ran_least(
    k8s: Env,
) -> None:
    """Pods publish their tasks in flight and since when they run (the sidecar's real code);
    shrinking keeps the pod whose tasks ran longest: retired, it would bill on until they end."""
    await k8s.api.create(ObjectRef("Deployment", NS, "web"), deployment_manifest("web", NS))
    provider = k8s.provider({"deployment": "web"})
    await provider.set_size(3)
    pods = [p["metadata"]["name"] for p in await k8s.cluster.reconcile("web")]
    # Oldest pod: 2 tasks that have run 200 s together; middle idle; newest: 5 tasks just
    # started. Counted by tasks, the newest would stay and the one with the long tasks go.
    loads = dict(zip(pods, [(2, 200.0), (0, 0.0), (5, 2.5)], strict=True))
    for pod, (in_flight, running_s) in loads.items():
        status = k8s.cluster.status_file(pod)
        polling(status, in_flight=in_flight, slots=8, running_s=running_s)
        reporter = PodReporter(k8s.api, NS, pod, status)
        assert await reporter.publish_once()
        assert not await reporter.publish_once()  # unchanged: no second write
    await k8s.cluster.reconcile("web")
    census = await provider.census()
    assert census.in_flight == 7 and census.ready == 3
    assert census.slots == 8  # as the pods' workers report them, for the scaler
    # Each polling pod's load, in the order a shrink retires them.
    assert census.loads is not None
    assert [load.in_flight for load in census.loads] == [0, 5, 2]
    assert 199 <= census.loads[-1].running_s < 260

    await provider.set_size(1)
    costs = {}
    for pod, (in_flight, _) in loads.items():
        live = await k8s.get("Pod", pod)
        assert live is not None
        assert live["metadata"]["annotations"][ANN_IN_FLIGHT] == str(in_flight)
        costs[pod] = live["metadata"]["annotations"][ANN_DELETION_COST]
    assert list(costs.values()) == ["2", "0", "1"]
    # Refresh the worker reports: on a loaded machine the probes above can take long enough for
    # the reports to go stale, and a not-ready pod is (rightly) deleted before any ready one.
    for pod, (in_flight, running_s) in loads.items():
        polling(k8s.cluster.status_file(pod), in_flight=in_flight, running_s=running_s)
    remaining = [p["metadata"]["name"] for p in await k8s.cluster.reconcile("web")]
    assert remaining == [pods[0]]
    assert sorted(k8s.cluster.deleted) == sorted(pods[1:])
    await provider.close()


# -- managed mode -----------------------------------------------------------------------------

GPU_SPEC: dict[str, Any] = {
    "image": "registry.example/llm-worker:1.0",
    "command": ["python", "-m", "llm_worker"],
    "args": ["--model", "small"],
    "env": {"MODEL_DIR": "/models"},
    "cpus": 4,
    "memory": "16Gi",
    "gpus": 1,
    "gpu_type": "nvidia-ampere-a10",
    "storage": "20Gi",
    "longest_activity_s": 600,
    "labels": {"team": "ml"},
}

MANAGED_KINDS = [
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Deployment",
    "PodDisruptionBudget",
]
NAMES = {
    "Secret": "llm-temporal",
    "ServiceAccount": "llm-worker",
    "Role": "llm-worker",
    "RoleBinding": "llm-worker",
    "Deployment": "llm",
    "PodDisruptionBudget": "llm",
}


async def test_managed_create_renders_valid_gpu_deployment(k8s: Env) -> None:
    env = worker_env(secret={"TEMPORAL_API_KEY": "super-secret-key"}, build_id="v1")
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC}, env=env)
    await provider.start()

    for kind in MANAGED_KINDS:
        obj = await k8s.get(kind, NAMES[kind].replace("llm", "llm-v1"))
        assert obj is not None, kind
        assert obj["metadata"]["annotations"][ANN_OWNER] == "orders/activities"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "workerplane"
        validate_k8s(obj)

    dep = await k8s.get("Deployment", "llm-v1")
    assert dep is not None
    text = json.dumps(dep)
    assert "super-secret-key" not in text  # credentials only by reference
    pod = dep["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    env_by_name = {e["name"]: e for e in worker["env"]}
    assert env_by_name["TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "llm-v1-temporal",
        "key": "TEMPORAL_API_KEY",
    }
    assert env_by_name["TEMPORAL_ADDRESS"]["value"] == "temporal.example:7233"
    assert env_by_name["TEMPORAL_NAMESPACE"]["value"] == "orders-ns"
    assert env_by_name["TEMPORAL_TASK_QUEUE"]["value"] == "orders"
    assert env_by_name["TEMPORAL_DEPLOYMENT_NAME"]["value"] == "orders"
    assert env_by_name["TEMPORAL_WORKER_BUILD_ID"]["value"] == "v1"
    assert env_by_name["MODEL_DIR"]["value"] == "/models"
    assert "TEMPORAL_TLS_CLIENT_CERT_PATH" not in env_by_name  # a controller-host path
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["resources"]["requests"] == {
        "cpu": "4",
        "memory": "16Gi",
        "ephemeral-storage": "20Gi",
    }
    assert pod["nodeSelector"] == {"k8s.amazonaws.com/accelerator": "nvidia-ampere-a10"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in worker["volumeMounts"]
    assert pod["terminationGracePeriodSeconds"] == math.ceil(600 + 15)
    assert worker["lifecycle"]["preStop"]["exec"]["command"][2:4] == [
        "workerplane.providers.kubernetes.probe",
        "prestop",
    ]
    assert worker["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert pod["serviceAccountName"] == "llm-v1-worker"
    assert dep["spec"]["replicas"] == 0
    pdb = await k8s.get("PodDisruptionBudget", "llm-v1")
    assert pdb is not None and pdb["spec"]["selector"] == dep["spec"]["selector"]

    role = await k8s.get("Role", "llm-v1-worker")
    assert role is not None and role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}
    ]
    await provider.close()


async def test_managed_update_rolls_on_spec_change_and_only_rescales_on_size(k8s: Env) -> None:
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC})
    await provider.start()
    await provider.set_size(2)
    first = await k8s.get("Deployment", "llm")
    assert first is not None
    first_hash = first["spec"]["template"]["metadata"]["annotations"][ANN_SPEC_HASH]

    # Same spec (only the scaler's min/max changed upstream): no write at all, size kept.
    before = len(k8s.writes())
    again = k8s.provider({"deployment": "llm", "managed": GPU_SPEC})
    await again.start()
    assert len(k8s.writes()) == before
    await again.set_size(3)
    assert [w for w in k8s.writes()[before:]] == [
        ("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/llm/scale")
    ]

    # A spec change patches the pod template (a rollout) but never the replica count; moving
    # from GPU to CPU removes the GPU node selector, tolerations and /dev/shm volume.
    cpu_spec = {k: v for k, v in GPU_SPEC.items() if k not in ("gpus", "gpu_type")} | {
        "image": "registry.example/llm-worker:1.1"
    }
    changed = k8s.provider({"deployment": "llm", "managed": cpu_spec})
    await changed.start()
    dep = await k8s.get("Deployment", "llm")
    assert dep is not None
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example/llm-worker:1.1"
    assert dep["spec"]["template"]["metadata"]["annotations"][ANN_SPEC_HASH] != first_hash
    assert dep["spec"]["replicas"] == 3
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    assert all(v["name"] != "dshm" for v in pod["volumes"])
    validate_k8s(dep)
    for p in (provider, again, changed):
        await p.close()


async def test_managed_delete_removes_everything_it_created(k8s: Env) -> None:
    env = worker_env(secret={"TEMPORAL_API_KEY": "k"})
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC}, env=env)
    await provider.start()
    # A user-owned object in the same namespace must survive.
    await k8s.api.create(ObjectRef("Deployment", NS, "web"), deployment_manifest("web", NS))
    deleted = await provider.delete()
    assert sorted(r.kind for r in deleted) == sorted(MANAGED_KINDS)
    for kind in MANAGED_KINDS:
        assert await k8s.get(kind, NAMES[kind]) is None, kind
    assert await k8s.get("Deployment", "web") is not None
    assert await provider.delete() == []  # idempotent
    await provider.close()


async def test_failed_create_is_rolled_back(k8s: Env) -> None:
    env = worker_env(secret={"TEMPORAL_API_KEY": "k"})
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC}, env=env)
    k8s.emulator.faults.append(Fault("POST", "/poddisruptionbudgets", 500, times=100))
    with pytest.raises(KubeApiError) as info:
        await provider.start()
    assert info.value.status == 500
    for kind in MANAGED_KINDS:
        assert await k8s.get(kind, NAMES[kind]) is None, kind


async def test_failed_update_is_rolled_back(k8s: Env) -> None:
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC})
    await provider.start()
    before = await k8s.get("Deployment", "llm")
    # New labels touch every object; the PDB patch is refused (422), so the Deployment patch
    # that went through before it must be undone.
    relabeled = GPU_SPEC | {"labels": {"team": "search"}}
    k8s.emulator.faults.append(Fault("PATCH", "/poddisruptionbudgets/llm", 422, times=1))
    with pytest.raises(KubeApiError) as info:
        await k8s.provider({"deployment": "llm", "managed": relabeled}).start()
    assert info.value.status == 422 and not info.value.retryable
    after = await k8s.get("Deployment", "llm")
    assert after == before
    await provider.close()


async def test_create_conflict_adopts_own_object(k8s: Env) -> None:
    """A 409 on create means "exists": the provider re-reads and updates its own object."""
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC})
    await provider.start()
    # Our GET misses the PDB (as if another controller replica created it a moment later), so
    # the POST hits the real 409 AlreadyExists; the provider must adopt it, not fail or loop.
    miss = Fault("GET", "/poddisruptionbudgets/llm", 404, times=1)
    k8s.emulator.faults.append(miss)
    relabeled = GPU_SPEC | {"labels": {"team": "search"}}
    await k8s.provider({"deployment": "llm", "managed": relabeled}).start()
    assert miss.hits == 1
    pdb = await k8s.get("PodDisruptionBudget", "llm")
    assert pdb is not None and pdb["metadata"]["labels"]["team"] == "search"
    posts = [w for w in k8s.writes() if w[0] == "POST" and "poddisruptionbudgets" in w[1]]
    assert len(posts) == 2  # the first create, and the one answered 409
    await provider.close()


async def test_refuses_to_take_over_a_foreign_deployment(k8s: Env) -> None:
    await k8s.api.create(ObjectRef("Deployment", NS, "llm"), deployment_manifest("llm", NS, 1))
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC})
    check = await provider.validate()
    assert not check.ok and "refusing to take it over" in check.message
    with pytest.raises(ProviderError, match="refusing to take it over"):
        await provider.start()
    dep = await k8s.get("Deployment", "llm")
    assert dep is not None and dep["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "example/worker:1"
    )
    # The Secret/SA/Role created before the Deployment step were rolled back.
    assert await k8s.get("ServiceAccount", "llm-worker") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gpu_type": "nvidia-imaginary-x1"}, "gpu_type: unknown GPU type 'nvidia-imaginary-x1'"),
        ({"cpus": 512}, "cpus: 512 is above the cluster limit of 64"),
        ({"memory": "4Ti"}, "memory: 4Ti is above the cluster limit of 512Gi"),
        ({"gpus": 16}, "gpus: 16 is above the limit of 4 for nvidia-ampere-a10"),
    ],
)
async def test_bad_resources_fail_before_anything_is_applied(
    k8s: Env, change: dict[str, Any], message: str
) -> None:
    provider = k8s.provider({"deployment": "llm", "managed": GPU_SPEC | change})
    check = await provider.validate()
    assert not check.ok and check.kind == "invalid" and message in check.message
    with pytest.raises(ProviderError, match=r"cluster limit|unknown GPU|limit of") as info:
        await provider.start()
    assert info.value.kind == "invalid" and not info.value.retryable
    assert k8s.writes() == []
    await provider.close()


async def test_policy_file_defines_gpu_types_and_limits(k8s: Env, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(
        "max_cpus: 8\n"
        "allowed_namespaces: [workers]\n"
        "gpu_types:\n"
        "  h100:\n"
        "    node_selector: {cloud.google.com/gke-accelerator: nvidia-h100-80gb}\n"
        "    max_gpus: 8\n"
    )
    policy = load_cluster_policy(policy_file)
    spec = GPU_SPEC | {"gpu_type": "h100", "gpus": 8, "cpus": 8}
    provider = k8s.provider({"deployment": "llm", "managed": spec}, policy=policy)
    await provider.start()
    dep = await k8s.get("Deployment", "llm")
    assert dep is not None
    assert dep["spec"]["template"]["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-h100-80gb"
    }
    # The default GPU types are replaced by the operator's list.
    bad = k8s.provider({"deployment": "llm2", "managed": GPU_SPEC}, policy=policy)
    assert "unknown GPU type 'nvidia-ampere-a10' (known: h100)" in (await bad.validate()).message
    await provider.close()


async def test_sidecar_survives_apiserver_errors(k8s: Env) -> None:
    await k8s.api.create(
        ObjectRef("Pod", NS, "p1"),
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": NS}},
    )
    status = k8s.tmp / "p1.json"
    polling(status, in_flight=3)
    k8s.emulator.faults.append(Fault("PATCH", "/pods/p1", 500, times=100))
    reporter = PodReporter(k8s.api, NS, "p1", status, min_interval_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(reporter.run(stop))
    await asyncio.sleep(0.5)
    k8s.emulator.faults.clear()
    for _ in range(200):
        pod = await k8s.get("Pod", "p1")
        if pod and (pod["metadata"].get("annotations") or {}).get(ANN_IN_FLIGHT) == "3":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert pod is not None and pod["metadata"]["annotations"][ANN_IN_FLIGHT] == "3"
