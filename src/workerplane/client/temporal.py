"""Interop with Temporal's own compute RPCs: push a compute config, ask the server to validate.

These talk to a Temporal server whose worker controller is enabled (dynamic config
``workercontroller.enabled``, ``workercontroller.compute_providers.enabled``,
``workercontroller.scaling_algorithms.enabled``); with the controller off the server rejects
every compute provider. The config goes through :mod:`workerplane.config.proto`, so what Temporal
receives is byte-for-byte what its own clients send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.compute.v1 import ComputeConfigScalingGroupUpdate
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.workflowservice.v1 import (
    CreateWorkerDeploymentVersionRequest,
    UpdateWorkerDeploymentVersionComputeConfigRequest,
    ValidateWorkerDeploymentVersionComputeConfigRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workerplane.config.model import ComputeConfig
from workerplane.config.proto import compute_config_to_proto
from workerplane.config.update import ACCEPTED_PATHS

#: Replace every field of an existing group (a push is "make it exactly this").
_FULL_MASK = ("task_queue_types", "region_ids", "provider", "scaler")


@dataclass(frozen=True)
class ServerAnswer:
    ok: bool
    action: str
    message: str = ""


def _version(deployment: str, build_id: str) -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(deployment_name=deployment, build_id=build_id)


def _full_updates(compute: ComputeConfig) -> dict[str, ComputeConfigScalingGroupUpdate]:
    proto = compute_config_to_proto(compute)
    updates = {}
    for key, group in proto.scaling_groups.items():
        update = ComputeConfigScalingGroupUpdate(scaling_group=group)
        update.update_mask.paths.extend(p for p in _FULL_MASK if p in ACCEPTED_PATHS)
        updates[key] = update
    return updates


async def push_compute_config(
    client: Client,
    namespace: str,
    deployment: str,
    build_id: str,
    compute: ComputeConfig,
    *,
    remove: list[str] | None = None,
    timeout_s: float = 30.0,
) -> ServerAnswer:
    """CreateWorkerDeploymentVersion with the config; if the version exists, update it instead
    (UpdateWorkerDeploymentVersionComputeConfig with full masks, plus ``remove``)."""
    service = client.workflow_service
    timeout = timedelta(seconds=timeout_s)
    try:
        await service.create_worker_deployment_version(
            CreateWorkerDeploymentVersionRequest(
                namespace=namespace,
                deployment_version=_version(deployment, build_id),
                compute_config=compute_config_to_proto(compute),
                identity="workerplane",
                request_id=uuid.uuid4().hex,
            ),
            timeout=timeout,
        )
        return ServerAnswer(True, "created")
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            return ServerAnswer(False, "create", err.message)
    try:
        await service.update_worker_deployment_version_compute_config(
            UpdateWorkerDeploymentVersionComputeConfigRequest(
                namespace=namespace,
                deployment_version=_version(deployment, build_id),
                compute_config_scaling_groups=_full_updates(compute),
                remove_compute_config_scaling_groups=list(remove or []),
                identity="workerplane",
                request_id=uuid.uuid4().hex,
            ),
            timeout=timeout,
        )
        return ServerAnswer(True, "updated")
    except RPCError as err:
        return ServerAnswer(False, "update", err.message)


async def validate_on_temporal(
    client: Client,
    namespace: str,
    deployment: str,
    build_id: str,
    compute: ComputeConfig,
    *,
    timeout_s: float = 30.0,
) -> ServerAnswer:
    """ValidateWorkerDeploymentVersionComputeConfig: the server's own verdict, nothing applied."""
    try:
        await client.workflow_service.validate_worker_deployment_version_compute_config(
            ValidateWorkerDeploymentVersionComputeConfigRequest(
                namespace=namespace,
                deployment_version=_version(deployment, build_id),
                compute_config_scaling_groups=_full_updates(compute),
                identity="workerplane",
            ),
            timeout=timedelta(seconds=timeout_s),
        )
        return ServerAnswer(True, "validated")
    except RPCError as err:
        if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
            return ServerAnswer(
                False,
                "validate",
                f"the server gave no verdict within {timeout_s:g}s (Temporal retries a failing "
                "provider check until the call's deadline)",
            )
        return ServerAnswer(False, "validate", err.message)
