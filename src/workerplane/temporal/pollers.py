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
from collections.abc import Iterable, Mapping
from datetime import timedelta

from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workerplane.temporal.fresh import DEFAULT_PARTITIONS, partition_rpc_name
from workerplane.temporal.metrics import TYPE_TO_PROTO, MetricsUnavailable


class PollersUnavailable(MetricsUnavailable):
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
        raise PollersUnavailable(f"pollers: {err or type(err).__name__}") from err
    return newest_polls(
        {p.identity: p.last_access_time.ToNanoseconds() / 1e9 for p in response.pollers}
        for response in responses
    )


def newest_polls(reads: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """``identity -> newest poll start`` over several reads (a worker polls every partition,
    type and queue it serves: each read lists it once)."""
    newest: dict[str, float] = {}
    for polls in reads:
        for identity, at in polls.items():
            newest[identity] = max(at, newest.get(identity, at))
    return newest
