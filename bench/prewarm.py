"""Pre-warming benchmark (not a test): the same Temporal Schedules run three ways side by side on a
real dev server, with the real controller and subprocess workers.

    .venv/bin/python bench/prewarm.py [--workflows 100 --children|--schedules] [--interval 60s]
                                      [--runs 4] [--tasks 20] [--task 1] [--slots N]
                                      [--max-count N] [--slo-ms 2000] [--modes a,b,c]
                                      [--default-stats] [--address HOST:PORT] [--out FILE]

* ``reactive``: the ``slo`` scaler alone (pre-warming off): each run lands on an idle queue;
* ``prewarm``: pre-warming on, learning what a run brings from the schedules' past runs;
* ``hand-placed``: pre-warming with per-schedule hints of a slot for every task (what a user
  would place by hand, knowing the schedules).

Shapes of a run (every ``--interval``):

* default: one schedule starts one ``ProcessBatch`` workflow that fans out ``--tasks`` activities;
* ``--workflows N --children``: one schedule starts one ``ProcessChildren`` workflow that starts
  N child workflows, each running one activity;
* ``--workflows N --schedules``: N schedules fire together, each starting one ``ProcessItem``
  workflow (one activity).

Activities run ``--task`` seconds on ``--slots``-slot workers (4 for the default shape, 10 for the
workflow shapes); ``--max-count`` defaults to two more than a slot per task needs. Per run it
reports, from the histories, when the run's first task (a workflow task) started after the action
time, when the last of its workflows had its first task, and its first and last activity; per
mode, the group's worker-seconds over the runs after the first (the first run is cold in every
mode: nothing has been learned yet).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import uuid
from pathlib import Path

from workerplane.lab.prewarm_measure import BatchResult, table
from workerplane.lab.prewarm_run import ScheduledBatch, hand_placed, run_batch
from workerplane.temporal.devserver import start_dev_server

MODES = ("reactive", "prewarm", "hand-placed")


def seconds(text: str) -> float:
    """A duration: ``60``, ``60s``, ``1m``."""
    if text.endswith("m"):
        return float(text[:-1]) * 60.0
    return float(text.removesuffix("s"))


def batch_of(args: argparse.Namespace) -> ScheduledBatch:
    """The bench's schedules and group, from the command line."""
    shape = (
        "schedules"
        if args.schedules
        else "children"
        if args.children or args.workflows
        else "batch"
    )
    tasks = args.workflows or args.tasks
    slots = args.slots or (4 if shape == "batch" else 10)
    return ScheduledBatch(
        interval_s=args.interval,
        runs=args.runs,
        tasks=tasks,
        task_s=args.task,
        slots=slots,
        max_count=args.max_count or math.ceil(tasks / slots) + 2,
        slo_ms=args.slo_ms,
        shape=shape,
    )


async def bench(args: argparse.Namespace) -> str:
    batch = batch_of(args)
    server = None
    address = args.address
    if address is None:
        server = start_dev_server(in_memory=True, fast_stats=not args.default_stats)
        address = server.address
    results: list[BatchResult] = []
    try:
        for mode in args.modes.split(","):
            queue = f"prewarm-bench-{mode}-{uuid.uuid4().hex[:6]}"
            prewarm = {
                "reactive": None,
                "prewarm": {"enabled": True},
                "hand-placed": hand_placed(batch, queue),
            }[mode]
            with tempfile.TemporaryDirectory() as state:
                result = await run_batch(
                    address, queue, Path(state), batch, mode=mode, prewarm=prewarm
                )
            results.append(result)
            print(f"{mode}: {result.runs} worker-s {result.worker_seconds:.0f}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
    stats = "default-config" if args.default_stats else "fast-stats"
    shape = {
        "batch": f"--tasks {batch.tasks}",
        "children": f"--workflows {batch.tasks} --children",
        "schedules": f"--workflows {batch.tasks} --schedules",
    }[batch.shape]
    return (
        f"`bench/prewarm.py {shape} --interval {batch.interval_s:g}s --runs {batch.runs} "
        f"--task {batch.task_s:g} --slots {batch.slots} --max-count {batch.max_count} "
        f"--slo-ms {batch.slo_ms}{' --default-stats' if args.default_stats else ''}` "
        f"({stats} dev server)\n\n{table(results)}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=seconds, default=20.0, help="schedule interval (20s)")
    parser.add_argument("--runs", type=int, default=4, help="runs per mode (the first is cold)")
    parser.add_argument("--tasks", type=int, default=20, help="activities per run (batch shape)")
    parser.add_argument("--workflows", type=int, help="workflows per run (one activity each)")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument(
        "--children", action="store_true", help="one schedule, its workflow starts children"
    )
    shape.add_argument("--schedules", action="store_true", help="--workflows schedules at once")
    parser.add_argument("--task", type=float, default=1.0, help="seconds each activity runs")
    parser.add_argument("--slots", type=int, help="slots per worker (4; 10 with --workflows)")
    parser.add_argument("--max-count", type=int, help="the group's max_count")
    parser.add_argument("--slo-ms", type=int, default=2_000, help="schedule-to-start SLO, ms")
    parser.add_argument("--modes", default=",".join(MODES), help="which modes, in order")
    parser.add_argument(
        "--default-stats", action="store_true", help="a dev server with Temporal's defaults"
    )
    parser.add_argument("--address", help="a running Temporal server instead of a dev server")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    if args.schedules and not args.workflows:
        parser.error("--schedules needs --workflows")
    report = asyncio.run(bench(args))
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Pre-warming benchmark\n\n{report}")


if __name__ == "__main__":
    main()
