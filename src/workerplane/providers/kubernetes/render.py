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
from workerplane.providers.kubernetes.details import ClusterPolicy, K8sDetails
from workerplane.providers.kubernetes.names import (
    ANN_OWNER,
    ANN_SPEC_HASH,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_WORKER,
)
from workerplane.providers.kubernetes.pod import own_secret_env, pod_template


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


@dataclass(frozen=True)
class _Owner:
    """Stamps every object of one group with its namespace, labels and owner annotation."""

    namespace: str
    labels: dict[str, str]
    owner: str

    def object(
        self,
        api_version: str,
        kind: str,
        name: str,
        *,
        annotations: dict[str, str] | None = None,
        secret: bool = False,
        **fields: Any,
    ) -> Rendered:
        metadata = {
            "name": name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
            "annotations": {**(annotations or {}), ANN_OWNER: self.owner},
        }
        body = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}
        return Rendered(kind=kind, name=name, body=body, secret=secret)


def _worker_rbac(owned: _Owner, service_account: str) -> list[Rendered]:
    """A ServiceAccount allowed to read and patch pods: what the in-flight sidecar needs."""
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        owned.object("v1", "ServiceAccount", service_account, automountServiceAccountToken=True),
        # A pod can only be named in the rule once it exists, so the Role covers the namespace's
        # pods, and only the two verbs the sidecar uses on its own pod.
        owned.object(
            rbac,
            "Role",
            service_account,
            rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]}],
        ),
        owned.object(
            rbac,
            "RoleBinding",
            service_account,
            roleRef={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": service_account,
            },
            subjects=[
                {"kind": "ServiceAccount", "name": service_account, "namespace": owned.namespace}
            ],
        ),
    ]


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
    owned = _Owner(details.namespace, labels, owner)
    objects: list[Rendered] = []

    credentials_secret: str | None = None
    secret_values = own_secret_env(spec, env)
    if secret_values:
        credentials_secret = f"{name}-temporal"
        objects.append(
            owned.object(
                "v1",
                "Secret",
                credentials_secret,
                secret=True,
                type="Opaque",
                stringData=dict(sorted(secret_values.items())),
            )
        )

    service_account = spec.service_account
    if service_account is None and spec.publish_in_flight:
        service_account = f"{name}-worker"
        objects += _worker_rbac(owned, service_account)

    template = pod_template(
        spec,
        env,
        policy,
        labels=labels,
        credentials_secret=credentials_secret,
        service_account=service_account,
    )
    digest = spec_hash(template)
    template["metadata"].setdefault("annotations", {})[ANN_SPEC_HASH] = digest

    objects.append(
        owned.object(
            "apps/v1",
            "Deployment",
            name,
            annotations={ANN_SPEC_HASH: digest},
            spec={
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
        )
    )
    objects.append(
        owned.object(
            "policy/v1",
            "PodDisruptionBudget",
            name,
            spec={"maxUnavailable": spec.max_unavailable, "selector": {"matchLabels": selector}},
        )
    )
    return ManagedObjects(
        namespace=details.namespace, objects=objects, selector=selector, spec_hash=digest
    )


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
