"""Interop with Temporal's own compute RPCs: push a compute config, read it back, ask the server
to validate one.

These talk to a Temporal server whose worker controller is enabled (dynamic config
``workercontroller.enabled``, ``workercontroller.compute_providers.enabled``,
``workercontroller.scaling_algorithms.enabled``); with the controller off the server rejects
every compute provider. The config goes through :mod:`workerplane.config.proto`, so what Temporal
receives is byte-for-byte what its own clients send.

Two behaviours of server 1.32.0 (temporal CLI 1.9.1) shape this module:

* ``CreateWorkerDeploymentVersion`` fails with NOT_FOUND unless the worker deployment exists.
  A deployment comes into being when a versioned worker polls, or through
  ``CreateWorkerDeployment``; :func:`push_compute_config` calls the latter first.
* ``ValidateWorkerDeploymentVersionComputeConfig`` never answers. The server runs the check as a
  system workflow (``temporal-sys-worker-controller-instance-validate-workflow`` on the
  namespace's per-namespace worker) and then waits for that workflow's close event with a
  long-poll of its history; the workflow closes within seconds, yet the wait only ends when its
  own 35 s deadline passes ("context deadline exceeded"). :func:`validate_on_temporal` therefore
  also reads the verdict where the server records it: it tags the request with a unique
  ``identity`` (which the server copies into the workflow's start event), finds that workflow
  through visibility and waits for its close event. COMPLETED means valid; FAILED carries the
  server's message (e.g. ``default: illegal_field found in config``). Whichever of the RPC and
  the workflow answers first gives the verdict; with neither within ``timeout_s`` the answer is
  a clear "no verdict" failure, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.compute.v1 import ComputeConfig as ComputeConfigProto
from temporalio.api.compute.v1 import ComputeConfigScalingGroupUpdate
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import EventType, HistoryEventFilterType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    CreateWorkerDeploymentRequest,
    CreateWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentVersionRequest,
    GetWorkflowExecutionHistoryRequest,
    ListWorkflowExecutionsRequest,
    UpdateWorkerDeploymentVersionComputeConfigRequest,
    ValidateWorkerDeploymentVersionComputeConfigRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workerplane.config.model import ComputeConfig, ScalerSpec
from workerplane.config.proto import compute_config_to_proto
from workerplane.config.update import ACCEPTED_PATHS
from workerplane.providers.registry import provider_strategy
from workerplane.scaling.registry import DEFAULT_SCALER
from workerplane.scaling.types import Strategy

#: Replace every field of an existing group (a push is "make it exactly this"). Server 1.32.0
#: answers 'unsupported field mask path: "region_ids"' for that path, so it is not sent.
_FULL_MASK = ("task_queue_types", "provider", "scaler")

#: The system workflow type the server runs for ValidateWorkerDeploymentVersionComputeConfig.
VALIDATE_WORKFLOW_TYPE = "temporal-sys-worker-controller-instance-validate-workflow"


#: Scalers only workerplane runs ("" is the default, ``slo``). A Temporal server answers them with
#: ``invalid scaling algorithm type``.
WORKERPLANE_ONLY_SCALERS = frozenset({"", "slo", "backlog"})

#: Temporal's test providers, which workerplane does not know, and their strategies.
_TEST_PROVIDER_STRATEGIES = {"test-invoke": Strategy.INVOKE, "test-worker-set": Strategy.WORKER_SET}

#: The ``--temporal-scaler`` choices: refuse (explain and stop), or send the closest Temporal one.
TEMPORAL_SCALER_CHOICES = ("refuse", "closest")


class WorkerplaneOnlyScaler(ValueError):
    """A group uses a scaler only workerplane runs; the message says what to do instead."""


def _closest_scaler(provider_type: str, details: dict[str, object], own: ScalerSpec) -> ScalerSpec:
    """Temporal's scaler for the same strategy: ``no-sync`` (invoke) or ``rate-based`` (worker set),
    with the group's ``min_count``/``max_count`` where Temporal's scaler has those keys."""
    strategy = _TEST_PROVIDER_STRATEGIES.get(provider_type) or provider_strategy(
        provider_type, details
    )
    if strategy is Strategy.INVOKE:
        return ScalerSpec(type="no-sync", details={})
    bounds = {k: v for k, v in own.details.items() if k in ("min_count", "max_count")}
    return ScalerSpec(type="rate-based", details=bounds)


def for_temporal_server(compute: ComputeConfig, choice: str) -> tuple[ComputeConfig, list[str]]:
    """The compute config to send to a Temporal server, and one line per scaler replaced.

    ``slo`` and ``backlog`` are workerplane's own scalers; Temporal's server knows only its own.
    With ``choice == "closest"`` each such group gets Temporal's closest scaler, and the returned
    lines say so; nothing is replaced silently.

    Raises:
        WorkerplaneOnlyScaler: ``choice == "refuse"`` and a group uses a workerplane-only scaler.
    """
    changes: list[str] = []
    groups = {}
    for group_id, group in compute.scaling_groups.items():
        own = group.scaler
        if own.type not in WORKERPLANE_ONLY_SCALERS:
            groups[group_id] = group
            continue
        closest = _closest_scaler(group.provider.type, group.provider.details, own)
        name = own.type or f"{DEFAULT_SCALER} (the default)"
        if choice != "closest":
            raise WorkerplaneOnlyScaler(
                f"group {group_id!r}: scaler {name} is workerplane's own; a Temporal server runs "
                f"only its own scalers. Its closest is {closest.type!r}: pass --temporal-scaler "
                f"closest to send that, or set scaler.type to {closest.type!r} yourself"
            )
        keys = ", ".join(f"{k}={v}" for k, v in closest.details.items()) or "Temporal's defaults"
        changes.append(f"group {group_id!r}: scaler {name} -> {closest.type} ({keys})")
        groups[group_id] = group.model_copy(update={"scaler": closest})
    return ComputeConfig(scaling_groups=groups), changes


@dataclass(frozen=True)
class ServerAnswer:
    """What the server said.

    Attributes:
        ok: the server accepted (validated, created or updated).
        action: "created", "updated", "validated" on success; the failed step otherwise.
        message: the server's own message on failure.
        source: for validation, where the verdict came from: "rpc" or "workflow" (the server's
            validate workflow, read because the RPC's own wait does not return; see module doc).
    """

    ok: bool
    action: str
    message: str = ""
    source: str = "rpc"


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


def _write_stamp() -> dict[str, str]:
    """How workerplane signs a write to Temporal: its identity, and a fresh request ID (the
    server deduplicates retries of one request by it)."""
    return {"identity": "workerplane", "request_id": uuid.uuid4().hex}


def _version_write(namespace: str, deployment: str, build_id: str) -> dict[str, Any]:
    """The fields every write to one version's compute config starts with: which version, and
    :func:`_write_stamp`."""
    return {
        "namespace": namespace,
        "deployment_version": _version(deployment, build_id),
        **_write_stamp(),
    }


async def ensure_worker_deployment(
    client: Client, namespace: str, deployment: str, *, timeout_s: float = 30.0
) -> bool:
    """CreateWorkerDeployment; True when created, False when it already existed."""
    try:
        await client.workflow_service.create_worker_deployment(
            CreateWorkerDeploymentRequest(
                namespace=namespace, deployment_name=deployment, **_write_stamp()
            ),
            timeout=timedelta(seconds=timeout_s),
        )
        return True
    except RPCError as err:
        if err.status == RPCStatusCode.ALREADY_EXISTS:
            return False
        raise


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
    """Make the version's compute config on Temporal equal to ``compute``.

    Creates the worker deployment when missing (CreateWorkerDeployment), then the version with
    the config (CreateWorkerDeploymentVersion); if the version exists, updates it instead
    (UpdateWorkerDeploymentVersionComputeConfig with full masks, plus ``remove``).
    """
    service = client.workflow_service
    timeout = timedelta(seconds=timeout_s)
    try:
        await ensure_worker_deployment(client, namespace, deployment, timeout_s=timeout_s)
    except RPCError as err:
        return ServerAnswer(False, "create the worker deployment", err.message)
    try:
        await service.create_worker_deployment_version(
            CreateWorkerDeploymentVersionRequest(
                compute_config=compute_config_to_proto(compute),
                **_version_write(namespace, deployment, build_id),
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
                compute_config_scaling_groups=_full_updates(compute),
                remove_compute_config_scaling_groups=list(remove or []),
                **_version_write(namespace, deployment, build_id),
            ),
            timeout=timeout,
        )
        return ServerAnswer(True, "updated")
    except RPCError as err:
        return ServerAnswer(False, "update", err.message)


async def describe_compute_config(
    client: Client, namespace: str, deployment: str, build_id: str, *, timeout_s: float = 30.0
) -> ComputeConfigProto:
    """The version's compute config as the server stores it (DescribeWorkerDeploymentVersion)."""
    response = await client.workflow_service.describe_worker_deployment_version(
        DescribeWorkerDeploymentVersionRequest(
            namespace=namespace, deployment_version=_version(deployment, build_id)
        ),
        timeout=timedelta(seconds=timeout_s),
    )
    config: ComputeConfigProto = response.worker_deployment_version_info.compute_config
    return config


def _verdict_from_close(event: HistoryEvent) -> ServerAnswer:
    if event.HasField("workflow_execution_completed_event_attributes"):
        return ServerAnswer(True, "validated", source="workflow")
    if event.HasField("workflow_execution_failed_event_attributes"):
        failure = event.workflow_execution_failed_event_attributes.failure
        return ServerAnswer(False, "validate", failure.message or "rejected", source="workflow")
    kind = EventType.Name(event.event_type)
    return ServerAnswer(
        False, "validate", f"the server's validation ended without a verdict ({kind})",
        source="workflow",
    )  # fmt: skip


async def _validate_workflow_verdict(
    client: Client, namespace: str, identity: str, since: datetime
) -> ServerAnswer:
    """Find the validate workflow started for ``identity`` and wait for its close event."""
    service = client.workflow_service
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    query = (
        f"WorkflowType = '{VALIDATE_WORKFLOW_TYPE}' AND TemporalNamespaceDivision IS NOT NULL "
        f"AND StartTime >= '{stamp}'"
    )
    checked: set[str] = set()
    while True:
        listing = await service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=namespace, query=query, page_size=100),
            timeout=timedelta(seconds=10),
        )
        for info in listing.executions:
            execution = info.execution
            if execution.workflow_id in checked:
                continue
            checked.add(execution.workflow_id)
            first = await service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=namespace, execution=execution, maximum_page_size=1
                ),
                timeout=timedelta(seconds=10),
            )
            events = first.history.events
            started = events[0].workflow_execution_started_event_attributes if events else None
            if started is None or started.identity != identity:
                continue
            return await _wait_close(client, namespace, execution)
        await asyncio.sleep(0.25)


