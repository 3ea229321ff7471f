"""Benchmark: Lambda workers that exit when idle vs workers that run to their deadline.

Runs on the local Lambda runtime (serverless-offline, real Python handlers) and the embedded
Temporal dev server. A burst of N short tasks (``ProcessItem`` with a 1 s activity) lands on an
idle queue with zero workers, three ways:

1. ``workerplane``: the real controller, ``backlog`` scaler (invokes sized to the backlog), handlers
   return once idle for ``idle_exit_s``.
2. ``workerplane, run to deadline``: the same invokes, but handlers never exit for idleness: they
   return at the deadline buffer, as Temporal's Lambda workers do.
3. ``Temporal's policy (replayed)``: Temporal's ``no-sync`` algorithm driving the same
   ``aws-lambda`` provider: ONE invoke per trigger, the metrics poll every 10 s (Temporal's minimum)
   and the "task found no poller" trigger (``ProcessTaskAdd``, 100 ms cooloff) fired for every
   workflow started while no worker polled; run-to-deadline handlers; no concurrency cap (Temporal
   has none).
4. ``Temporal replay, poll trigger only``: the same without the task-add signal (a backlog that
   built up while nothing signalled it, e.g. after workers died): one invoke per 10 s poll.

Printed per row: drain time (first StartWorkflow -> last workflow completed), invocations, and
billed worker-seconds (the sum of the handlers' run times, which is what Lambda bills).

    .venv/bin/python bench/lambda_idle_exit.py [--tasks 100] [--timeout 60] [--activity-s 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from temporalio.client import Client  # noqa: E402

from examples.app import ProcessItem, process_item  # noqa: E402
from tests.worker.lambda_offline import LambdaOffline, lambda_offline  # noqa: E402
from workerplane.controller.controller import Controller  # noqa: E402
from workerplane.controller.local import FileSpecSource, JsonStatusSink  # noqa: E402
from workerplane.controller.settings import ControllerSettings  # noqa: E402
from workerplane.providers.aws_lambda.details import LambdaDetails  # noqa: E402
from workerplane.providers.aws_lambda.provider import LambdaProvider  # noqa: E402
from workerplane.providers.base import WorkerEnvironment  # noqa: E402
from workerplane.scaling.no_sync import NoSyncDetails, NoSyncScaler  # noqa: E402
from workerplane.scaling.types import GroupMetrics, StartWorkers, WorkerCensus  # noqa: E402
from workerplane.temporal.devserver import start_dev_server  # noqa: E402
from workerplane.temporal.metrics import QueueTarget, TemporalMetricsSource, total  # noqa: E402
from workerplane.worker import WorkerOptions, run_worker  # noqa: E402

ACTIVITY_S = 1.0  # --activity-s
SLOTS = 4
MAX_WORKERS = 8
GRACEFUL_S = 5.0  # examples/lambda/serverless.yml
SAFETY_MARGIN_S = 8.0  # tests/worker/lambda_offline.py (serverless-offline counts start-up)


def _polling_lifetime(timeout_s: float) -> float:
    """The longest a handler polls: it stops at the deadline minus graceful + margin."""
    return timeout_s - GRACEFUL_S - SAFETY_MARGIN_S


def _lambda_details(endpoint: str, ttl_s: float, *, cap: bool = True) -> dict[str, Any]:
    details = {
        "arn": "workerplane-worker-dev-worker",
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "aws_access_key_id": "offline",
        "aws_secret_access_key": "offline",
        "check_function": False,
        "max_concurrency": MAX_WORKERS,
        "worker_ttl_s": ttl_s,
    }
    if not cap:
        del details["max_concurrency"]  # Temporal's controller has no concurrency cap
    return details


async def _burst(client: Client, queue: str, count: int) -> list[Any]:
    return [
        await client.start_workflow(
            ProcessItem.run, ACTIVITY_S, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        for _ in range(count)
    ]


async def _wait_results(
    offline: LambdaOffline, count: int, timeout_s: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while len(offline.results()) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return offline.results()


async def run_controller(
    offline: LambdaOffline, address: str, tasks: int, timeout_s: float, workdir: Path
) -> dict[str, Any]:
    """The real controller with the backlog scaler and the aws-lambda provider."""
    offline.reset()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    spec = {
        "name": queue,
        "task_queue": queue,
        "compute": {
            "scaling_groups": {
                "lambda": {
                    "provider": {
                        "type": "aws-lambda",
                        "details": _lambda_details(offline.endpoint, _polling_lifetime(timeout_s)),
                    },
                    "scaler": {
                        "type": "backlog",
                        "details": {
                            "max_count": MAX_WORKERS,
                            "target_per_worker": SLOTS,
                            "metrics_poll_interval_ms": 500,
                        },
                    },
                }
            }
        },
    }
    path = workdir / f"{queue}.yaml"
    path.write_text(yaml.safe_dump(spec))
    controller = Controller(
        FileSpecSource(path),
        JsonStatusSink(workdir / f"{queue}-status.json"),
        ControllerSettings(state_dir=workdir / queue, address=address, refresh_s=0.2),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await asyncio.sleep(1.0)
    client = await Client.connect(address)
    t0 = time.monotonic()
    handles = await _burst(client, queue, tasks)
    await asyncio.gather(*(h.result() for h in handles))
    drain = time.monotonic() - t0
    provider = next(iter(controller._groups.values())).provider
    assert isinstance(provider, LambdaProvider)
    invoked = len(provider.invocation_ids)
    stop.set()
    await task
    await controller.shutdown(drain=False)
    runs = await _wait_results(offline, invoked, timeout_s + 30)
    return _row(drain, invoked, runs)


async def run_temporal_policy(
    offline: LambdaOffline, address: str, tasks: int, timeout_s: float, *, task_add: bool = True
) -> dict[str, Any]:
    """Temporal's no-sync policy replayed with the same provider (see the module docstring)."""
    offline.reset()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = WorkerEnvironment(address=address, namespace="default", task_queues=(queue,))
    provider = LambdaProvider(
        LambdaDetails.model_validate(
            _lambda_details(offline.endpoint, _polling_lifetime(timeout_s), cap=False)
        ),
        deployment=queue,
        group_id="lambda",
        worker_env=env,
    )
    scaler = NoSyncScaler(NoSyncDetails.model_validate({"metrics_poll_interval_ms": 10_000}))
    state = scaler.initial_state(time.monotonic())
    client = await Client.connect(address)
    source = TemporalMetricsSource(client)
    target = QueueTarget(namespace="default", task_queues=(queue,))
    invokes: list[asyncio.Task[int]] = []
    pollers = 0

    def apply(decision: Any) -> None:
        if isinstance(decision, StartWorkers):
            invokes.append(asyncio.create_task(provider.invoke(decision.count)))

    t0 = time.monotonic()
    handles = []
    for _ in range(tasks):
        handles.append(
            await client.start_workflow(
                ProcessItem.run, ACTIVITY_S, id=f"{queue}-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
        )
        # ProcessTaskAdd: the task found no waiting poller while no worker polls the queue.
        if task_add:
            state, decision = scaler.task_added(state, time.monotonic(), sync_match=pollers > 0)
            apply(decision)

    async def poll_loop() -> None:
        nonlocal state, pollers
        while True:
            by_type = await source.read(target)
            stats = total(by_type.values())
            pollers = stats.pollers
            metrics = GroupMetrics(
                stats=stats,
                workers=WorkerCensus(running=(await provider.census()).running),
                observed_at=time.monotonic(),
                by_type=by_type,
            )
            state, decision = scaler.decide(state, metrics, time.monotonic())
            apply(decision)
            await asyncio.sleep(scaler.poll_interval_s)

    poller = asyncio.create_task(poll_loop())
    await asyncio.gather(*(h.result() for h in handles))
    drain = time.monotonic() - t0
    poller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poller
    await asyncio.gather(*invokes, return_exceptions=True)
    invoked = len(provider.invocation_ids)
    await provider.close()
    runs = await _wait_results(offline, invoked, timeout_s + 30)
    return _row(drain, invoked, runs)


async def _warm_up(address: str) -> None:
    """Run a few workflows once, unmeasured, so the first row does not pay the server's warm-up."""
    queue = f"warmup-{uuid.uuid4().hex[:6]}"
    client = await Client.connect(address)
    handles = await _burst(client, queue, 5)
    options = WorkerOptions(idle_exit_s=1.0, task_queues=(queue,), orphan_exit_s=None)
    await run_worker(
        workflows=[ProcessItem], activities=[process_item], options=options, client=client
    )
    await asyncio.gather(*(h.result() for h in handles))


def _row(drain: float, invoked: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for r in runs:
        reasons[r["exit_reason"]] = reasons.get(r["exit_reason"], 0) + 1
    return {
        "drain_s": round(drain, 1),
        "invocations": invoked,
        "returned": len(runs),
        "billed_worker_s": round(sum(r["runtime_s"] for r in runs), 1),
        "exit_reasons": reasons,
    }


async def main_async(args: argparse.Namespace, workdir: Path) -> list[tuple[str, dict[str, Any]]]:
    server = start_dev_server(db_file=workdir / "temporal.db", log_file=workdir / "temporal.log")
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        await _warm_up(server.address)
        with lambda_offline(
            workdir / "idle",
            timeout_s=args.timeout,
            idle_exit_s=args.idle_exit,
            slots=SLOTS,
            safety_margin_s=SAFETY_MARGIN_S,
        ) as idle:
            rows.append(
                (
                    "workerplane (sized invokes, idle exit)",
                    await run_controller(idle, server.address, args.tasks, args.timeout, workdir),
                )
            )
        with lambda_offline(
            workdir / "deadline",
            timeout_s=args.timeout,
            idle_exit_s=10_000,
            slots=SLOTS,
            safety_margin_s=SAFETY_MARGIN_S,
        ) as deadline:
            rows.append(
                (
                    "workerplane sizing, run to deadline",
                    await run_controller(
                        deadline, server.address, args.tasks, args.timeout, workdir
                    ),
                )
            )
        # A fresh runtime for the replay too, so every row starts with cold sandboxes.
        with lambda_offline(
            workdir / "replay",
            timeout_s=args.timeout,
            idle_exit_s=10_000,
            slots=SLOTS,
            safety_margin_s=SAFETY_MARGIN_S,
        ) as replay:
            rows.append(
                (
                    "Temporal no-sync replay, run to deadline",
                    await run_temporal_policy(replay, server.address, args.tasks, args.timeout),
                )
            )
        with lambda_offline(
            workdir / "replay-poll",
            timeout_s=args.timeout,
            idle_exit_s=10_000,
            slots=SLOTS,
            safety_margin_s=SAFETY_MARGIN_S,
        ) as replay_poll:
            rows.append(
                (
                    "Temporal replay, poll trigger only",
                    await run_temporal_policy(
                        replay_poll, server.address, args.tasks, args.timeout, task_add=False
                    ),
                )
            )
    finally:
        server.stop()
    return rows


def main() -> None:
    global ACTIVITY_S
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=60.0, help="Lambda timeout, seconds")
    parser.add_argument("--idle-exit", type=float, default=3.0, help="idle exit, seconds")
    parser.add_argument("--activity-s", type=float, default=ACTIVITY_S, help="task length, s")
    args = parser.parse_args()
    ACTIVITY_S = args.activity_s
    workdir = Path(tempfile.mkdtemp(prefix="wp-lambda-bench-"))
    for sub in ("idle", "deadline", "replay", "replay-poll"):
        (workdir / sub).mkdir()
    rows = asyncio.run(main_async(args, workdir))
    print(
        f"\nburst of {args.tasks} tasks ({ACTIVITY_S}s activity), {SLOTS} slots/worker, "
        f"Lambda timeout {args.timeout:.0f}s, idle exit {args.idle_exit:.0f}s, "
        f"max {MAX_WORKERS} concurrent"
    )
    header = f"{'policy':44} {'drain s':>8} {'invokes':>8} {'billed worker-s':>16}  exit reasons"
    print(header)
    print("-" * len(header))
    for name, row in rows:
        print(
            f"{name:44} {row['drain_s']:>8} {row['invocations']:>8} "
            f"{row['billed_worker_s']:>16}  {row['exit_reasons']}"
        )
    print(json.dumps({name: row for name, row in rows}))
    sys.stdout.flush()
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


if __name__ == "__main__":
    main()
