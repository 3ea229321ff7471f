"""End to end on an emulated apiserver: the chart's objects are applied into kmock (with the RBAC
authorizer kmock lacks, :mod:`rbac_emulator`), then the workerplane ``k8s`` provider runs as the
chart's serve Deployment runs it: as that Deployment's ServiceAccount, with the cluster policy
read from the ConfigMap the Deployment mounts at ``WORKERPLANE_K8S_POLICY``, built by the
provider factory as serve's controller builds it.

In a namespace the chart lists, it creates, scales and deletes a managed worker Deployment and
scales a user-owned one, and RBAC refuses none of its requests. In any other namespace the
policy refuses the spec before a single request; and were the policy bypassed, the chart's RBAC
refuses the requests (403), so the two walls agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import kmock
import pytest
import yaml
from chart_support import RELEASE, render
from kubernetes.config import kube_config
from rbac_emulator import SA_PREFIX, RbacEmulator

from workerplane.providers.base import Provider, ProviderError, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.kubernetes.api import RESOURCES
from workerplane.providers.kubernetes.details import ClusterPolicy, K8sDetails
from workerplane.providers.kubernetes.provider import KubernetesProvider

#: Where each kind the chart renders lives in the API (beyond what the provider itself uses).
PATHS = {
    **{
        kind: f"{prefix}/namespaces/{{ns}}/{plural}" for kind, (prefix, plural) in RESOURCES.items()
    },
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Service": "/api/v1/namespaces/{ns}/services",
}
MANAGED = {"image": "registry.example.com/worker:1", "cpus": 1, "memory": "1Gi"}


class Cluster:
    """The emulator, an admin client, and the chart's serve pod as the provider would see it."""

    def __init__(self, emulator: RbacEmulator, url: str, admin: httpx.AsyncClient) -> None:
        self.emulator = emulator
        self.url = url
        self.admin = admin

    async def apply(self, obj: dict[str, Any]) -> None:
        path = PATHS[obj["kind"]].format(ns=obj["metadata"]["namespace"])
        response = await self.admin.post(path, json=obj)
        assert response.status_code in (200, 201), response.text

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        response = await self.admin.get(PATHS[kind].format(ns=namespace) + f"/{name}")
        return response.json() if response.status_code == 200 else None


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    emulator = RbacEmulator()
    for prefix, plural in [*RESOURCES.values(), ("/api/v1", "configmaps"), ("/api/v1", "services")]:
        emulator.resources[f"{prefix.removeprefix('/apis/').removeprefix('/api/')}/{plural}"] = {}
    await emulator.__aenter__()
    server = kmock.Server(emulator, host="127.0.0.1")
    await server.__aenter__()
    url = str(server.url).rstrip("/")
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer admin"}) as admin:
        yield Cluster(emulator, url, admin)
    await server.__aexit__(None, None, None)
    await emulator.__aexit__(None, None, None)


async def serve_pod(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make this process the chart's serve container; returns its Temporal address.

    Read back from the apiserver: the Deployment's ServiceAccount becomes the identity (a
    kubeconfig whose token stands for it, as the in-cluster token would), and the ConfigMap
    mounted under ``WORKERPLANE_K8S_POLICY`` becomes that file.
    """
    deployment = await cluster.get("Deployment", "workerplane", RELEASE)
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    policy_path = Path(env["WORKERPLANE_K8S_POLICY"])
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(policy_path.parent)]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = await cluster.get("ConfigMap", "workerplane", volume["configMap"]["name"])
    assert configmap is not None
    policy_file = tmp_path / policy_path.name
    policy_file.write_text(configmap["data"][policy_path.name])

    user = f"{SA_PREFIX}{deployment['metadata']['namespace']}:{pod['serviceAccountName']}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": cluster.url}}],
                "users": [{"name": "serve", "user": {"token": user}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "serve"}}],
                "current-context": "kmock",
            }
        )
    )
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    # The client reads $KUBECONFIG when it is imported; point its default at this file instead.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.setenv("WORKERPLANE_K8S_POLICY", str(policy_file))
    return env["TEMPORAL_ADDRESS"]


def provider(details: dict[str, Any], temporal: str, tmp_path: Path, group: str) -> Provider:
    """The provider as serve's controller builds it (the factory; no kubeconfig in the spec)."""
    return build_provider(
        "k8s",
        details,
        deployment="orders",
        group_id=group,
        worker_env=WorkerEnvironment(address=temporal, namespace="default", task_queues=("q",)),
        state_dir=tmp_path / "state",
    )


async def test_chart_rbac_and_policy_let_serve_act_only_in_listed_namespaces(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for obj in render():
        await cluster.apply(obj)
    temporal = await serve_pod(cluster, tmp_path, monkeypatch)

    # Managed mode in "workers" (the chart's default workerNamespaces).
    managed = provider(
        {"namespace": "workers", "deployment": "orders-workers", "managed": MANAGED},
        temporal,
        tmp_path,
        "managed",
    )
    assert isinstance(managed, KubernetesProvider)
    assert managed.policy.allowed_namespaces == ["workers"]  # read from the mounted ConfigMap
    assert (await managed.validate()).ok
    await managed.start()
    await managed.set_size(3)
    worker = await cluster.get("Deployment", "workers", "orders-workers")
    assert worker is not None and worker["spec"]["replicas"] == 3
    assert (await managed.census()).desired == 3
    await managed.set_size(1)
    # User-owned mode in "workers": a team's own Deployment, scaled through its scale subresource.
    await cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "team-workers", "namespace": "workers"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "team"}},
                "template": {
                    "metadata": {"labels": {"app": "team"}},
                    "spec": {"containers": [{"name": "w", "image": "team/worker:1"}]},
                },
            },
        }
    )
    owned = provider(
        {"namespace": "workers", "deployment": "team-workers"}, temporal, tmp_path, "owned"
    )
    await owned.start()
    await owned.set_size(2)
    team = await cluster.get("Deployment", "workers", "team-workers")
    assert team is not None and team["spec"]["replicas"] == 2
    deleted = await managed.delete()  # type: ignore[attr-defined]
    assert deleted and await cluster.get("Deployment", "workers", "orders-workers") is None
    assert cluster.emulator.requests and cluster.emulator.denied == []
    await managed.close()
    await owned.close()

    # Any other namespace: the policy refuses first, before any request.
    for details in (
        {"namespace": "other", "deployment": "x", "managed": MANAGED},
        {"namespace": "other", "deployment": "x"},
    ):
        refused = provider(details, temporal, tmp_path, "refused")
        check = await refused.validate()
        assert not check.ok and check.kind == "invalid"
        assert "namespace 'other' is not allowed by the cluster policy" in check.message
        with pytest.raises(ProviderError, match="allowed_namespaces: workers"):
            await refused.start()
        await refused.close()
    assert not [r for r in cluster.emulator.requests if r.endswith(" in other")]

    # Were the policy bypassed, the chart's RBAC refuses too.
    bypass = KubernetesProvider(
        K8sDetails.model_validate({"namespace": "other", "deployment": "x", "managed": MANAGED}),
        worker_env=WorkerEnvironment(address=temporal, namespace="default", task_queues=("q",)),
        deployment="orders",
        group_id="bypass",
        policy=ClusterPolicy(),
    )
    with pytest.raises(ProviderError) as refused_by_rbac:
        await bypass.start()
    assert refused_by_rbac.value.kind == "access_denied"
    assert cluster.emulator.denied and all(d.endswith(" in other") for d in cluster.emulator.denied)
    assert await cluster.get("Deployment", "other", "x") is None
    await bypass.close()
