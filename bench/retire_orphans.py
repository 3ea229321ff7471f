"""Benchmark: tasks orphaned by retiring workers, on a server with Temporal's default settings.

A worker that leaves with a long poll open can take a task with it: on a server without
``frontend.enableCancelWorkerPollsOnShutdown`` (Temporal's default), a task matched to the poll
as the worker cancels it waits out its heartbeat timeout (10 s here) and runs again as attempt 2.
This drives that race on purpose: a steady stream of short ``process_item`` activities on a pool
of real worker processes (``examples.worker``, activities only; ``--workflow-workers`` workflow
workers that never leave), where every ``--every`` seconds the oldest activity worker gets
SIGTERM and a fresh one starts ``--spawn-after`` seconds later (apart, so that a task lost to
either event can be told apart). It counts the activities that ran more than once and the
waits above 5 s, for

* ``dropped``: the server's default, workers cancel their polls at shutdown (``WORKERPLANE_QUIET_
  RETIREMENT=off``: what every worker did before);
* ``quiet``: the server's default, workers retire quietly (``WORKERPLANE_QUIET_RETIREMENT=on``:
  :mod:`workerplane.worker.poll_gate`);
* ``server``: the server completes a leaving worker's polls (the setting on);
* ``server-quiet``: the setting on, and workers retire quietly as well.

    .venv/bin/python bench/retire_orphans.py [--seconds 90] [--rate 20] [--every 1.5]
        [--modes dropped,quiet,server,server-quiet]

Not a test: nothing here asserts. Prints each task that ran twice: its last failure, how far its
scheduling was from the nearest SIGTERM and worker start, and what became of its first attempt
(the activity workers run at DEBUG, where the SDK logs each activity it starts and completes: it
reached no worker's code, or which worker started or completed it, against that worker's
SIGTERM). Then, per mode: tasks, retries, waits above 5 s, p99 wait, the retired workers' mean
time from SIGTERM to exit, and (the quiet modes) how many left with a poll still open while
tasks were still reaching them (the race the quiet retirement avoids).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
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
    """A worker process; an activity worker logs at DEBUG (the SDK's activity starts and ends)."""
    env = dict(os.environ)
    env |= {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": queue,
        "WORKERPLANE_TASK_QUEUE_TYPES": types,
        "WORKERPLANE_SLOTS": "4",
        "WORKERPLANE_GRACEFUL_SHUTDOWN_S": "30",
        "WORKERPLANE_QUIET_RETIREMENT": quiet,
        "WORKERPLANE_LOG_LEVEL": "DEBUG" if types == "ACTIVITY" else "INFO",
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


_LINE = r"^(\S+ \S+) DEBUG \[worker (\d+)\] "
_STARTING = re.compile(_LINE + r"Starting activity \((.*)\)$")
_COMPLETING = re.compile(_LINE + r"Completing activity with completion: (.*)")


def _first_attempts(log_text: str, queue: str) -> dict[str, list[tuple[str, int, float]]]:
    """Per workflow, what became of its activity's first attempt on each worker, from the
    temporalio SDK's own DEBUG lines in the workers' log: ``(started|completion sent, pid,
    epoch s)``. (A completion line names the task token, which holds the workflow ID but not
    plainly the attempt: one after attempt 1 started on the same worker is taken as its.)"""
    seen: dict[str, list[tuple[str, int, float]]] = {}
    running: dict[tuple[int, str], bool] = {}
    workflow_id = re.compile(rf"({re.escape(queue)}-\d+)")
    for line in log_text.splitlines():
        if match := _STARTING.match(line):
            what = "started"
        elif match := _COMPLETING.match(line):
            what = "completion sent"
        else:
            continue
        wid = workflow_id.search(match[3])
        if wid is None:
            continue
        pid, key = int(match[2]), wid[1]
        if what == "started":
            first = "'attempt': 1," in match[3]
            running[(pid, key)] = first
            if not first:
                continue
        elif not running.pop((pid, key), False):
            continue
        at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        seen.setdefault(key, []).append((what, pid, at))
    return seen


def _fate(events: list[tuple[str, int, float]], sigterm_at: dict[int, float]) -> str:
    """What the first attempt's worker did with it, against that worker's SIGTERM."""
    if not events:
        return "attempt 1 reached no worker's code (its poll's task was lost)"
    what, pid, at = events[-1]
    term = sigterm_at.get(pid)
    since = "never got SIGTERM" if term is None else f"SIGTERM {at - term:+.2f} s from this"
    return f"attempt 1 {what} on worker {pid} ({since})"


def _nearest(events: list[float], at: float) -> float:
    """Signed seconds from ``at`` to the nearest of ``events`` (positive: the event came later)."""
    return min((e - at for e in events), key=abs, default=float("nan"))


async def run_mode(mode: str, args: argparse.Namespace, console: Console) -> ModeResult:
    server = start_dev_server(
        fast_stats=False,
        cancel_polls_on_shutdown=mode.startswith("server"),
        partitions=args.partitions or None,
    )
    logdir = Path(tempfile.mkdtemp(prefix=f"wp-orphans-{mode}-"))
    log = logdir / "workers.log"
    quiet = "on" if mode in ("quiet", "server-quiet") else "off"
    queue = f"orphans-{uuid.uuid4().hex[:6]}"
    workers: list[tuple[subprocess.Popen[bytes], float]] = []
    retiring: list[tuple[subprocess.Popen[bytes], float]] = []
    retire_times: list[float] = []
    sigterms: list[float] = []
    sigterm_at: dict[int, float] = {}
    spawns: list[float] = []
    pending_spawns: list[float] = []
    try:
        client = await Client.connect(server.address)
        workflow_workers = [
            _worker(server.address, queue, "WORKFLOW", "off", log)
            for _ in range(args.workflow_workers)
        ]
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
                sigterm_at[process.pid] = sigterms[-1]
                retiring.append((process, time.monotonic()))
                pending_spawns.append(now + args.spawn_after)
                next_retire += args.every
            while pending_spawns and now >= pending_spawns[0]:
                pending_spawns.pop(0)
                workers.append((_worker(server.address, queue, "ACTIVITY", quiet, log), now))
                spawns.append(time.time())
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
        first = _first_attempts(log.read_text(errors="replace"), queue)
        for wid, r in zip(ids, results, strict=True):
            if r.attempts > 1:
                console.print(
                    f"[{mode}] {wid} ran {r.attempts} times ({r.last_failure}): scheduled "
                    f"{_nearest(sigterms, r.scheduled_at):+.2f} s from the nearest SIGTERM, "
                    f"{_nearest(spawns, r.scheduled_at):+.2f} s from the nearest worker start; "
                    f"{_fate(first.get(wid, []), sigterm_at)}"
                )
        slow = sum(1 for w in waits if w > 5.0)
        p99 = waits[min(len(waits) - 1, int(0.99 * len(waits)))] if waits else float("nan")
        for process in workflow_workers:
            process.send_signal(signal.SIGTERM)
        for process, _ in workers:
            process.send_signal(signal.SIGTERM)
        for process, _ in [*workers, *((w, 0.0) for w in workflow_workers)]:
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
            text.count("(tasks still arriving): cancelling") if quiet == "on" else None,
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
    parser.add_argument(
        "--workflow-workers", type=int, default=2, help="workflow workers (they never leave)"
    )
    parser.add_argument(
        "--spawn-after",
        type=float,
        default=0.5,
        help="start each replacement this long after its predecessor's SIGTERM",
    )
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before load")
    parser.add_argument("--modes", default="dropped,quiet,server")
    parser.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="the task queue's partitions (0: the server's default, 4)",
    )
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
