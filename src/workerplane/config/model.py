"""The deployment spec: what a user writes in ``deploy.yaml`` (and what the API stores).

The ``compute`` part has exactly the shape of Temporal's ``temporal.api.compute.v1.ComputeConfig``:
scaling groups keyed by ID, each with ``task_queue_types``, ``provider {type, details,
nexus_endpoint}`` and ``scaler {type, details}``. Provider and scaler ``details`` are kept here as
plain JSON objects, exactly as they travel inside a Temporal ``Payload``; their typed checks live in
:mod:`workerplane.config.validation`.

These models check structure only (types of the envelope fields). Semantic rules (Temporal's
messages, typed details) are applied by :func:`workerplane.config.validation.validate_spec`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workerplane.config.build_id import AUTO_BUILD_ID, worker_build_id
from workerplane.config.rollout import RolloutSpec
from workerplane.config.secret_field import Secret

TASK_QUEUE_TYPES = ("WORKFLOW", "ACTIVITY", "NEXUS")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSpec(_Strict):
    """``temporal.api.compute.v1.ComputeProvider``."""

    type: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    nexus_endpoint: str = ""


class ScalerSpec(_Strict):
    """``temporal.api.compute.v1.ComputeScaler``."""

    type: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class ScalingGroup(_Strict):
    """``temporal.api.compute.v1.ComputeConfigScalingGroup``.

    ``task_queue_types`` holds Temporal's enum names without prefix (``WORKFLOW``, ``ACTIVITY``,
    ``NEXUS``). An empty list means "every type no other group claims".
    """

    task_queue_types: list[str] = Field(default_factory=list)
    region_ids: list[str] = Field(default_factory=list)
    provider: ProviderSpec = Field(default_factory=ProviderSpec)
    scaler: ScalerSpec = Field(default_factory=ScalerSpec)


class ComputeConfig(_Strict):
    """``temporal.api.compute.v1.ComputeConfig``."""

    scaling_groups: dict[str, ScalingGroup] = Field(default_factory=dict)


class TLSSettings(_Strict):
    """Client TLS, as in ``temporalio.envconfig`` (paths or inline PEM data)."""

    client_cert_path: str | None = None
    client_key_path: str | None = None
    server_ca_cert_path: str | None = None
    client_cert_data: Secret | None = None
    client_key_data: Secret | None = None
    server_ca_cert_data: Secret | None = None
    server_name: str | None = None
    disable_host_verification: bool = False


class TemporalConnection(_Strict):
    """How to reach Temporal. Unset fields fall back to Temporal's own conventions.

    Resolution order, lowest to highest: the ``temporal.toml`` profile (``profile``,
    ``config_file``), then the ``TEMPORAL_*`` environment variables, then the values set here.
    """

    address: str | None = None
    namespace: str | None = None
    api_key: Secret | None = None
    tls: bool | TLSSettings | None = None
    profile: str | None = None
    config_file: str | None = None


class WorkerDeploymentRef(_Strict):
    """A Temporal worker deployment version: the workers are versioned when this is set."""

    name: str
    build_id: str


class DeploymentSpec(_Strict):
    """A worker deployment managed by workerplane.

    Attributes:
        name: workerplane's name for this deployment (unique per controller).
        temporal: the Temporal connection workers and the controller use.
        task_queues: the task queue(s) the workers poll.
        deployment: the worker deployment version, for versioned workers.
        compute: the compute config in Temporal's ``compute.v1`` shape.
        rollout: how a new build replaces this one (versioned workers only); see
            :mod:`workerplane.config.rollout`.
        unmanaged_pollers: what the scalers make of pollers of the deployment's queues that
            workerplane did not start (no marker of this deployment in their identity):
            ``ignore`` (report them, size from its own workers alone) or ``count`` (each is one
            more ready worker); see :mod:`workerplane.planning.pollers`.
    """

    name: str
    temporal: TemporalConnection = Field(default_factory=TemporalConnection)
    task_queues: list[str]
    deployment: WorkerDeploymentRef | None = None
    compute: ComputeConfig
    rollout: RolloutSpec | None = None
    unmanaged_pollers: Literal["ignore", "count"] = "ignore"

    @model_validator(mode="before")
    @classmethod
    def _derive_auto_build_id(cls, data: Any) -> Any:
        """``deployment.build_id: auto`` becomes the hash of the groups' providers (their type
        and details: what defines the workers, not how many run)."""
        if not isinstance(data, dict):
            return data
        deployment, compute = data.get("deployment"), data.get("compute")
        if not (isinstance(deployment, dict) and deployment.get("build_id") == AUTO_BUILD_ID):
            return data
        groups = compute.get("scaling_groups", {}) if isinstance(compute, dict) else {}
        providers = {
            group_id: group.get("provider") if isinstance(group, dict) else group
            for group_id, group in groups.items()
        }
        return {**data, "deployment": {**deployment, "build_id": worker_build_id(providers)}}

    def target(self) -> tuple[str, str]:
        """``(deployment, build_id)`` on a Temporal server: an unversioned spec is its own
        deployment with build ``default``."""
        if self.deployment is not None:
            return self.deployment.name, self.deployment.build_id
        return self.name, "default"


def effective_task_queue_types(config: ComputeConfig, group_id: str) -> tuple[str, ...]:
    """The task queue types a group serves.

    A group with an empty ``task_queue_types`` serves every type that no other group claims
    (Temporal's rule).
    """
    group = config.scaling_groups[group_id]
    if group.task_queue_types:
        return tuple(t for t in TASK_QUEUE_TYPES if t in group.task_queue_types)
    claimed = {
        t
        for other_id, other in config.scaling_groups.items()
        if other_id != group_id
        for t in other.task_queue_types
    }
    return tuple(t for t in TASK_QUEUE_TYPES if t not in claimed)
