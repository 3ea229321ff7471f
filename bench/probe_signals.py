"""Probe (not a test): how soon each Temporal demand signal sees a task on an idle queue, and
what each signal costs, on a dev server with Temporal's DEFAULT dynamic config (stats cached 5 s).

    .venv/bin/python bench/probe_signals.py [--trials 8] [--partitions 1 4] [--json out.json]

For each partition count the probe starts its own ``temporal server start-dev`` (no fast-stats
flags) and runs ``--trials`` trials per task type, each on a NEW queue:

* workflow: a workflow is started on an idle queue (no worker at all);
* activity: a workflow worker runs, its workflow schedules an activity on an idle activity queue
  (no activity worker, so the activity cannot be dispatched eagerly).

Every signal is polled every ``--interval`` seconds from a random 0.2-5.5 s BEFORE the task is
created (as a controller polls in steady state, so the server's stats cache is warm), until it
reports the task or ``--timeout`` passes (a miss). Detection = first poll that saw the task minus
the event time of WorkflowExecutionStarted / ActivityTaskScheduled (same host clock).

Signals:
  stats        DescribeTaskQueue(report_stats) approximate_backlog_count (cached per root)
  enhanced     DescribeTaskQueue(api_mode=ENHANCED, report_stats) (deprecated; cached too)
  hint-root    DescribeTaskQueue(include_task_queue_status) backlog_count_hint, root partition
  hint-all     the same on every partition (/_sys/<q>/<n>), summed (workerplane.temporal.fresh)
  visibility   CountWorkflowExecutions("TaskQueue IN ('q') AND ExecutionStatus='Running'")

Then, per call kind, the latency of 100 sequential calls and the calls/s accepted when 64
callers call as fast as they can for 2 s (RESOURCE_EXHAUSTED counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import DescribeTaskQueueMode, EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workerplane.temporal.devserver import start_dev_server
from workerplane.temporal.fresh import count_running_workflows, partition_backlog_hint
from workerplane.temporal.metrics import TYPE_TO_PROTO

NAMESPACE = "default"
TIMEOUT = timedelta(seconds=5)
Signal = Callable[[], Awaitable[int]]


@workflow.defn(name="ProbeScheduleActivity")
class ProbeScheduleActivity:
    """Schedules one activity on an idle queue and waits for it (it never runs)."""

    @workflow.run
    async def run(self, activity_queue: str) -> None:
        await workflow.execute_activity(
            "probe_never_runs",
            task_queue=activity_queue,
            schedule_to_close_timeout=timedelta(minutes=5),
        )


def signals(client: Client, queue: str, queue_type: str, partitions: int) -> dict[str, Signal]:
    """The probed signals for one queue and type, each a call that returns 'tasks seen'."""
    proto_type = TYPE_TO_PROTO[queue_type]
    service = client.workflow_service

    async def stats() -> int:
        response = await service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=TaskQueue(name=queue),
                task_queue_type=proto_type,
                report_stats=True,
            ),
            timeout=TIMEOUT,
        )
        return int(response.stats.approximate_backlog_count)

    async def enhanced() -> int:
        response = await service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=TaskQueue(name=queue),
                api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
                task_queue_types=[proto_type],
                report_stats=True,
            ),
            timeout=TIMEOUT,
        )
        return sum(
            int(info.stats.approximate_backlog_count)
            for version in response.versions_info.values()
            for info in version.types_info.values()
        )

    async def hint_root() -> int:
        return await partition_backlog_hint(
            client, NAMESPACE, queue, queue_type, 0, timeout=TIMEOUT
        )

    async def hint_all() -> int:
        hints = await asyncio.gather(
            *(
                partition_backlog_hint(client, NAMESPACE, queue, queue_type, p, timeout=TIMEOUT)
                for p in range(partitions)
            )
        )
        return sum(hints)

    async def visibility() -> int:
        return await count_running_workflows(client, NAMESPACE, (queue,), timeout=TIMEOUT)

    return {
        "stats": stats,
        "enhanced": enhanced,
        "hint-root": hint_root,
        "hint-all": hint_all,
        "visibility": visibility,
    }


async def watch(signal: Signal, interval: float, stop_at: list[float], seen: list[float]) -> None:
    """Poll ``signal`` until it is positive (records the wall time) or ``stop_at[0]`` passes."""
    while time.time() < stop_at[0]:
        try:
            if await signal() > 0:
                seen.append(time.time())
                return
        except RPCError:
            pass  # rate-limited or a transient error: a late detection, never a false one
        await asyncio.sleep(interval)


async def event_time(client: Client, workflow_id: str, event_type: int, wait_s: float) -> float:
    """Wall time of the first event of ``event_type`` in the workflow's history."""
    deadline = time.time() + wait_s
    while True:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            if event.event_type == event_type:
                return event.event_time.ToDatetime().timestamp()
        if time.time() > deadline:
            raise TimeoutError(f"no event {event_type} in {workflow_id}")
        await asyncio.sleep(0.05)


