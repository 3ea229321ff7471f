"""Typed details of the ``k8s`` provider, its managed-mode block, and the cluster policy.

Two modes share the provider type ``k8s``:

* **user-owned** (Temporal's keys only: ``namespace``, ``deployment``, ``kubeconfig``,
  ``context``): workerplane only reads and patches the Deployment's ``scale`` subresource;
* **managed** (``managed: {...}`` present): workerplane renders the Deployment (and its
  PodDisruptionBudget, worker ServiceAccount/Role/RoleBinding and credentials Secret), applies it,
  and deletes it again when the deployment goes away.

The :class:`ClusterPolicy` is what the cluster operator allows: the GPU types and how to schedule
them (resource name, node selector, tolerations), per-pod resource ceilings, and the namespaces
workers may run in. It comes from a YAML file named by ``WORKERPLANE_K8S_POLICY`` (the Helm chart
mounts a ConfigMap there, its ``allowed_namespaces`` from the same value as its RBAC;
:func:`workerplane.providers.kubernetes.provider.load_cluster_policy` reads it), so one team
cannot widen it through its own deployment spec. :meth:`K8sDetails.check_policy` is the one
check: the provider runs it before any request, ``workerplane validate`` before anything runs.

This module is pure (pydantic only): the provider registry and the config layer import it.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workerplane.config.secret_field import Secret
from workerplane.providers.fields import SecretEnv, env_names

POLICY_ENV = "WORKERPLANE_K8S_POLICY"

#: Names Kubernetes accepts for Deployments, Secrets, ... (RFC 1123 subdomain, kept to 63 chars
#: because the name is also used as a label value).
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

#: Variables workerplane sets itself; a user ``env`` entry may not shadow them.
RESERVED_ENV_PREFIXES = ("TEMPORAL_", "WORKERPLANE_")


def dns_name(value: str, what: str = "name") -> str:
    if len(value) > 63 or not _DNS_1123.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid Kubernetes name "
            "(lower-case letters, digits and '-', at most 63 characters)"
        )
    return value


def parse_quantity(value: str | float | int) -> float:
    """A Kubernetes quantity ("500m", "1.5", "16Gi") as a plain number (cores or bytes)."""
    suffixes: dict[str, Decimal | int] = {
        "": 1,
        "m": Decimal("0.001"),
        "k": 10**3,
        "M": 10**6,
        "G": 10**9,
        "T": 10**12,
        "P": 10**15,
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "Pi": 2**50,
    }
    text = str(value).strip()
    match = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)([A-Za-z]*)", text)
    if not match or match.group(2) not in suffixes:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 16Gi)")
    try:
        number = Decimal(match.group(1)) * Decimal(suffixes[match.group(2)])
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules this out
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from exc
    return float(number)


def format_cpus(cpus: float | str) -> str:
    """CPU as a canonical quantity: whole cores as "2", fractions in millicores ("1500m")."""
    cores = parse_quantity(cpus)
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


@dataclass(frozen=True)
class PolicyProblem:
    """One way provider details break the cluster policy.

    Attributes:
        field: the offending key, relative to ``provider.details`` (``namespace``,
            ``managed.cpus``), so callers can name it in the spec's own terms.
        rule: what the policy allows, in plain words.
    """

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GpuClass(_Model):
    """How pods asking for one ``gpu_type`` are scheduled."""

    resource: str = "nvidia.com/gpu"
    """The extended resource the device plugin exposes."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Labels the GPU nodes carry, e.g. ``{"k8s.amazonaws.com/accelerator": "nvidia-tesla-t4"}``."""
    tolerations: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    )
    """Tolerations for the taints GPU node pools usually carry."""
    max_gpus: int = Field(default=8, ge=1)
    """Most GPUs of this type one pod may ask for (GPUs per node)."""


def _accelerator(name: str, max_gpus: int = 8) -> GpuClass:
    return GpuClass(node_selector={"k8s.amazonaws.com/accelerator": name}, max_gpus=max_gpus)


#: Launch's (model-engine's) GPU type names and node labels, so endpoint specs port unchanged.
DEFAULT_GPU_TYPES: dict[str, GpuClass] = {
    "nvidia-tesla-t4": _accelerator("nvidia-tesla-t4", 4),
    "nvidia-ampere-a10": _accelerator("nvidia-ampere-a10", 4),
    "nvidia-ampere-a100": _accelerator("nvidia-ampere-a100"),
    "nvidia-ampere-a100e": _accelerator("nvidia-ampere-a100e"),
    "nvidia-hopper-h100": _accelerator("nvidia-hopper-h100"),
    "nvidia-l4": _accelerator("nvidia-l4"),
}


