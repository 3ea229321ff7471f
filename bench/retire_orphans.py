"""Benchmark: tasks orphaned by retiring workers, on a server with Temporal's default settings.

A worker that leaves with a long poll open can take a task with it: on a server without
``frontend.enableCancelWorkerPollsOnShutdown`` (Temporal's default), a task matched to the poll
as the worker cancels it waits out its heartbeat timeout (10 s here) and runs again as attempt 2.
This drives that race on purpose: a steady stream of short ``process_item`` activities on a pool
of real worker processes (``examples.worker``, activities only; one workflow worker that never
leaves), where every ``--every`` seconds the oldest activity worker gets SIGTERM and a fresh one
starts. It counts the activities that ran more than once and the waits above 5 s, for

* ``dropped``: the server's default, workers cancel their polls at shutdown (``WORKERPLANE_QUIET_
  RETIREMENT=off``: what every worker did before);
* ``quiet``: the server's default, workers retire quietly (``WORKERPLANE_QUIET_RETIREMENT=on``:
  :mod:`workerplane.worker.poll_gate`);
* ``server``: the server completes a leaving worker's polls (the setting on).

    .venv/bin/python bench/retire_orphans.py [--seconds 90] [--rate 20] [--every 1.5]
        [--modes dropped,quiet,server]

Not a test: nothing here asserts. Prints each task that ran twice (its last failure, and how
far its scheduling was from the nearest SIGTERM and worker start), then, per mode: tasks,
retries, waits above 5 s, p99 wait, the retired workers' mean time from SIGTERM to exit, and
(``quiet``) how many left with a poll still open while tasks were still reaching them (the
race the quiet retirement avoids).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from examples.app import ProcessItem  # noqa: E402
from workerplane.temporal.devserver import start_dev_server  # noqa: E402


@dataclass
class ModeResult:
    mode: str
    tasks: int
    retried: int
    slow: int
    p99_wait_s: float
    retire_s: float
    retirements: int
    cancelled_under_load: int | None


def _worker(address: str, queue: str, types: str, quiet: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env |= {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": queue,
        "WORKERPLANE_TASK_QUEUE_TYPES": types,
        "WORKERPLANE_SLOTS": "4",
        "WORKERPLANE_GRACEFUL_SHUTDOWN_S": "30",
        "WORKERPLANE_QUIET_RETIREMENT": quiet,
        "PYTHONPATH": str(REPO_ROOT / "src") + os.pathsep + str(REPO_ROOT),
    }
    for key in ("TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE", "WORKERPLANE_CONTROLLER_LEASE"):
        env.pop(key, None)
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "examples.worker"], env=env, stdout=out, stderr=out, cwd=REPO_ROOT
    )


@dataclass(frozen=True)
class TaskRecord:
    """One workflow's activity, from its history."""

    wait_s: float
    attempts: int
    scheduled_at: float
    last_failure: str


async def _record(client: Client, workflow_id: str) -> TaskRecord:
    """The activity's schedule-to-start wait, attempts and last failure, from the history."""
    scheduled = started = None
    attempts = 0
    failure = ""
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.event_time.ToDatetime()
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.event_time.ToDatetime()
            attrs = event.activity_task_started_event_attributes
            attempts = attrs.attempt
            failure = attrs.last_failure.message
    if scheduled is None or started is None:
        return TaskRecord(float("nan"), attempts, float("nan"), failure)
    # The started event is written when the final attempt starts: its wait includes a timeout.
    return TaskRecord(
        (started - scheduled).total_seconds(),
        attempts,
        scheduled.replace(tzinfo=UTC).timestamp(),
        failure,
    )


def _nearest(events: list[float], at: float) -> float:
    """Signed seconds from ``at`` to the nearest of ``events`` (positive: the event came later)."""
    return min((e - at for e in events), key=abs, default=float("nan"))