async def trial(
    client: Client, kind: str, partitions: int, worker_queue: str, args: argparse.Namespace
) -> dict[str, float | None]:
    """One trial on a new queue; detection delay per signal (None = missed)."""
    queue = f"probe-{kind}-{uuid.uuid4().hex[:10]}"
    queue_type = "WORKFLOW" if kind == "workflow" else "ACTIVITY"
    probed = signals(client, queue, queue_type, partitions)
    stop_at = [time.time() + 3600.0]
    seen: dict[str, list[float]] = {name: [] for name in probed}
    watchers = [
        asyncio.create_task(watch(fn, args.interval, stop_at, seen[name]))
        for name, fn in probed.items()
    ]
    await asyncio.sleep(random.uniform(0.2, 5.5))
    workflow_id = f"{queue}-wf"
    if kind == "workflow":
        await client.start_workflow("ProbeIdle", id=workflow_id, task_queue=queue)
        created = await event_time(
            client, workflow_id, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, 10
        )
    else:
        await client.start_workflow(
            ProbeScheduleActivity.run, queue, id=workflow_id, task_queue=worker_queue
        )
        created = await event_time(
            client, workflow_id, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, 10
        )
    stop_at[0] = created + args.timeout
    await asyncio.gather(*watchers)
    await client.get_workflow_handle(workflow_id).terminate("probe done")
    return {name: (times[0] - created if times else None) for name, times in seen.items()}


async def call_cost(
    client: Client, partitions: int, busy_queue: str
) -> dict[str, dict[str, float]]:
    """Latency (100 sequential calls) and accepted calls/s (64 callers for 2 s) per call kind."""
    kinds = signals(client, busy_queue, "WORKFLOW", partitions)
    one_partition: dict[str, Signal] = {
        "stats": kinds["stats"],
        "hint (one partition)": kinds["hint-root"],
        "visibility": kinds["visibility"],
    }
    result: dict[str, dict[str, float]] = {}
    for name, call in one_partition.items():
        await asyncio.sleep(2.0)  # let the frontend's token buckets refill
        latencies = []
        for _ in range(100):
            started = time.perf_counter()
            try:
                await call()
            except RPCError:
                await asyncio.sleep(0.2)
                continue
            latencies.append(time.perf_counter() - started)
        await asyncio.sleep(2.0)
        ok, limited, other = await hammer(call, 64, 2.0)
        result[name] = {
            "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 95),
            "ok_per_s": ok / 2.0,
            "exhausted": limited,
            "other_errors": other,
        }
    return result


