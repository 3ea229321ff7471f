"""Test support for the Kubernetes provider: kmock's in-memory apiserver, fault injection, a
stand-in for the Deployment/ReplicaSet controllers and the kubelet, and schema validation.

No real apiserver can run on our machines, so these tests use ``kmock`` (an in-memory Kubernetes
API on loopback, from the kopf author) with the official ``kubernetes`` client. kmock stores,
patches and deletes objects but runs no controllers; :class:`FakeCluster` plays them: it creates
and deletes pods to match a Deployment's ``spec.replicas`` (lowest pod-deletion-cost first, as the
ReplicaSet controller does), runs each pod's REAL readiness probe command against that pod's
status file, and writes the Deployment's ``status`` and the pods' Ready condition through the API.

kmock limits that matter here (documented so nobody mistakes them for our behaviour):
* it ignores ``labelSelector`` (our client filters again, so that is harmless);
* a ``scale`` subresource GET returns the whole Deployment (same ``spec.replicas`` path as Scale);
* it keeps no resourceVersion, so optimistic-concurrency 409s are injected by :class:`Fault`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
import kmock
import kubernetes_validate
import yaml
from kmock._internal.k8s import KubernetesError

from workerplane.providers.kubernetes.api import RESOURCES, KubeApi, ObjectRef
from workerplane.providers.kubernetes.names import ANN_DELETION_COST

K8S_VERSION = "1.30"


@dataclass
class Fault:
    """Answer the next ``times`` requests matching ``method`` and ``path_contains`` with ``status``.

    The request is refused BEFORE kmock stores anything, as a real apiserver refusing a write.
    """

    method: str
    path_contains: str
    status: int
    times: int = 1
    reason: str = ""
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.times > 0 and method.upper() == self.method.upper() and self.path_contains in path
        )


_REASONS = {
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    422: "Invalid",
}


@attrs.define(kw_only=True)
class FaultyEmulator(kmock.KubernetesEmulator):
    """kmock's emulator plus scripted failures (see :class:`Fault`)."""

    faults: list[Fault] = attrs.field(factory=list)

    async def _handle(self, request: Any) -> Any:
        path = request.url.path
        method = str(getattr(request.method, "value", request.method))
        for fault in self.faults:
            if fault.matches(method, path):
                fault.times -= 1
                fault.hits += 1
                return await self._render_error(
                    KubernetesError(
                        status=fault.status,
                        reason=fault.reason or _REASONS.get(fault.status, "Error"),
                        message=f"injected {fault.status}",
                        details={},
                    )
                )
        return await super()._handle(request)


def kubeconfig_for(url: str) -> str:
    """Kubeconfig CONTENT (Temporal's ``kubeconfig`` key) pointing at the emulator."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": url}}],
            "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
            "contexts": [
                {"name": "kmock", "context": {"cluster": "kmock", "user": "tester"}},
            ],
            "current-context": "kmock",
        }
    )


async def start_emulator() -> tuple[FaultyEmulator, kmock.Server, str]:
    emulator = FaultyEmulator()
    # Declare the kinds we use so that listing an empty collection answers 200, not 404.
    for prefix, plural in RESOURCES.values():
        group_version = prefix.removeprefix("/apis/").removeprefix("/api/")
        emulator.resources[f"{group_version}/{plural}"] = {}
    await emulator.__aenter__()
    server = kmock.Server(emulator, host="127.0.0.1")
    await server.__aenter__()
    return emulator, server, str(server.url).rstrip("/")


async def stop_emulator(emulator: FaultyEmulator, server: kmock.Server) -> None:
    await server.__aexit__(None, None, None)
    await emulator.__aexit__(None, None, None)


def deployment_manifest(name: str, namespace: str, replicas: int = 0) -> dict[str, Any]:
    """A user-owned Deployment, as a team would have it."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "worker", "image": "example/worker:1"}]},
            },
        },
    }