async def run_mode(mode: str, args: argparse.Namespace, console: Console) -> ModeResult:
    server = start_dev_server(fast_stats=False, cancel_polls_on_shutdown=mode == "server")
    logdir = Path(tempfile.mkdtemp(prefix=f"wp-orphans-{mode}-"))
    log = logdir / "workers.log"
    quiet = "on" if mode == "quiet" else "off"
    queue = f"orphans-{uuid.uuid4().hex[:6]}"
    workers: list[tuple[subprocess.Popen[bytes], float]] = []
    retiring: list[tuple[subprocess.Popen[bytes], float]] = []
    retire_times: list[float] = []
    sigterms: list[float] = []
    spawns: list[float] = []
    try:
        client = await Client.connect(server.address)
        workflow_worker = _worker(server.address, queue, "WORKFLOW", "off", log)
        for _ in range(args.pool):
            workers.append((_worker(server.address, queue, "ACTIVITY", quiet, log), time.time()))
        await asyncio.sleep(args.warmup)
        ids: list[str] = []
        starts: list[asyncio.Task[object]] = []
        started = time.monotonic()
        next_retire = started + args.every
        interval = 1.0 / args.rate
        next_start = started
        while time.monotonic() - started < args.seconds:
            now = time.monotonic()
            if now >= next_retire:
                process, _ = workers.pop(0)
                process.send_signal(signal.SIGTERM)
                sigterms.append(time.time())
                retiring.append((process, time.monotonic()))
                workers.append((_worker(server.address, queue, "ACTIVITY", quiet, log), now))
                spawns.append(time.time())
                next_retire += args.every
            for process, since in list(retiring):
                if process.poll() is not None:
                    retire_times.append(time.monotonic() - since)
                    retiring.remove((process, since))
            if now >= next_start:
                wid = f"{queue}-{len(ids)}"
                starts.append(
                    asyncio.create_task(
                        client.start_workflow(
                            ProcessItem.run, args.task_s, id=wid, task_queue=queue
                        )
                    )
                )
                ids.append(wid)
                next_start += interval
            await asyncio.sleep(min(0.02, max(0.0, next_start - time.monotonic())))
        await asyncio.gather(*starts)
        console.print(f"[{mode}] {len(ids)} started; waiting for them to finish")
        # A few at a time: thousands of result long-polls at once hit the server's poller limit.
        limit = asyncio.Semaphore(32)

        async def finished(wid: str) -> TaskRecord:
            async with limit:
                with contextlib.suppress(Exception):
                    await client.get_workflow_handle(wid).result()
                return await _record(client, wid)

        for process, since in retiring:
            process.wait(timeout=60)
            retire_times.append(time.monotonic() - since)
        results = await asyncio.gather(*(finished(w) for w in ids))
        waits = sorted(r.wait_s for r in results if r.wait_s == r.wait_s)
        retried = sum(1 for r in results if r.attempts > 1)
        for wid, r in zip(ids, results, strict=True):
            if r.attempts > 1:
                console.print(
                    f"[{mode}] {wid} ran {r.attempts} times ({r.last_failure}): scheduled "
                    f"{_nearest(sigterms, r.scheduled_at):+.2f} s from the nearest SIGTERM, "
                    f"{_nearest(spawns, r.scheduled_at):+.2f} s from the nearest worker start"
                )
        slow = sum(1 for w in waits if w > 5.0)
        p99 = waits[min(len(waits) - 1, int(0.99 * len(waits)))] if waits else float("nan")
        workflow_worker.send_signal(signal.SIGTERM)
        for process, _ in workers:
            process.send_signal(signal.SIGTERM)
        for process, _ in [*workers, (workflow_worker, 0.0)]:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        text = log.read_text(errors="replace")
        return ModeResult(
            mode,
            len(ids),
            retried,
            slow,
            p99,
            statistics.mean(retire_times) if retire_times else float("nan"),
            len(retire_times),
            text.count("(tasks still arriving): cancelling") if mode == "quiet" else None,
        )
    finally:
        for process, _ in [*workers, *retiring]:
            if process.poll() is None:
                process.kill()
        server.stop()
        console.print(f"[{mode}] worker logs: {log}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="how long tasks arrive")
    parser.add_argument("--rate", type=float, default=20.0, help="workflows started per second")
    parser.add_argument("--task-s", type=float, default=0.3, help="each activity's length")
    parser.add_argument("--every", type=float, default=1.5, help="retire a worker this often")
    parser.add_argument("--pool", type=int, default=4, help="activity workers running")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before load")
    parser.add_argument("--modes", default="dropped,quiet,server")
    args = parser.parse_args()
    console = Console()
    rows = [await run_mode(m, args, console) for m in args.modes.split(",") if m]
    table = Table(
        title=(
            f"{args.rate:g} tasks/s of {args.task_s:g} s for {args.seconds:g} s; a worker of "
            f"{args.pool} retired every {args.every:g} s (server: Temporal's default settings)"
        )
    )
    columns = (
        "mode",
        "tasks",
        "ran twice",
        "waited > 5 s",
        "p99 wait s",
        "retire s",
        "retired",
        "left with polls open, tasks arriving",
    )
    for col in columns:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r.mode,
            str(r.tasks),
            str(r.retried),
            str(r.slow),
            f"{r.p99_wait_s:.2f}",
            f"{r.retire_s:.1f}",
            str(r.retirements),
            "-" if r.cancelled_under_load is None else str(r.cancelled_under_load),
        )
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main())
