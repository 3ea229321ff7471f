"""Benchmark: a webhook group sized with its workers' heartbeats against the same group without.

ECS, Cloud Run and webhook providers cannot ask their workers what they run. Before the heartbeat
census (:mod:`workerplane.planning.worker_beats`) the scalers took every polling worker of
such a group as full; now its workers' heartbeats to Temporal count their tasks in flight, their
completions and their length. This bench measures what that changes, end to end:

* a Temporal dev server with its **default** dynamic config (stats cached about 5 s), as users
  run it (``--fast-stats`` for the dev server's fast stats);
* the real controller (``Controller``, a spec file) with one ``webhook`` worker-set group, the
  ``slo`` scaler (5 s SLO, ``max_count`` 10), its other keys at their defaults;
* the example launcher (``examples/webhook_launcher.py``) on loopback, running each worker as a
  ``python -m examples.worker`` process with 4 slots;
* bursts of ``ProcessItem`` workflows (an activity of ``--task`` seconds): ``--bursts`` bursts of
  ``--on`` seconds at ``--rate`` per second, ``--off`` seconds apart.

Each variant gets a fresh queue: ``heartbeats`` (the product as built) and ``no heartbeats``
(``ControllerSettings.worker_heartbeats`` off: the census as it was). Printed per variant,
then the ratio: p50 and p95 latency (``WorkflowExecutionStarted`` to ``ActivityTaskStarted``,
from the histories), worker-seconds (each worker process's life, from the launcher, within the
run plus 30 s), peak workers, scale actions (desired changes) and activity retries.

    .venv/bin/python bench/remote_census.py [--runs 1] [--fast-stats] [--task 3] [--rate 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from examples.webhook_launcher import example_worker_launcher, serve_in_background  # noqa: E402
from workerplane.controller.controller import Controller  # noqa: E402
from workerplane.controller.local import FileSpecSource, JsonStatusSink  # noqa: E402
from workerplane.controller.settings import ControllerSettings  # noqa: E402
from workerplane.embedded.example import write_deployment  # noqa: E402
from workerplane.lab.real_run import history_times  # noqa: E402
from workerplane.planning.status import GroupStatus  # noqa: E402
from workerplane.providers.webhook.egress import ALLOW_PRIVATE_ENV  # noqa: E402
from workerplane.temporal.connection import connect, resolve_connection  # noqa: E402
from workerplane.temporal.devserver import start_dev_server  # noqa: E402

SECRET = "bench-launcher-secret"
DRAIN_S = 30.0


@dataclass
class Outcome:
    p50_s: float
    p95_s: float
    worker_seconds: float
    peak_workers: int
    scale_actions: int
    retries: int


def _spec(path: Path, queue: str, url: str) -> Path:
    group = {
        "provider": {
            "type": "webhook",
            "details": {"url": url, "secret": SECRET, "strategy": "worker-set"},
        },
        "scaler": {"type": "slo", "details": {"schedule_to_start_slo_ms": 5000, "max_count": 10}},
    }
    return write_deployment(path, name=queue, task_queue=queue, groups={"workers": group})


def _arrivals(args: argparse.Namespace) -> list[float]:
    rng = np.random.default_rng(args.seed)
    out: list[float] = []
    for burst in range(args.bursts):
        start = burst * (args.on + args.off)
        n = rng.poisson(args.rate * args.on)
        out.extend(sorted(rng.uniform(start, start + args.on, n).tolist()))
    return out


async def one_run(address: str, heartbeats: bool, args: argparse.Namespace, base: Path) -> Outcome:
    queue = f"census-{uuid.uuid4().hex[:8]}"
    t0 = math.inf
    launcher = example_worker_launcher(SECRET, slots=4)
    server, url = serve_in_background(launcher)
    state = base / queue
    state.mkdir(parents=True)
    desired: list[int] = []
    timeline: list[tuple[Any, ...]] = []

    def on_cycle(statuses: list[GroupStatus]) -> None:
        for status in statuses:
            if status.desired is not None and (not desired or desired[-1] != status.desired):
                desired.append(status.desired)
            timeline.append(
                (
                    round(time.time() - t0, 2),
                    status.workers_running,
                    status.workers_ready,
                    status.in_flight,
                    status.backlog,
                    status.desired,
                    status.last_reason,
                )
            )

    controller = Controller(
        FileSpecSource(_spec(base / f"{queue}.yaml", queue, url)),
        JsonStatusSink(state / "status.json"),
        ControllerSettings(
            state_dir=state, address=address, publish_interval_s=0.2, worker_heartbeats=heartbeats
        ),
        on_cycle=on_cycle,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(controller.run(stop))
    client = await connect(resolve_connection(address=address))
    await asyncio.sleep(1.0)
    arrivals = _arrivals(args)
    t0 = time.time() + 0.5
    timeline.clear()
    ids = [f"{queue}-{i}" for i in range(len(arrivals))]
    try:
        starts = []
        for wid, at in zip(ids, arrivals, strict=True):
            delay = t0 + at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            starts.append(
                asyncio.create_task(
                    client.start_workflow("ProcessItem", args.task, id=wid, task_queue=queue)
                )
            )
        handles = await asyncio.gather(*starts)
        await asyncio.gather(*(h.result() for h in handles))
        end = time.time() + DRAIN_S
        await asyncio.sleep(max(0.0, end - time.time()))
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await running
        await controller.shutdown(drain=True)
        launcher.stop_all(timeout_s=10.0)
        server.shutdown()
        server.server_close()
    times = [await history_times(client, wid) for wid in ids]
    if args.timeline:
        name = "heartbeats" if heartbeats else "no-heartbeats"
        path = Path(f"{args.timeline}-{name}-{queue}.json")
        path.write_text(json.dumps(timeline, indent=0))
    waits = [float(t["act_started"]) - float(t["arrived"]) for t in times]
    worker_seconds = sum(
        max(0.0, min(life.ended_at or end, end) - max(life.started_at, t0))
        for life in launcher.lives
    )
    return Outcome(
        p50_s=float(np.percentile(waits, 50)),
        p95_s=float(np.percentile(waits, 95)),
        worker_seconds=worker_seconds,
        peak_workers=max(desired, default=0),
        scale_actions=max(0, len(desired) - 1),
        retries=sum(1 for t in times if int(t["completed"]) != 1),
    )


async def main(args: argparse.Namespace) -> None:
    os.environ[ALLOW_PRIVATE_ENV] = "1"  # the launcher is on loopback
    with tempfile.TemporaryDirectory(prefix="wp-census-") as tmp:
        base = Path(tmp)
        server = start_dev_server(in_memory=True, fast_stats=args.fast_stats)
        try:
            rows: dict[str, list[Outcome]] = {"heartbeats": [], "no heartbeats": []}
            for _ in range(args.runs):
                for name in rows:
                    outcome = await one_run(server.address, name == "heartbeats", args, base)
                    rows[name].append(outcome)
                    print(f"{name}: {outcome}", flush=True)
        finally:
            server.stop()
    stats = "fast stats" if args.fast_stats else "server defaults (stats cached ~5 s)"
    print(
        f"\n{args.bursts} bursts of {args.on:g} s at {args.rate:g}/s, {args.off:g} s apart, "
        f"{args.task:g} s activities; {stats}; median of {args.runs} run(s)\n"
    )
    print("| variant | p50 s | p95 s | worker-s | peak workers | scale actions | retries |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    med: dict[str, dict[str, float]] = {}
    for name, outcomes in rows.items():
        med[name] = {
            key: float(np.median([getattr(o, key) for o in outcomes]))
            for key in Outcome.__dataclass_fields__
        }
        m = med[name]
        print(
            f"| {name} | {m['p50_s']:.2f} | {m['p95_s']:.2f} | {m['worker_seconds']:.0f} | "
            f"{m['peak_workers']:.0f} | {m['scale_actions']:.0f} | {m['retries']:.0f} |"
        )
    on, off = med["heartbeats"], med["no heartbeats"]
    print(
        f"| heartbeats / none | {on['p50_s'] / off['p50_s']:.2f}x | "
        f"{on['p95_s'] / off['p95_s']:.2f}x | {on['worker_seconds'] / off['worker_seconds']:.2f}x "
        f"| | | |"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--fast-stats", action="store_true")
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--on", type=float, default=15.0, help="seconds per burst")
    parser.add_argument("--off", type=float, default=45.0, help="seconds between bursts")
    parser.add_argument("--rate", type=float, default=4.0, help="workflows per second in a burst")
    parser.add_argument("--task", type=float, default=3.0, help="activity seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--timeline", help="write each run's published statuses to PREFIX-<variant>-<queue>.json"
    )
    asyncio.run(main(parser.parse_args()))