class ClusterPolicy(_Model):
    """What the cluster operator allows managed deployments to ask for (per pod)."""

    gpu_types: dict[str, GpuClass] = Field(default_factory=lambda: dict(DEFAULT_GPU_TYPES))
    max_cpus: float = Field(default=64.0, gt=0)
    max_memory: str = "512Gi"
    max_storage: str = "1Ti"
    max_replicas: int = Field(default=1000, ge=0)
    allowed_namespaces: list[str] | None = None
    """Namespaces workerplane may scale or manage workers in (user-owned and managed alike);
    ``None``: any (RBAC still applies). The Helm chart sets it from ``workerNamespaces``, the
    value its Roles are made from, so the policy and the RBAC agree."""

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespaces(cls, value: list[str] | None) -> list[str] | None:
        for namespace in value or []:
            dns_name(namespace, "allowed namespace")
        return value

    def namespace_problem(self, namespace: str) -> PolicyProblem | None:
        """Why workers may not run in ``namespace``, or ``None`` when they may."""
        allowed = self.allowed_namespaces
        if allowed is None or namespace in allowed:
            return None
        listed = ", ".join(allowed) if allowed else "none"
        return PolicyProblem(
            "namespace",
            f"namespace {namespace!r} is not allowed by the cluster policy "
            f"(allowed_namespaces: {listed})",
        )

    @field_validator("max_memory", "max_storage")
    @classmethod
    def _quantity(cls, value: str) -> str:
        parse_quantity(value)
        return value


class CredentialsRef(_Model):
    """Temporal credentials kept in an existing Secret in the workers' namespace.

    The API key reaches the worker as ``TEMPORAL_API_KEY`` through ``secretKeyRef``; TLS files are
    mounted read-only from the Secret and their paths passed as ``TEMPORAL_TLS_*_PATH``. Nothing is
    inlined in the Deployment.
    """

    secret: str
    api_key_key: str | None = None
    tls_cert_key: str | None = None
    tls_key_key: str | None = None
    ca_cert_key: str | None = None
    server_name: str | None = None

    @field_validator("secret")
    @classmethod
    def _name(cls, value: str) -> str:
        return dns_name(value, "secret")

    @model_validator(mode="after")
    def _pairs(self) -> CredentialsRef:
        if (self.tls_cert_key is None) != (self.tls_key_key is None):
            raise ValueError("tls_cert_key and tls_key_key must be set together")
        return self

    @property
    def has_tls(self) -> bool:
        return self.tls_cert_key is not None or self.ca_cert_key is not None


