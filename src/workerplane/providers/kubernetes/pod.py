"""The pod of a managed worker Deployment: containers, env, volumes, resources (pure).

The worker container reads Temporal's settings from its environment; secret values never appear
literally, only as references to a Secret. Its readiness probe and preStop hook run
``workerplane.providers.kubernetes.probe``; the optional sidecar publishes the worker's in-flight
count on the pod (``podreport``).
"""

from __future__ import annotations

from typing import Any

from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.kubernetes.details import (
    ClusterPolicy,
    ManagedDeploymentSpec,
    format_cpus,
)
from workerplane.providers.kubernetes.names import (
    SIDECAR_CONTAINER,
    STATUS_DIR,
    STATUS_FILE,
    TLS_DIR,
    WORKER_CONTAINER,
)
from workerplane.worker.push import REPORT_TOKEN_ENV

#: Controller-local settings that mean nothing inside a pod.
_HOST_ONLY_ENV = ("WORKERPLANE_CONTROLLER_PID", "WORKERPLANE_ORPHAN_EXIT_S")


def _pod_identity_env() -> list[dict[str, Any]]:
    """Lets a container name its own pod (the sidecar patches it; the runtime reports it)."""
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]


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
    entries += _pod_identity_env()
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
    """The variables workerplane's own Secret holds: the group's ``secret_env``, the workers'
    report token, plus Temporal's credentials unless the user's :class:`CredentialsRef` Secret
    supplies those."""
    kept = (
        dict(env.secret_env)
        if spec.credentials is None
        else {k: v for k, v in env.secret_env.items() if k == REPORT_TOKEN_ENV}
    )
    return {**kept, **{k: v.get_secret_value() for k, v in spec.secret_env.items()}}


def pod_template(
    spec: ManagedDeploymentSpec,
    env: WorkerEnvironment,
    policy: ClusterPolicy,
    *,
    labels: dict[str, str],
    credentials_secret: str | None,
    service_account: str | None,
) -> dict[str, Any]:
    """The Deployment's pod template: the worker container (with its readiness probe and
    preStop drain), the in-flight sidecar if on, volumes, scheduling and the user's annotations."""
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
                    *_pod_identity_env(),
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
    return template