async def hammer(call: Signal, callers: int, seconds: float) -> tuple[int, int, int]:
    """Call as fast as ``callers`` callers can for ``seconds``: (ok, exhausted, other)."""
    counts = [0, 0, 0]
    end = time.perf_counter() + seconds

    async def caller() -> None:
        while time.perf_counter() < end:
            try:
                await call()
                counts[0] += 1
            except RPCError as err:
                counts[1 if err.status == RPCStatusCode.RESOURCE_EXHAUSTED else 2] += 1

    await asyncio.gather(*(caller() for _ in range(callers)))
    return counts[0], counts[1], counts[2]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def run_partitions(
    partitions: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    server = start_dev_server(
        fast_stats=False,
        partitions=partitions,
        in_memory=True,
        log_file=workdir / f"server-{partitions}.log",
    )
    try:
        client = await Client.connect(server.address)
        worker_queue = f"probe-wfworker-{uuid.uuid4().hex[:8]}"
        worker = Worker(
            client,
            task_queue=worker_queue,
            workflows=[ProbeScheduleActivity],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )
        detections: dict[str, list[dict[str, float | None]]] = {"workflow": [], "activity": []}
        async with worker:
            for kind in ("workflow", "activity"):
                for _ in range(args.trials):
                    detections[kind].append(
                        await trial(client, kind, partitions, worker_queue, args)
                    )
            in_query = await count_in_query_works(client)
            cost = await call_cost(client, partitions, worker_queue)
        return {"detections": detections, "cost": cost, "in_query": in_query}
    finally:
        server.stop()


async def count_in_query_works(client: Client) -> bool:
    """Does one ``TaskQueue IN (a, b)`` visibility count see workflows on both queues?"""
    queues = (f"probe-in-{uuid.uuid4().hex[:8]}", f"probe-in-{uuid.uuid4().hex[:8]}")
    for queue in queues:
        await client.start_workflow("ProbeIdle", id=f"{queue}-wf", task_queue=queue)
    deadline = time.time() + 10
    count = 0
    while time.time() < deadline and count < 2:
        count = await count_running_workflows(client, NAMESPACE, queues, timeout=TIMEOUT)
        await asyncio.sleep(0.05)
    for queue in queues:
        await client.get_workflow_handle(f"{queue}-wf").terminate("probe done")
    return count == 2


def print_tables(results: dict[int, dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nDetection after the task was created ({args.trials} trials each, poll every "
        f"{args.interval}s, miss = not seen within {args.timeout}s)"
    )
    print(
        f"{'signal':<11} {'type':<9} {'parts':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}"
        f" {'misses':>7}"
    )
    for partitions, result in results.items():
        for kind, trials in result["detections"].items():
            for name in trials[0]:
                delays = [t[name] for t in trials if t[name] is not None]
                misses = sum(1 for t in trials if t[name] is None)
                cells = (
                    [
                        f"{statistics.median(delays):7.2f}",
                        f"{percentile(delays, 95):7.2f}",
                        f"{max(delays):7.2f}",
                    ]
                    if delays
                    else ["      -"] * 3
                )
                print(
                    f"{name:<11} {kind:<9} {partitions:>5} {' '.join(cells)}"
                    f" {misses:>4}/{len(trials)}"
                )
    print("\nCost per call (one call; hint-all costs one call per partition)")
    print(f"{'call':<21} {'parts':>5} {'p50 ms':>7} {'p95 ms':>7} {'ok/s':>7} {'exhausted':>9}")
    for partitions, result in results.items():
        for name, cost in result["cost"].items():
            print(
                f"{name:<21} {partitions:>5} {cost['p50_ms']:7.1f} {cost['p95_ms']:7.1f} "
                f"{cost['ok_per_s']:7.0f} {cost['exhausted']:>9}"
            )
    for partitions, result in results.items():
        print(
            f"visibility 'TaskQueue IN (a, b)' counts both ({partitions} partitions): "
            f"{result['in_query']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--partitions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=8.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"probe-signals-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    results = {p: asyncio.run(run_partitions(p, args, workdir)) for p in args.partitions}
    print_tables(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.stdout.flush()
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


if __name__ == "__main__":
    main()