@dataclass
class FakeCluster:
    """Plays the Deployment/ReplicaSet controllers and the kubelet for one namespace.

    Each pod gets its own status-file path under ``status_dir`` (what the worker container would
    write); readiness is decided by running the real probe command on it.
    """

    api: KubeApi
    namespace: str
    status_dir: Path
    created: int = 0
    deleted: list[str] = field(default_factory=list)

    def status_file(self, pod: str) -> Path:
        return self.status_dir / f"{pod}.json"

    async def pods(self, selector: dict[str, str]) -> list[dict[str, Any]]:
        return [
            p
            for p in await self.api.list("Pod", self.namespace, selector)
            if not p["metadata"].get("deletionTimestamp")
        ]

    async def reconcile(self, name: str) -> list[dict[str, Any]]:
        """One pass of the controllers + kubelet for Deployment ``name``; returns its pods."""
        ref = ObjectRef("Deployment", self.namespace, name)
        dep = await self.api.get(ref)
        assert dep is not None
        want = int(dep["spec"].get("replicas") or 0)
        selector = dep["spec"]["selector"]["matchLabels"]
        template = dep["spec"]["template"]
        pods = await self.pods(selector)
        while len(pods) < want:
            self.created += 1
            pod_name = f"{name}-{self.created:05d}"
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": self.namespace,
                    "labels": dict(template["metadata"].get("labels") or {}),
                    "annotations": dict(template["metadata"].get("annotations") or {}),
                },
                "spec": template["spec"],
                "status": {"phase": "Running"},
            }
            await self.api.create(ObjectRef("Pod", self.namespace, pod_name), body)
            pods.append(body)
        if len(pods) > want:
            # The ReplicaSet controller's ranking, reduced to what we emulate: not-ready pods
            # first, then the lowest controller.kubernetes.io/pod-deletion-cost, then the newest.
            def rank(pod: dict[str, Any]) -> tuple[int, int, str]:
                ready = self._is_ready(pod["metadata"]["name"])
                cost = int((pod["metadata"].get("annotations") or {}).get(ANN_DELETION_COST, 0))
                return (1 if ready else 0, cost, _neg(pod["metadata"]["name"]))

            for pod in sorted(pods, key=rank)[: len(pods) - want]:
                await self.api.delete(ObjectRef("Pod", self.namespace, pod["metadata"]["name"]))
                self.deleted.append(pod["metadata"]["name"])
            pods = await self.pods(selector)
        ready = 0
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            is_ready = self._is_ready(pod_name)
            ready += is_ready
            await self.api.patch(
                ObjectRef("Pod", self.namespace, pod_name),
                {
                    "status": {
                        "phase": "Running",
                        "conditions": [{"type": "Ready", "status": str(is_ready)}],
                    }
                },
                sub="status",
            )
        await self.api.patch(
            ref,
            {"status": {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready}},
            sub="status",
        )
        return await self.pods(selector)

    def _is_ready(self, pod: str) -> bool:
        """Run the pod's readiness probe (the real command) against the pod's status file."""
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "workerplane.providers.kubernetes.probe",
                "ready",
                "--file",
                str(self.status_file(pod)),
            ],
            capture_output=True,
            timeout=60,
        )
        return proc.returncode == 0


def _neg(name: str) -> str:
    # Newest first among equals: invert the (zero-padded) sequence number's order.
    return "".join(chr(255 - ord(c)) for c in name)


async def run_cluster(cluster: FakeCluster, name: str, stop: asyncio.Event) -> None:
    """Reconcile ``name`` until ``stop`` is set (for the end-to-end test)."""
    while not stop.is_set():
        await cluster.reconcile(name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.3)


def validate_k8s(obj: dict[str, Any]) -> None:
    """Validate against the official Kubernetes OpenAPI schemas (kubernetes-validate, strict)."""
    kubernetes_validate.validate(json.loads(json.dumps(obj)), K8S_VERSION, strict=True)
