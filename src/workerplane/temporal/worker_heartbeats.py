"""Read the heartbeats Temporal workers send about themselves (``ListWorkers``).

Since server 1.29 a worker whose SDK runtime sets ``worker_heartbeat_interval`` sends the
server, every interval, its identity, task queue, status and, per task kind, its slots in use
and the tasks it has processed. The server keeps the newest heartbeat of each worker, and
``ListWorkers`` returns them, filtered by a query such as ``TaskQueue='orders'``
(``frontend.WorkerHeartbeatsEnabled``, on by default, gates the write side).

It is the one signal that says how many tasks a worker runs when the controller cannot ask the
worker itself: a Lambda invocation, an ECS task or a Cloud Run instance. Unlike the task queue's
stats it is not cached: a reading is at most one heartbeat interval old. See
docs/temporal-signals.md.

I/O edge: one ``ListWorkers`` call per task queue (paged), nothing else.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import WorkerStatus
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import ListWorkersRequest
from temporalio.client import Client
from temporalio.service import RPCError

from workerplane.planning.worker_beats import WorkerBeat, newest_beats
from workerplane.temporal.metrics import MetricsUnavailable

#: Workers listed per page. A group's workers on one queue rarely need a second page.
PAGE_SIZE = 1000


class HeartbeatsUnavailable(MetricsUnavailable):
    """The workers' heartbeats could not be read (an older server, or the call failed)."""


def beat_of(heartbeat: WorkerHeartbeat) -> WorkerBeat:
    """The parts of a ``WorkerHeartbeat`` the controller uses."""
    slots = heartbeat.activity_task_slots_info
    return WorkerBeat(
        identity=heartbeat.worker_identity,
        task_queue=heartbeat.task_queue,
        running=heartbeat.status == WorkerStatus.WORKER_STATUS_RUNNING,
        beat_at=heartbeat.heartbeat_time.ToNanoseconds() / 1e9,
        activities_in_flight=max(0, slots.current_used_slots),
        activities_processed=max(0, slots.total_processed_tasks),
        activity_slots=max(0, slots.current_used_slots) + max(0, slots.current_available_slots),
        interval_s=heartbeat.elapsed_since_last_heartbeat.ToTimedelta().total_seconds(),
    )


def queue_query(task_queue: str) -> str:
    """The ``ListWorkers`` query for one task queue (quotes in the name escaped)."""
    escaped = task_queue.replace("\\", "\\\\").replace("'", "\\'")
    return f"TaskQueue='{escaped}'"


async def _list_queue(
    client: Client, namespace: str, task_queue: str, timeout: timedelta
) -> list[WorkerBeat]:
    beats: list[WorkerBeat] = []
    token = b""
    while True:
        response = await client.workflow_service.list_workers(
            ListWorkersRequest(
                namespace=namespace,
                query=queue_query(task_queue),
                page_size=PAGE_SIZE,
                next_page_token=token,
            ),
            timeout=timeout,
        )
        beats.extend(beat_of(info.worker_heartbeat) for info in response.workers_info)
        token = response.next_page_token
        if not token:
            return beats


async def worker_beats(
    client: Client,
    namespace: str,
    task_queues: tuple[str, ...],
    *,
    timeout_s: float = 5.0,
) -> dict[str, WorkerBeat]:
    """``identity -> newest heartbeat`` of the workers of ``task_queues``.

    A worker that serves several of the queues is listed once per queue; its newest beat wins.

    Raises:
        HeartbeatsUnavailable: if any call fails.
    """
    timeout = timedelta(seconds=timeout_s)
    try:
        lists = await asyncio.gather(
            *(_list_queue(client, namespace, queue, timeout) for queue in task_queues)
        )
    except (TimeoutError, RPCError, OSError, RuntimeError) as err:
        raise HeartbeatsUnavailable(f"worker heartbeats: {err or type(err).__name__}") from err
    return newest_beats(lists)
