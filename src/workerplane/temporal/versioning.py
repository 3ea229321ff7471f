"""Worker versioning on a Temporal server: routing (current and ramping versions) and the
rollout gate's workflow.

The API's set-current / set-ramping and the rollout runner call Temporal through the one
:class:`Versioning` client here; a refusal becomes a :class:`~workerplane.errors.Conflict`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import (
    PinnedVersioningOverride,
    WorkerDeploymentVersion,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from workerplane.errors import Conflict
from workerplane.planning.rollout_model import GateObservation, GateOutcome, Routing
from workerplane.temporal.connection import connect, resolve_connection

#: Who Temporal records as having changed the routing.
IDENTITY = "workerplane"

_GATE_ENDINGS = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: (GateOutcome.PASSED, None),
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: (GateOutcome.FAILED, "it failed"),
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: (
        GateOutcome.FAILED, "it timed out",
    ),
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: (
        GateOutcome.FAILED, "it was canceled",
    ),
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: (
        GateOutcome.FAILED, "it was terminated",
    ),
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: (
        GateOutcome.FAILED, "it continued as new (a gate must complete)",
    ),
}  # fmt: skip


class Versioning:
    """Versioning calls on the server at ``address``, one client per namespace."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._clients: dict[str, Client] = {}

    async def client(self, namespace: str) -> Client:
        client = self._clients.get(namespace)
        if client is None:
            client = await connect(resolve_connection(address=self._address, namespace=namespace))
            self._clients[namespace] = client
        return client

    async def set_current(self, namespace: str, deployment: str, build_id: str | None) -> None:
        """``SetWorkerDeploymentCurrentVersion`` (``None``: unversioned workers)."""
        service = (await self.client(namespace)).workflow_service
        try:
            await service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=namespace, deployment_name=deployment, build_id=build_id or "",
                    identity=IDENTITY, allow_no_pollers=True, ignore_missing_task_queues=True,
                )
            )  # fmt: skip
        except RPCError as err:
            raise Conflict(f"Temporal refused set-current: {err.message}") from None

    async def set_ramping(
        self, namespace: str, deployment: str, build_id: str | None, percentage: float
    ) -> None:
        """``SetWorkerDeploymentRampingVersion`` (``None``: end the ramp)."""
        service = (await self.client(namespace)).workflow_service
        try:
            await service.set_worker_deployment_ramping_version(
                SetWorkerDeploymentRampingVersionRequest(
                    namespace=namespace, deployment_name=deployment, build_id=build_id or "",
                    percentage=percentage, identity=IDENTITY, ignore_missing_task_queues=True,
                    allow_no_pollers=True,
                )
            )  # fmt: skip
        except RPCError as err:
            raise Conflict(f"Temporal refused set-ramping: {err.message}") from None

    async def routing(self, namespace: str, deployment: str) -> Routing:
        """The deployment's current and ramping versions (none while Temporal has not seen it)."""
        service = (await self.client(namespace)).workflow_service
        try:
            described = await service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(namespace=namespace, deployment_name=deployment)
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return Routing()
            raise
        config = described.worker_deployment_info.routing_config
        current = config.current_deployment_version.build_id or None
        ramping = config.ramping_deployment_version.build_id or None
        return Routing(
            current=current,
            ramping=ramping,
            percentage=config.ramping_version_percentage if ramping else None,
        )

    async def start_gate(
        self,
        namespace: str,
        deployment: str,
        *,
        workflow_id: str,
        workflow_type: str,
        task_queue: str,
        argument: Any,
        build_id: str,
        timeout_s: float,
    ) -> None:
        """Start the gate workflow pinned to ``build_id``; a run with this ID already there
        (started by an earlier tick) is the one the rollout waits for."""
        client = await self.client(namespace)
        await client.start_workflow(
            workflow_type, *(() if argument is None else (argument,)),
            id=workflow_id, task_queue=task_queue,
            execution_timeout=timedelta(seconds=max(timeout_s, 1.0)),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            versioning_override=PinnedVersioningOverride(
                WorkerDeploymentVersion(deployment_name=deployment, build_id=build_id)
            ),
        )  # fmt: skip

    async def gate(self, namespace: str, workflow_id: str) -> GateObservation:
        """The gate workflow's outcome; a failure says why, in Temporal's words."""
        handle = (await self.client(namespace)).get_workflow_handle(workflow_id)
        try:
            described = await handle.describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return GateObservation(GateOutcome.NOT_FOUND)
            raise
        status = described.raw_description.workflow_execution_info.status
        outcome, message = _GATE_ENDINGS.get(status, (GateOutcome.RUNNING, None))
        if status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED:
            message = await _failure_message(handle)
        return GateObservation(outcome, message)


async def _failure_message(handle: WorkflowHandle[Any, Any]) -> str:
    """The failed gate's error, as its workflow raised it."""
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as err:
        cause = err.cause
        return f"it failed: {getattr(cause, 'message', None) or cause}"
    return "it failed"


def temporal_routing_hook(address: str) -> Any:
    """The API's routing hook: mirrors set-current / set-ramping to Temporal."""
    versioning = Versioning(address)

    async def hook(op: str, args: dict[str, Any]) -> None:
        namespace, deployment = args["namespace"], args["deployment"]
        if op == "set_current":
            await versioning.set_current(namespace, deployment, args["build_id"])
        elif op == "set_ramping":
            await versioning.set_ramping(
                namespace, deployment, args["build_id"], float(args["percentage"])
            )

    return hook
