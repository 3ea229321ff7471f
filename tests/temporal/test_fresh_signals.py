"""The fresh-signal reader sees tasks on idle queues of a server with default dynamic config.

Every integration test polls the reader until it reports what it must see, with a generous
deadline; none asserts how long anything takes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from fixtures_default_temporal import default_temporal_server  # noqa: F401 - fixture
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workerplane.temporal.devserver import DevServer
from workerplane.temporal.fresh import (
    FreshSignal,
    FreshSignalReader,
    partition_rpc_name,
    running_workflows_query,
)
from workerplane.temporal.metrics import MetricsUnavailable, QueueTarget, TemporalMetricsSource

DEADLINE_S = 60.0


@workflow.defn(name="FreshSignalsScheduleActivity")
class ScheduleActivity:
    """Schedules one activity on a queue no worker polls."""

    @workflow.run
    async def run(self, activity_queue: str) -> None:
        await workflow.execute_activity(
            "never_runs", task_queue=activity_queue, schedule_to_close_timeout=timedelta(minutes=5)
        )


@pytest.fixture
async def client(default_temporal_server: DevServer) -> AsyncIterator[Client]:  # noqa: F811
    yield await Client.connect(default_temporal_server.address)


def new_queue(label: str) -> str:
    return f"fresh-{label}-{uuid.uuid4().hex[:10]}"


async def read_until(
    read: Callable[[], Awaitable[FreshSignal]], seen: Callable[[FreshSignal], bool]
) -> FreshSignal:
    """Read until ``seen`` holds; fail with the last reading after :data:`DEADLINE_S`."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        signal = await read()
        if seen(signal) or time.monotonic() > deadline:
            return signal
        await asyncio.sleep(0.05)


def test_partition_names_address_the_root_by_the_queue_name() -> None:
    assert partition_rpc_name("orders", 0) == "orders"
    assert partition_rpc_name("orders", 3) == "/_sys/orders/3"


def test_visibility_query_covers_every_queue_and_escapes_quotes() -> None:
    assert running_workflows_query(("a", "it's")) == (
        "TaskQueue IN ('a', 'it\\'s') AND ExecutionStatus = 'Running'"
    )


async def test_workflow_on_idle_queue_is_seen_while_stats_are_cached(client: Client) -> None:
    queue = new_queue("wf")
    target = QueueTarget("default", (queue,), ("WORKFLOW",))
    # Warm the server's stats cache with an empty reading, as a polling controller does.
    await TemporalMetricsSource(client).read(target)
    reader = FreshSignalReader(client, count_workflows=True)
    await client.start_workflow("FreshSignalsIdle", id=f"{queue}-wf", task_queue=queue)

    signal = await read_until(
        lambda: reader.read(target), lambda s: s.backlog > 0 and bool(s.running_workflows)
    )

    assert signal.backlog_hint == {"WORKFLOW": 1}
    assert signal.running_workflows == 1


async def test_hint_sums_every_partition(client: Client) -> None:
    """Eight workflows land on random partitions of four; the reader counts all of them."""
    queue = new_queue("parts")
    target = QueueTarget("default", (queue,), ("WORKFLOW",))
    for index in range(8):
        await client.start_workflow("FreshSignalsIdle", id=f"{queue}-{index}", task_queue=queue)

    signal = await read_until(
        lambda: FreshSignalReader(client).read(target), lambda s: s.backlog >= 8
    )

    assert signal.backlog_hint == {"WORKFLOW": 8}
    assert signal.running_workflows is None  # visibility was not asked for


async def test_one_visibility_count_covers_every_queue_of_the_target(client: Client) -> None:
    queues = (new_queue("a"), new_queue("b"))
    target = QueueTarget("default", queues, ("WORKFLOW",))
    for queue in queues:
        await client.start_workflow("FreshSignalsIdle", id=f"{queue}-wf", task_queue=queue)
    reader = FreshSignalReader(client, count_workflows=True)

    signal = await read_until(lambda: reader.read(target), lambda s: s.running_workflows == 2)

    assert signal.running_workflows == 2


async def test_activity_backlog_is_seen_where_visibility_is_blind(client: Client) -> None:
    workflow_queue, activity_queue = new_queue("wfw"), new_queue("act")
    target = QueueTarget("default", (activity_queue,), ("ACTIVITY",))
    worker = Worker(
        client,
        task_queue=workflow_queue,
        workflows=[ScheduleActivity],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        await client.start_workflow(
            ScheduleActivity.run,
            activity_queue,
            id=f"{activity_queue}-wf",
            task_queue=workflow_queue,
        )
        reader = FreshSignalReader(client, count_workflows=True)
        signal = await read_until(lambda: reader.read(target), lambda s: s.backlog > 0)

    assert signal.backlog_hint == {"ACTIVITY": 1}
    assert signal.running_workflows is None  # an activity-only group has no workflows to count


async def test_failed_read_raises_metrics_unavailable(client: Client) -> None:
    target = QueueTarget("no-such-namespace", (new_queue("ns"),), ("WORKFLOW",))
    with pytest.raises(MetricsUnavailable):
        await FreshSignalReader(client).read(target)
