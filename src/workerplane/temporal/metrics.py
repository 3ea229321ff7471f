"""Read task-queue statistics from Temporal: the controller's only view of demand.

* Unversioned workers: ``DescribeTaskQueue(report_stats=True)``, one call per task queue type.
* Versioned workers: ``DescribeWorkerDeploymentVersion(report_task_queue_stats=True)``, one call
  per version for every queue's stats; live pollers still come from ``DescribeTaskQueue``, read
  at most every :data:`POLLER_REFRESH_S` (the census counts the workers meanwhile).

:func:`stats_calls` says what one read costs, so the controller can budget it before making it.

The server caches stats for ``matching.TaskQueueInfoByBuildIdTTL`` and reports rates as decaying
averages, so these are approximations; scalers are written with that in mind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import grpc
from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue, TaskQueueStats
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeTaskQueueResponse,
    DescribeWorkerDeploymentVersionRequest,
    DescribeWorkerDeploymentVersionResponse,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workerplane.config.model import TASK_QUEUE_TYPES
from workerplane.scaling.types import QueueStats

#: Config task queue type names to the protobuf enum.
TYPE_TO_PROTO = {
    "WORKFLOW": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "ACTIVITY": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    "NEXUS": TaskQueueType.TASK_QUEUE_TYPE_NEXUS,
}
_PROTO_TO_TYPE = {value: key for key, value in TYPE_TO_PROTO.items()}

#: How long a versioned read reuses the poller counts it read (they need one call per queue type).
POLLER_REFRESH_S = 30.0


class MetricsUnavailable(Exception):
    """The stats could not be read (server down, permission denied, ...)."""


@dataclass(frozen=True)
class QueueTarget:
    """What to observe: queues, their types, and optionally a worker deployment version."""

    namespace: str
    task_queues: tuple[str, ...]
    task_queue_types: tuple[str, ...] = TASK_QUEUE_TYPES
    deployment_name: str | None = None
    build_id: str | None = None


def read_types(served: tuple[str, ...], asked: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The task-queue types worth reading for a group serving ``served``: NEXUS only when the
    group's spec asks for it by name (a group with no types serves every type, and Nexus queues
    are rare: reading them for every group would cost a call per queue for nothing)."""
    return tuple(t for t in served if t != "NEXUS" or t in asked)


def stats_calls(target: QueueTarget) -> int:
    """The Temporal calls one :meth:`TemporalMetricsSource.read` of ``target`` makes at most:
    one per (queue, type), plus the version's describe for a versioned target."""
    pairs = len(target.task_queues) * len(target.task_queue_types)
    return pairs + 1 if target.deployment_name and target.build_id else pairs


def _from_proto(stats: TaskQueueStats, pollers: tuple[str, ...]) -> QueueStats:
    return QueueStats(
        backlog_count=int(stats.approximate_backlog_count),
        backlog_age_s=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
        add_rate=float(stats.tasks_add_rate),
        dispatch_rate=float(stats.tasks_dispatch_rate),
        pollers=len(pollers),
        poller_identities=frozenset(pollers),
    )


def _pollers(response: DescribeTaskQueueResponse, build_id: str | None) -> tuple[str, ...]:
    """The identities of the pollers listed (of build ``build_id`` only, when given), one per
    poller as the server lists them. A queue's root partition answers: it lists the pollers that
    polled it or had their poll forwarded to it by an idle child partition."""
    return tuple(
        poller.identity
        for poller in response.pollers
        if build_id is None
        or poller.deployment_options.build_id == build_id
        or poller.worker_version_capabilities.build_id == build_id
    )


#: How old a version's last reply may be to stand in for one the server refused as busy
#: (``RESOURCE_EXHAUSTED``): its stats cache (``matching.TaskQueueInfoByBuildIdTTL``, 5 s by
#: default) can hand out a reply that old anyway.
REFUSED_REPLY_REUSE_S = 5.0

#: A version's queues and types: (namespace, build ID, task queues, task queue types).
_VersionQueues = tuple[str, str, tuple[str, ...], tuple[str, ...]]
#: Poller identities per (queue, type).
_PollerLists = dict[tuple[str, str], tuple[str, ...]]


