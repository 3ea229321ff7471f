"""Pre-warming benchmark (not a test): the same Temporal Schedule run three ways side by side on a
real dev server, with the real controller and subprocess workers.

    .venv/bin/python bench/prewarm.py [--interval 20] [--runs 4] [--tasks 20] [--task 1]
                                      [--slots 4] [--max-count 8] [--default-stats]
                                      [--address HOST:PORT] [--out bench/results/prewarm.md]

* ``reactive``: the ``slo`` scaler alone (pre-warming off): each run lands on an idle queue;
* ``prewarm``: pre-warming on, learning what a run brings from the schedule's past runs;
* ``hand-placed``: pre-warming with a per-schedule hint of a slot for every task (what a user
  would place by hand, knowing the schedule).

Every ``--interval`` seconds the schedule starts one ``ProcessBatch`` workflow that fans out
``--tasks`` activities of ``--task`` seconds. Per run it reports when the run's first task (its
workflow task) and its first and last activity started after the action time, from the run's
history; per mode, the group's worker-seconds over the runs after the first (the first run is cold
in every mode: nothing has been learned yet).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from workerplane.lab.prewarm_run import BatchResult, ScheduledBatch, hand_placed, run_batch
from workerplane.temporal.devserver import start_dev_server


def table(results: list[BatchResult]) -> str:
    hand = next((r for r in results if r.mode == "hand-placed"), None)
    lines = [
        "| mode | first task after action, s (runs 2..) | first activity, s | last activity, s "
        "| polling before | worker-s | x hand-placed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        later = r.runs[1:]
        ratio = r.worker_seconds / hand.worker_seconds if hand and hand.worker_seconds else 0.0
        lines.append(
            f"| {r.mode} | {', '.join(f'{x.first_task_s:.2f}' for x in later)} "
            f"| {statistics.median(x.first_activity_s for x in later):.2f} (median) "
            f"| {statistics.median(x.last_activity_s for x in later):.2f} (median) "
            f"| {sum(x.polling_before for x in later)}/{len(later)} "
            f"| {r.worker_seconds:.0f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


async def bench(args: argparse.Namespace) -> str:
    batch = ScheduledBatch(
        interval_s=args.interval,
        runs=args.runs,
        tasks=args.tasks,
        task_s=args.task,
        slots=args.slots,
        max_count=args.max_count,
        slo_ms=args.slo_ms,
    )
    server = None
    address = args.address
    if address is None:
        server = start_dev_server(in_memory=True, fast_stats=not args.default_stats)
        address = server.address
    results = []
    try:
        for mode in ("reactive", "prewarm", "hand-placed"):
            queue = f"prewarm-bench-{mode}-{uuid.uuid4().hex[:6]}"
            prewarm = {
                "reactive": None,
                "prewarm": {"enabled": True},
                "hand-placed": hand_placed(batch, f"{queue}-schedule"),
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
    return (
        f"`bench/prewarm.py --interval {args.interval:g} --runs {args.runs} --tasks {args.tasks} "
        f"--task {args.task:g} --slots {args.slots} --max-count {args.max_count} "
        f"--slo-ms {args.slo_ms}{' --default-stats' if args.default_stats else ''}` "
        f"({stats} dev server)\n\n{table(results)}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=20.0, help="schedule interval, s")
    parser.add_argument("--runs", type=int, default=4, help="runs per mode (the first is cold)")
    parser.add_argument("--tasks", type=int, default=20, help="activities per run")
    parser.add_argument("--task", type=float, default=1.0, help="seconds each activity runs")
    parser.add_argument("--slots", type=int, default=4, help="slots per worker")
    parser.add_argument("--max-count", type=int, default=8, help="the group's max_count")
    parser.add_argument("--slo-ms", type=int, default=2_000, help="schedule-to-start SLO, ms")
    parser.add_argument(
        "--default-stats", action="store_true", help="a dev server with Temporal's defaults"
    )
    parser.add_argument("--address", help="a running Temporal server instead of a dev server")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# Pre-warming benchmark\n\n{report}")


if __name__ == "__main__":
    main()
