"""Read the fresh demand signals that bypass Temporal's task-queue stats cache.

``DescribeTaskQueue(report_stats=True)`` (see :mod:`workerplane.temporal.metrics`) is cached by the
root partition for ``matching.TaskQueueInfoByBuildIdTTL`` (5 s by default, and users of Temporal
Cloud cannot change it), so a task landing on an idle queue can wait up to 5 s before the
controller sees it. Two signals are not cached (docs/temporal-signals.md has the measurements):

* **Per-partition backlog hint.** ``DescribeTaskQueue(include_task_queue_status=True)`` answers
  from the one partition it is addressed to: ``task_queue_status.backlog_count_hint`` is that
  partition's persisted backlog count, updated as tasks are written. A task is written to a
  random partition (4 by default), so the root alone sees about one task in four; this reader
  addresses every partition by its RPC name (``/_sys/<queue>/<n>``) and sums them. It sees
  every task type (workflow, activity, nexus), but only the *unversioned* queue: tasks already
  routed to a worker-deployment version's queue are not counted.
* **Visibility count.** ``CountWorkflowExecutions`` with ``TaskQueue IN (...) AND
  ExecutionStatus='Running'`` counts running workflows on every partition of every queue in one
  call. It counts *workflows*, not tasks: a workflow waiting on a timer counts, and activity or
  nexus backlogs are invisible to it. Visibility calls have their own, small rate limit
  (``frontend.namespaceRPS.visibility``, 10/s per frontend by default) and, on servers with
  Elasticsearch, lag by the index refresh interval.

Use the hint to wake a group at zero, and keep ``report_stats`` for sizing (rates, age, pollers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeTaskQueueRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from workerplane.temporal.metrics import TYPE_TO_PROTO, MetricsUnavailable, QueueTarget

#: Temporal's default ``matching.numTaskqueueReadPartitions`` / ``...WritePartitions``.
DEFAULT_PARTITIONS = 4


def fresh_calls(target: QueueTarget, partitions: int = DEFAULT_PARTITIONS) -> int:
    """The ``DescribeTaskQueue`` calls one :meth:`FreshSignalReader.read` of ``target`` makes
    (without the visibility count): one per partition of every (queue, type)."""
    return len(target.task_queues) * len(target.task_queue_types) * partitions


def partition_rpc_name(task_queue: str, partition: int) -> str:
    """The name that addresses one partition of a normal task queue (partition 0 is the root)."""
    return task_queue if partition == 0 else f"/_sys/{task_queue}/{partition}"


def running_workflows_query(task_queues: tuple[str, ...]) -> str:
    """Visibility query for running workflows on any of ``task_queues``, in one call."""
    quoted = ", ".join("'" + queue.replace("'", "\\'") + "'" for queue in task_queues)
    return f"TaskQueue IN ({quoted}) AND ExecutionStatus = 'Running'"


async def partition_backlog_hint(
    client: Client,
    namespace: str,
    task_queue: str,
    queue_type: str,
    partition: int,
    *,
    timeout: timedelta,
) -> int:
    """``backlog_count_hint`` of one partition of one queue type (not cached by the server)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=partition_rpc_name(task_queue, partition)),
            task_queue_type=TYPE_TO_PROTO[queue_type],
            include_task_queue_status=True,
        ),
        timeout=timeout,
    )
    return int(response.task_queue_status.backlog_count_hint)


async def count_running_workflows(
    client: Client, namespace: str, task_queues: tuple[str, ...], *, timeout: timedelta
) -> int:
    """Running workflows on any of ``task_queues`` (one visibility call)."""
    response = await client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(
            namespace=namespace, query=running_workflows_query(task_queues)
        ),
        timeout=timeout,
    )
    return int(response.count)


@dataclass(frozen=True)
class FreshSignal:
    """What the uncached signals saw for one :class:`QueueTarget`.

    Attributes:
        backlog_hint: tasks persisted in the unversioned backlog, per task queue type served,
            summed over the target's queues and every partition.
        running_workflows: running workflows on the target's queues (visibility), or ``None``
            when the target serves no workflow tasks or visibility was not asked for.
        observed_at: when the read finished (UTC).
    """

    backlog_hint: dict[str, int]
    running_workflows: int | None
    observed_at: datetime

    @property
    def backlog(self) -> int:
        """Backlogged tasks over every type: positive means work waits for a worker now."""
        return sum(self.backlog_hint.values())


class FreshSignalReader:
    """Reads a :class:`FreshSignal` for a :class:`QueueTarget` in one round of parallel calls.

    Cost per read: ``len(task_queues) * len(task_queue_types) * partitions`` ``DescribeTaskQueue``
    calls (each answered from one partition's memory), plus one visibility call when
    ``count_workflows`` is set and the target serves workflow tasks.

    Args:
        partitions: how many partitions to address; must be at least the server's
            ``matching.numTaskqueueWritePartitions`` (4 unless the operator changed it), or
            tasks on the partitions left out are missed.
        count_workflows: also count running workflows through visibility (see the module doc
            for what that count means and what it costs).
    """

    def __init__(
        self,
        client: Client,
        *,
        partitions: int = DEFAULT_PARTITIONS,
        count_workflows: bool = False,
        rpc_timeout_s: float = 5.0,
    ) -> None:
        if partitions < 1:
            raise ValueError("a task queue has at least one partition")
        self._client = client
        self._partitions = partitions
        self._count_workflows = count_workflows
        self._timeout = timedelta(seconds=rpc_timeout_s)

    async def read(self, target: QueueTarget) -> FreshSignal:
        """Read every partition of every (queue, type) of ``target`` and sum per type.

        Raises:
            MetricsUnavailable: if any call fails; callers fall back to the cached stats.
        """
        keys = [
            (queue, queue_type, partition)
            for queue in target.task_queues
            for queue_type in target.task_queue_types
            for partition in range(self._partitions)
        ]
        wants_workflows = self._count_workflows and "WORKFLOW" in target.task_queue_types
        try:
            hints, running = await asyncio.gather(
                asyncio.gather(
                    *(
                        partition_backlog_hint(
                            self._client, target.namespace, q, t, p, timeout=self._timeout
                        )
                        for q, t, p in keys
                    )
                ),
                self._running(target) if wants_workflows else _nothing(),
            )
        except (TimeoutError, RPCError, grpc.RpcError, OSError, RuntimeError) as err:
            raise MetricsUnavailable(str(err) or type(err).__name__) from err
        by_type = dict.fromkeys(target.task_queue_types, 0)
        for (_queue, queue_type, _partition), hint in zip(keys, hints, strict=True):
            by_type[queue_type] += hint
        return FreshSignal(by_type, running, datetime.now(UTC))

    async def _running(self, target: QueueTarget) -> int:
        return await count_running_workflows(
            self._client, target.namespace, target.task_queues, timeout=self._timeout
        )


async def _nothing() -> None:
    return None