class TemporalMetricsSource:
    """Reads :class:`QueueStats` per task queue type for a :class:`QueueTarget`."""

    def __init__(self, client: Client, *, rpc_timeout_s: float = 5.0) -> None:
        self._client = client
        self._timeout = rpc_timeout_s
        self._pollers: dict[_VersionQueues, tuple[float, _PollerLists]] = {}
        self._version_replies: dict[
            tuple[str, str, str], tuple[float, DescribeWorkerDeploymentVersionResponse]
        ] = {}
        self._pruned_at = time.monotonic()

    async def read(self, target: QueueTarget) -> dict[str, QueueStats]:
        """Stats per task queue type, summed over the target's queues.

        Raises:
            MetricsUnavailable: if any needed call fails; callers must then hold the current size.
        """
        try:
            if target.deployment_name and target.build_id:
                return await self._read_version(target)
            return await self._read_unversioned(target)
        except (TimeoutError, RPCError, grpc.RpcError, OSError, RuntimeError) as err:
            raise MetricsUnavailable(str(err) or type(err).__name__) from err

    async def _describe(
        self, target: QueueTarget, queue: str, queue_type: str
    ) -> DescribeTaskQueueResponse:
        return await self._client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=target.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TYPE_TO_PROTO[queue_type],
                report_stats=True,
            ),
            timeout=timedelta(seconds=self._timeout),
        )

    async def _pairs(self, target: QueueTarget) -> list[tuple[str, str, DescribeTaskQueueResponse]]:
        pairs = [(q, t) for q in target.task_queues for t in target.task_queue_types]
        responses = await asyncio.gather(*(self._describe(target, q, t) for q, t in pairs))
        return [(q, t, r) for (q, t), r in zip(pairs, responses, strict=True)]

    async def _read_unversioned(self, target: QueueTarget) -> dict[str, QueueStats]:
        by_type: dict[str, QueueStats] = {t: QueueStats() for t in target.task_queue_types}
        for _queue, queue_type, response in await self._pairs(target):
            by_type[queue_type] = by_type[queue_type] + _from_proto(
                response.stats, _pollers(response, None)
            )
        return by_type

    async def _describe_version(
        self, target: QueueTarget
    ) -> DescribeWorkerDeploymentVersionResponse:
        """The version's description with its queues' stats. The server answers it by querying
        the version's own workflow, and refuses the query as ``RESOURCE_EXHAUSTED`` ("too many
        requests issued to Worker Deployment") while that workflow is busy, as it is through a
        rollout or a drainage check; the last reply then stands in while it is no older than
        :data:`REFUSED_REPLY_REUSE_S` (a refused read would hold the group blind)."""
        assert target.deployment_name and target.build_id
        key = (target.namespace, target.deployment_name, target.build_id)
        try:
            described = await self._client.workflow_service.describe_worker_deployment_version(
                DescribeWorkerDeploymentVersionRequest(
                    namespace=target.namespace,
                    deployment_version=WorkerDeploymentVersion(
                        deployment_name=target.deployment_name, build_id=target.build_id
                    ),
                    report_task_queue_stats=True,
                ),
                timeout=timedelta(seconds=self._timeout),
            )
        except RPCError as err:
            last = self._version_replies.get(key)
            if (
                err.status == RPCStatusCode.RESOURCE_EXHAUSTED
                and last is not None
                and time.monotonic() - last[0] <= REFUSED_REPLY_REUSE_S
            ):
                return last[1]
            raise
        now = time.monotonic()
        self._version_replies[key] = (now, described)
        self._prune(now)
        return described

    def _prune(self, now: float) -> None:
        """Forget what no read can use any more, at most once every :data:`POLLER_REFRESH_S`:
        every rollout adds a version, and a long-lived controller would keep one entry for each
        version it ever read."""
        if now - self._pruned_at < POLLER_REFRESH_S:
            return
        self._pruned_at = now
        self._version_replies = {
            k: v for k, v in self._version_replies.items() if now - v[0] <= REFUSED_REPLY_REUSE_S
        }
        self._pollers = {k: v for k, v in self._pollers.items() if now - v[0] < POLLER_REFRESH_S}

    async def _read_version(self, target: QueueTarget) -> dict[str, QueueStats]:
        try:
            described = await self._describe_version(target)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # The version exists only once a worker of it has polled. Until then its work waits
            # in the unversioned queue, so that is the backlog to scale from zero on.
            return await self._read_unversioned(target)
        pollers = await self._version_pollers(target)
        by_type: dict[str, QueueStats] = {t: QueueStats() for t in target.task_queue_types}
        wanted = set(target.task_queues)
        for version_queue in described.version_task_queues:
            queue_type = _PROTO_TO_TYPE.get(version_queue.type)
            if version_queue.name not in wanted or queue_type not in by_type:
                continue
            by_type[queue_type] = by_type[queue_type] + _from_proto(
                version_queue.stats, pollers.get((version_queue.name, queue_type), ())
            )
        return by_type

    async def _version_pollers(self, target: QueueTarget) -> dict[tuple[str, str], tuple[str, ...]]:
        """Pollers of the version per (queue, type), re-read at most every POLLER_REFRESH_S."""
        assert target.build_id
        key = (target.namespace, target.build_id, target.task_queues, target.task_queue_types)
        cached = self._pollers.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < POLLER_REFRESH_S:
            return cached[1]
        pollers = {(q, t): _pollers(r, target.build_id) for q, t, r in await self._pairs(target)}
        self._pollers[key] = (now, pollers)
        return pollers


def total(stats: Iterable[QueueStats]) -> QueueStats:
    """Sum stats over task queue types."""
    result = QueueStats()
    for item in stats:
        result = result + item
    return result
