"""Read who polls a group's task queues, with when each poller last started a poll.

The Lambda census (:mod:`workerplane.providers.aws_lambda.census`) needs the identity and
``last_access_time`` of every poller.
A poll lands on one partition of a queue (4 by default), and each partition keeps its own poller
history, so every partition of every (queue, type) is asked, by its RPC name, and the newest
poll per identity is kept. These calls skip the stats (``report_stats`` off): each is answered
from one partition's memory.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workerplane.temporal.fresh import DEFAULT_PARTITIONS, partition_rpc_name
from workerplane.temporal.metrics import TYPE_TO_PROTO


class PollersUnavailable(Exception):
    """The poller lists could not be read."""


def poller_calls(task_queues: tuple[str, ...], queue_types: tuple[str, ...]) -> int:
    """The ``DescribeTaskQueue`` calls one :func:`last_polls` makes: one per partition of every
    (queue, type)."""
    return len(task_queues) * len(queue_types) * DEFAULT_PARTITIONS


async def last_polls(
    client: Client,
    namespace: str,
    task_queues: tuple[str, ...],
    queue_types: tuple[str, ...],
    *,
    partitions: int = DEFAULT_PARTITIONS,
    timeout_s: float = 5.0,
) -> dict[str, float]:
    """``identity -> newest poll start`` (epoch seconds) over every partition of the queues.

    Raises:
        PollersUnavailable: if any call fails (the census then counts by TTL alone).
    """
    requests = [
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=partition_rpc_name(queue, partition)),
            task_queue_type=TYPE_TO_PROTO[queue_type],
        )
        for queue in task_queues
        for queue_type in queue_types
        for partition in range(partitions)
    ]
    timeout = timedelta(seconds=timeout_s)
    try:
        responses = await asyncio.gather(
            *(client.workflow_service.describe_task_queue(r, timeout=timeout) for r in requests)
        )
    except (TimeoutError, RPCError, OSError, RuntimeError) as err:
        raise PollersUnavailable(str(err) or type(err).__name__) from err
    newest: dict[str, float] = {}
    for response in responses:
        for poller in response.pollers:
            at = poller.last_access_time.ToNanoseconds() / 1e9
            newest[poller.identity] = max(at, newest.get(poller.identity, 0.0))
    return newest