class ManagedDeploymentSpec(_Model):
    """Managed mode: the worker Deployment workerplane renders, applies, scales and deletes.

    The keys follow Launch's endpoint resources (``cpus``, ``memory``, ``gpus``, ``gpu_type``,
    ``storage``, ``labels``) so an endpoint spec maps one to one.
    """

    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: SecretEnv = Field(default_factory=dict)
    """Secret variables: stored encrypted, shown redacted, passed through the credentials Secret."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    cpus: float | str = 1
    memory: str = "1Gi"
    gpus: int = Field(default=0, ge=0)
    gpu_type: str | None = None
    storage: str | None = None
    """Ephemeral storage per pod (requests and limits)."""
    shm_size: str | None = None
    """Size of the ``/dev/shm`` emptyDir (GPU pods only); defaults to ``memory``."""
    longest_activity_s: float = Field(default=60.0, gt=0, le=7 * 86_400)
    """The longest activity the workers run; the pod's grace period covers it."""
    drain_margin_s: float = Field(default=15.0, ge=0, le=3600)
    """Extra seconds on top of ``longest_activity_s`` for the worker to stop polling and exit."""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    priority_class_name: str | None = None
    service_account: str | None = None
    """Run the pods as this (existing) ServiceAccount. When unset and ``publish_in_flight`` is on,
    workerplane creates ``<deployment>-worker`` with a Role allowing exactly ``get``/``patch`` on
    pods in the namespace (so each pod can publish its in-flight count on itself)."""
    publish_in_flight: bool = True
    """Run the small ``in-flight`` sidecar that copies the worker's status file to the pod's
    ``workerplane.dev/in-flight`` annotation, so scale-down removes idle pods first."""
    python: str = "python"
    """The Python interpreter in the image (used by the probe, preStop hook and sidecar)."""
    credentials: CredentialsRef | None = None
    initial_replicas: int = Field(default=0, ge=0)
    """Replicas when the Deployment is first created (later the controller sets the size)."""
    max_unavailable: int | str = 1
    """The PodDisruptionBudget's ``maxUnavailable`` (node drains evict at most this many)."""
    readiness_period_s: int = Field(default=5, ge=1, le=300)
    idle_exit_s: float | None = Field(default=None, gt=0)
    """Passed to the worker runtime; normally unset on Kubernetes (the Deployment holds the size,
    so a worker that exits by itself would just be restarted)."""

    @field_validator("memory", "storage", "shm_size")
    @classmethod
    def _quantity(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quantity(value)
        return value

    @field_validator("cpus")
    @classmethod
    def _cpus(cls, value: float | str) -> float | str:
        if parse_quantity(value) <= 0:
            raise ValueError("must be > 0")
        return value

    @field_validator("env", "secret_env")
    @classmethod
    def _env(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in env_names(value):
            if name.startswith(RESERVED_ENV_PREFIXES):
                raise ValueError(
                    f"{name!r} is set by workerplane; TEMPORAL_* and WORKERPLANE_* come from the "
                    "deployment's temporal settings"
                )
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.startswith("workerplane.dev/"):
                raise ValueError(f"label {key!r}: the workerplane.dev/ prefix is reserved")
        return value

    @model_validator(mode="after")
    def _gpu(self) -> ManagedDeploymentSpec:
        if self.gpus > 0 and not self.gpu_type:
            raise ValueError("gpu_type is required when gpus > 0")
        if self.gpus == 0 and self.gpu_type:
            raise ValueError("gpu_type is set but gpus is 0")
        return self

    @property
    def grace_period_s(self) -> int:
        """``terminationGracePeriodSeconds``: the longest activity plus the drain margin."""
        return math.ceil(self.longest_activity_s + self.drain_margin_s)

    def check_policy(self, policy: ClusterPolicy) -> list[PolicyProblem]:
        """Every way this block breaks the cluster's per-pod limits (fields under ``managed``)."""
        problems: list[tuple[str, str]] = []
        if parse_quantity(self.cpus) > policy.max_cpus:
            problems.append(
                (
                    "cpus",
                    f"{parse_quantity(self.cpus):g} is above the cluster limit of "
                    f"{policy.max_cpus:g}",
                )
            )
        if parse_quantity(self.memory) > parse_quantity(policy.max_memory):
            problems.append(
                ("memory", f"{self.memory} is above the cluster limit of {policy.max_memory}")
            )
        if self.storage and parse_quantity(self.storage) > parse_quantity(policy.max_storage):
            problems.append(
                ("storage", f"{self.storage} is above the cluster limit of {policy.max_storage}")
            )
        if self.gpu_type:
            gpu = policy.gpu_types.get(self.gpu_type)
            if gpu is None:
                known = ", ".join(sorted(policy.gpu_types)) or "none"
                unknown = f"unknown GPU type {self.gpu_type!r} (known: {known})"
                problems.append(("gpu_type", unknown))
            elif self.gpus > gpu.max_gpus:
                limit = f"{self.gpus} is above the limit of {gpu.max_gpus} for {self.gpu_type}"
                problems.append(("gpus", limit))
        if self.initial_replicas > policy.max_replicas:
            problems.append(
                (
                    "initial_replicas",
                    f"{self.initial_replicas} is above the cluster limit of {policy.max_replicas}",
                )
            )
        return [PolicyProblem(f"managed.{key}", rule) for key, rule in problems]


class K8sDetails(_Model):
    """``provider.details`` for ``type: k8s``.

    ``namespace``, ``deployment``, ``kubeconfig`` and ``context`` are Temporal's keys.
    ``kubeconfig`` is the kubeconfig CONTENT as in Temporal; as a convenience a path to a file is
    accepted too. Unset: the in-cluster service account.
    """

    namespace: str = "default"
    deployment: str
    kubeconfig: Secret | None = None
    context: str | None = None
    managed: ManagedDeploymentSpec | None = None

    def sized_object(self) -> str:
        """The Deployment, in its cluster (the kubeconfig's digest, never its content) and
        context (:meth:`workerplane.providers.fields.ProviderDetails.sized_object`)."""
        kubeconfig = self.kubeconfig.get_secret_value() if self.kubeconfig else ""
        cluster = hashlib.sha256(kubeconfig.encode()).hexdigest()[:16] if kubeconfig else ""
        return f"k8s:{cluster}:{self.context or ''}:{self.namespace}/{self.deployment}"

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return dns_name(value, "namespace")

    @field_validator("deployment")
    @classmethod
    def _deployment(cls, value: str) -> str:
        return dns_name(value, "deployment")

    def check_policy(self, policy: ClusterPolicy) -> list[PolicyProblem]:
        """Every way these details break the cluster policy: the namespace (both modes), then
        the managed block's per-pod limits."""
        problems = [p for p in [policy.namespace_problem(self.namespace)] if p is not None]
        if self.managed is not None:
            problems.extend(self.managed.check_policy(policy))
        return problems