async def _wait_close(client: Client, namespace: str, execution: WorkflowExecution) -> ServerAnswer:
    token = b""
    while True:
        page = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=namespace,
                execution=execution,
                wait_new_event=True,
                history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
                next_page_token=token,
            ),
            timeout=timedelta(seconds=60),
        )
        if page.history.events:
            return _verdict_from_close(page.history.events[0])
        token = page.next_page_token


def _is_timeout(err: RPCError) -> bool:
    """The call ran out of time: the server's own deadline ("context deadline exceeded"), or the
    client's, which temporalio reports as CANCELLED "Timeout expired"."""
    if err.status == RPCStatusCode.DEADLINE_EXCEEDED or "deadline exceeded" in err.message:
        return True
    return err.status == RPCStatusCode.CANCELLED and "timeout expired" in err.message.lower()


async def validate_on_temporal(
    client: Client,
    namespace: str,
    deployment: str,
    build_id: str,
    compute: ComputeConfig,
    *,
    timeout_s: float = 30.0,
) -> ServerAnswer:
    """ValidateWorkerDeploymentVersionComputeConfig: the server's own verdict, nothing applied.

    Returns within about ``timeout_s`` in every case (see the module doc for why the verdict may
    come from the server's validate workflow rather than from the RPC).
    """
    identity = f"workerplane-validate-{uuid.uuid4().hex}"
    # Visibility stores start times at the server's clock; a margin covers small skews.
    since = datetime.now(UTC) - timedelta(seconds=30)

    async def by_rpc() -> ServerAnswer:
        called = time.monotonic()
        try:
            await client.workflow_service.validate_worker_deployment_version_compute_config(
                ValidateWorkerDeploymentVersionComputeConfigRequest(
                    namespace=namespace,
                    deployment_version=_version(deployment, build_id),
                    # Whole groups, no masks: the server's validate workflow refuses a mask
                    # ("has an update mask but nothing to compare with").
                    compute_config_scaling_groups={
                        key: ComputeConfigScalingGroupUpdate(scaling_group=group)
                        for key, group in compute_config_to_proto(compute).scaling_groups.items()
                    },
                    identity=identity,
                ),
                timeout=timedelta(seconds=timeout_s),
            )
            return ServerAnswer(True, "validated")
        except RPCError as err:
            # At its deadline the call may fail as "h2 protocol error", not DEADLINE_EXCEEDED.
            if _is_timeout(err) or time.monotonic() - called >= timeout_s:
                raise TimeoutError from None
            return ServerAnswer(False, "validate", err.message)

    started = time.monotonic()
    rpc = asyncio.create_task(by_rpc())
    watcher = asyncio.create_task(_validate_workflow_verdict(client, namespace, identity, since))
    pending: set[asyncio.Task[ServerAnswer]] = {rpc, watcher}
    try:
        while pending:
            left = timeout_s - (time.monotonic() - started)
            if left <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                with contextlib.suppress(TimeoutError, RPCError):
                    return task.result()
    finally:
        for task in (rpc, watcher):
            task.cancel()
        for task in (rpc, watcher):
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, RPCError):
                await task
    return ServerAnswer(
        False,
        "validate",
        f"no verdict from the server within {timeout_s:g}s: its validate workflow did not "
        "close in time (is the worker controller enabled and the namespace's system worker "
        "running?)",
    )
