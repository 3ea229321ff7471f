"""Render the Kubernetes objects of a managed worker Deployment (pure: dicts in, dicts out).

What one managed scaling group owns, in apply order:

1. ``Secret <deployment>-temporal`` - only when the Temporal credentials come from workerplane's own
   config (API key, inline TLS data) rather than from an existing Secret the user names;
2. ``ServiceAccount``/``Role``/``RoleBinding <deployment>-worker`` - only when the in-flight sidecar
   is on and the user names no ServiceAccount; the Role allows ``get`` and ``patch`` on pods in the
   namespace and nothing else;
3. ``Deployment <deployment>``;
4. ``PodDisruptionBudget <deployment>``.

Every object carries ``app.kubernetes.io/managed-by: workerplane`` and the owner annotation
``workerplane.dev/owner: <workerplane deployment>/<group>``; the provider refuses to touch an
object with another owner. The pod template's hash is stored in ``workerplane.dev/spec-hash``:
an unchanged spec is never re-applied, so changing only min/max never rolls the pods.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.kubernetes.details import (
    ClusterPolicy,
    K8sDetails,
    ManagedDeploymentSpec,
    format_cpus,
)

LABEL_WORKER = "workerplane.dev/worker"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
ANN_OWNER = "workerplane.dev/owner"
ANN_SPEC_HASH = "workerplane.dev/spec-hash"
ANN_LAST_APPLIED = "workerplane.dev/last-applied"
#: Published by each pod's sidecar: tasks the pod's worker is executing now.
ANN_IN_FLIGHT = "workerplane.dev/in-flight"
#: Published by each pod's sidecar: the worker's state ("polling", "draining", ...).
ANN_WORKER_STATE = "workerplane.dev/worker-state"
#: Published by each pod's sidecar: the task slots ``in-flight`` counts against, if limited.
ANN_SLOTS = "workerplane.dev/slots"
#: Read by the ReplicaSet controller: on scale-down, pods with a lower cost go first.
ANN_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

STATUS_DIR = "/var/run/workerplane"
STATUS_FILE = f"{STATUS_DIR}/status.json"
TLS_DIR = "/etc/workerplane/temporal-tls"
WORKER_CONTAINER = "worker"
SIDECAR_CONTAINER = "in-flight"

#: Controller-local settings that mean nothing inside a pod.
_HOST_ONLY_ENV = ("WORKERPLANE_CONTROLLER_PID", "WORKERPLANE_ORPHAN_EXIT_S")


@dataclass(frozen=True)
class Rendered:
    """One object to apply, with the API path parts the client needs.

    Attributes:
        kind: ``Deployment``, ``PodDisruptionBudget``, ``Secret``, ...
        name: the object's name.
        body: the full manifest.
        secret: the body holds secret values (never log it, never store last-applied).
    """

    kind: str
    name: str
    body: dict[str, Any]
    secret: bool = False


@dataclass(frozen=True)
class ManagedObjects:
    """Everything one managed group owns, in apply order (delete in reverse)."""

    namespace: str
    objects: list[Rendered] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=dict)
    spec_hash: str = ""

    def get(self, kind: str) -> Rendered | None:
        return next((obj for obj in self.objects if obj.kind == kind), None)


def owner_value(deployment: str, group_id: str) -> str:
    """The owner annotation's value: which workerplane deployment and group own an object."""
    return f"{deployment}/{group_id}"


def spec_hash(value: Any) -> str:
    """A short, stable hash of a JSON-able value (key order does not matter)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _meta(
    name: str, namespace: str, labels: dict[str, str], owner: str, extra: dict[str, str]
) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "annotations": {**extra, ANN_OWNER: owner},
    }


def _secret_env_ref(secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"secretKeyRef": ref}


def worker_env(
    spec: ManagedDeploymentSpec, env: WorkerEnvironment, credentials_secret: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The worker container's env, volume mounts and pod volumes for Temporal access.

    Plain settings (address, namespace, task queues, deployment name, build ID) are literal values.
    Secret ones never are: they come from ``credentials_secret`` (workerplane's own Secret holding
    ``env.secret_env``) or from the user's :class:`CredentialsRef` Secret. TLS *paths* from the
    controller's host are dropped: those files do not exist in the pod.
    """
    plain = {
        k: v
        for k, v in env.as_env().items()
        if k not in env.secret_env and k not in _HOST_ONLY_ENV and not k.endswith("_PATH")
    }
    plain["WORKERPLANE_STATUS_FILE"] = STATUS_FILE
    # The runtime lets in-flight activities finish for this long after SIGTERM; the pod's grace
    # period is this plus the drain margin, so the kubelet never SIGKILLs a finishing activity.
    plain["WORKERPLANE_GRACEFUL_SHUTDOWN_S"] = str(spec.longest_activity_s)
    if spec.idle_exit_s is not None:
        plain["WORKERPLANE_IDLE_EXIT_S"] = str(spec.idle_exit_s)
    else:
        plain.pop("WORKERPLANE_IDLE_EXIT_S", None)
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    secret_refs: dict[str, dict[str, Any]] = {}

    creds = spec.credentials
    if creds is not None:
        # The user's Secret replaces whatever credentials workerplane's own config holds.
        for key in env.secret_env:
            plain.pop(key, None)
        if creds.api_key_key:
            secret_refs["TEMPORAL_API_KEY"] = _secret_env_ref(creds.secret, creds.api_key_key)
        if creds.has_tls:
            items = []
            plain["TEMPORAL_TLS"] = "true"
            tls_files: tuple[tuple[str | None, str, str], ...] = (
                (creds.tls_cert_key, "tls.crt", "TEMPORAL_TLS_CLIENT_CERT_PATH"),
                (creds.tls_key_key, "tls.key", "TEMPORAL_TLS_CLIENT_KEY_PATH"),
                (creds.ca_cert_key, "ca.crt", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
            )
            for secret_key, file, var in tls_files:
                if secret_key:
                    items.append({"key": secret_key, "path": file})
                    plain[var] = f"{TLS_DIR}/{file}"
            if creds.server_name:
                plain["TEMPORAL_TLS_SERVER_NAME"] = creds.server_name
            volumes.append(
                {
                    "name": "temporal-tls",
                    "secret": {"secretName": creds.secret, "items": items, "defaultMode": 0o400},
                }
            )
            mounts.append({"name": "temporal-tls", "mountPath": TLS_DIR, "readOnly": True})
    if credentials_secret is not None:
        for key in sorted(own_secret_env(spec, env)):
            secret_refs[key] = _secret_env_ref(credentials_secret, key)

    entries: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    entries += [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    entries += [{"name": k, "valueFrom": ref} for k, ref in sorted(secret_refs.items())]
    entries += [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    return entries, mounts, volumes


def _resources(spec: ManagedDeploymentSpec, policy: ClusterPolicy) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": format_cpus(spec.cpus), "memory": spec.memory}
    limits: dict[str, str] = {"cpu": format_cpus(spec.cpus), "memory": spec.memory}
    if spec.storage:
        requests["ephemeral-storage"] = spec.storage
        limits["ephemeral-storage"] = spec.storage
    if spec.gpus and spec.gpu_type:
        # Extended resources may be given as limits alone; requests default to the same value.
        limits[policy.gpu_types[spec.gpu_type].resource] = str(spec.gpus)
    return {"requests": requests, "limits": limits}


def own_secret_env(spec: ManagedDeploymentSpec, env: WorkerEnvironment) -> dict[str, str]:
    """The variables workerplane's own Secret holds: the group's ``secret_env``, plus Temporal's
    credentials unless the user's :class:`CredentialsRef` Secret supplies those."""
    temporal = dict(env.secret_env) if spec.credentials is None else {}
    return {**temporal, **{k: v.get_secret_value() for k, v in spec.secret_env.items()}}


def render_managed(
    details: K8sDetails,
    env: WorkerEnvironment,
    policy: ClusterPolicy,
    *,
    owner: str,
    deployment: str,
    group_id: str,
) -> ManagedObjects:
    """Every object of a managed group. ``details.managed`` must be set and policy-checked.

    Raises:
        ValueError: ``details`` has no ``managed`` block, or ``gpu_type`` is not in the policy.
    """
    spec = details.managed
    if spec is None:
        raise ValueError("render_managed needs a managed block")
    if spec.gpu_type and spec.gpu_type not in policy.gpu_types:
        raise ValueError(f"gpu_type: unknown GPU type {spec.gpu_type!r}")
    ns = details.namespace
    name = details.deployment
    selector = {LABEL_WORKER: name}
    labels = {
        **spec.labels,
        LABEL_NAME: name,
        LABEL_COMPONENT: "temporal-worker",
        LABEL_MANAGED_BY: "workerplane",
        LABEL_WORKER: name,
        "workerplane.dev/deployment": deployment,
        "workerplane.dev/group": group_id,
    }
    objects: list[Rendered] = []

    credentials_secret: str | None = None
    secret_values = own_secret_env(spec, env)
    if secret_values:
        credentials_secret = f"{name}-temporal"
        objects.append(
            Rendered(
                kind="Secret",
                name=credentials_secret,
                secret=True,
                body={
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": _meta(credentials_secret, ns, labels, owner, {}),
                    "type": "Opaque",
                    "stringData": dict(sorted(secret_values.items())),
                },
            )
        )

    service_account = spec.service_account
    if service_account is None and spec.publish_in_flight:
        service_account = f"{name}-worker"
        objects.append(
            Rendered(
                kind="ServiceAccount",
                name=service_account,
                body={
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": _meta(service_account, ns, labels, owner, {}),
                    "automountServiceAccountToken": True,
                },
            )
        )
        objects.append(
            Rendered(
                kind="Role",
                name=service_account,
                body={
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": _meta(service_account, ns, labels, owner, {}),
                    # A pod can only be named in the rule once it exists, so the Role covers the
                    # namespace's pods, and only the two verbs the sidecar uses on its own pod.
                    "rules": [
                        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}
                    ],
                },
            )
        )
        objects.append(
            Rendered(
                kind="RoleBinding",
                name=service_account,
                body={
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": _meta(service_account, ns, labels, owner, {}),
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": service_account,
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": service_account, "namespace": ns}
                    ],
                },
            )
        )

    env_entries, tls_mounts, tls_volumes = worker_env(spec, env, credentials_secret)
    mounts: list[dict[str, Any]] = [{"name": "workerplane-status", "mountPath": STATUS_DIR}]
    volumes: list[dict[str, Any]] = [{"name": "workerplane-status", "emptyDir": {}}]
    node_selector = dict(spec.node_selector)
    tolerations = list(spec.tolerations)
    if spec.gpus and spec.gpu_type:
        gpu = policy.gpu_types[spec.gpu_type]
        node_selector.update(gpu.node_selector)
        tolerations += [t for t in gpu.tolerations if t not in tolerations]
        # CUDA/NCCL and PyTorch data loaders need far more shared memory than the 64Mi default.
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
        volumes.append(
            {
                "name": "dshm",
                "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size or spec.memory},
            }
        )
    mounts += tls_mounts
    volumes += tls_volumes

    probe_cmd = [spec.python, "-m", "workerplane.providers.kubernetes.probe"]
    worker: dict[str, Any] = {
        "name": WORKER_CONTAINER,
        "image": spec.image,
        "env": env_entries,
        "resources": _resources(spec, policy),
        "volumeMounts": mounts,
        # Ready means "this pod's worker is polling", read from the status file the runtime keeps.
        "readinessProbe": {
            "exec": {"command": [*probe_cmd, "ready"]},
            "periodSeconds": spec.readiness_period_s,
            "timeoutSeconds": 5,
            "failureThreshold": 2,
        },
        # Stop polling first, then wait (within the grace period) for in-flight work to finish.
        "lifecycle": {
            "preStop": {
                "exec": {
                    "command": [*probe_cmd, "prestop", "--timeout", str(spec.grace_period_s - 2)]
                }
            }
        },
    }
    if spec.command:
        worker["command"] = list(spec.command)
    if spec.args:
        worker["args"] = list(spec.args)
    if spec.image_pull_policy:
        worker["imagePullPolicy"] = spec.image_pull_policy
    containers = [worker]
    if spec.publish_in_flight:
        containers.append(
            {
                "name": SIDECAR_CONTAINER,
                "image": spec.image,
                "command": [spec.python, "-m", "workerplane.providers.kubernetes.podreport"],
                "env": [
                    {"name": "WORKERPLANE_STATUS_FILE", "value": STATUS_FILE},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {
                        "name": "POD_NAMESPACE",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                    },
                ],
                "resources": {
                    "requests": {"cpu": "10m", "memory": "48Mi"},
                    "limits": {"memory": "96Mi"},
                },
                "volumeMounts": [
                    {"name": "workerplane-status", "mountPath": STATUS_DIR, "readOnly": True}
                ],
            }
        )
    pod_spec: dict[str, Any] = {
        "containers": containers,
        "volumes": volumes,
        "terminationGracePeriodSeconds": spec.grace_period_s,
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    if spec.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in spec.image_pull_secrets]

    template = {"metadata": {"labels": dict(labels)}, "spec": pod_spec}
    if spec.annotations:
        template["metadata"]["annotations"] = dict(spec.annotations)
    digest = spec_hash(template)
    template["metadata"].setdefault("annotations", {})[ANN_SPEC_HASH] = digest

    objects.append(
        Rendered(
            kind="Deployment",
            name=name,
            body={
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta(name, ns, labels, owner, {ANN_SPEC_HASH: digest}),
                "spec": {
                    "replicas": spec.initial_replicas,
                    "selector": {"matchLabels": selector},
                    # New pods come up before old ones are asked to drain.
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
                    },
                    "revisionHistoryLimit": 3,
                    "template": template,
                },
            },
        )
    )
    objects.append(
        Rendered(
            kind="PodDisruptionBudget",
            name=name,
            body={
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(name, ns, labels, owner, {}),
                "spec": {
                    "maxUnavailable": spec.max_unavailable,
                    "selector": {"matchLabels": selector},
                },
            },
        )
    )
    return ManagedObjects(namespace=ns, objects=objects, selector=selector, spec_hash=digest)


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``.

    Keys present in ``old`` but not in ``new`` become ``null`` (deleted); lists are replaced whole,
    which is what we want for containers, volumes and tolerations.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch
