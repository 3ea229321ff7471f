"""Benchmark for fleet scale: N scaling groups driven by one controller process.

Each run starts a fresh Python process holding one controller with N groups, each on its own task
queue (the worst case: no read is shared), a small fraction of them active (one worker each,
``min_count: 1``) and the rest idle at zero. Queue stats come from a stand-in behind the
controller's ``MetricsConnector``/``MetricsSource`` protocol that counts the Temporal calls a real
read makes (one ``DescribeTaskQueue`` per queue and type, four per queue and type for the fresh
backlog hint) and answers after a few milliseconds; providers are in-memory fakes that count their
calls. After a warm-up, it measures for a window:

* controller CPU (process CPU time / wall time) and RSS;
* Temporal calls per second, next to KEDA's cost (1 call per queue every 30 s);
* the achieved cycle period of active and idle groups;
* the reaction to one task at zero: on an idle group, and on an active one (a group that scaled
  to zero moments ago).

``--baseline`` runs the same against the controller of commit 922e0da (a git worktree of it is
created in a temporary directory), side by side. ``--real`` reads a real dev server (started
here, with the embedded dev server's configuration) instead of the stand-in, for CPU and calls
only: its queues stay empty, so reactions are not measured. Not a test: nothing asserts.

    .venv/bin/python bench/fleet.py [--sizes 100,1000,5000] [--baseline] [--real]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "922e0da"
#: KEDA's Temporal scaler: one call per queue per polling interval (30 s by default).
KEDA_POLL_S = 30.0
#: What issue 14 measured at 922e0da (subprocess provider, fast-stats dev server, 2 cores).
ISSUE_BASELINE = [
    ("100", "1 s", "38%", "286 (1/3 rejected)", "1.0 s", "1.5-4.2 s"),
    ("100", "5 s", "8%", "61", "5.0 s", "2.9-5.2 s"),
    ("500", "5 s", "59%", "114 (32/s rejected)", "14-17 s", "10-15 s"),
    ("1,000", "5 s", "51%", "51", "~41 s", "none within 120 s"),
    ("2,000", "5 s", "63%", "46", "~85 s", "none within 120 s"),
]


# -- the child: one controller, N groups --------------------------------------------------------


def _spec(queue: str, min_count: int, poll_ms: int) -> Any:
    from workerplane.config.model import DeploymentSpec

    return DeploymentSpec.model_validate(
        {
            "name": queue,
            "task_queues": [queue],
            "compute": {
                "scaling_groups": {
                    "g": {
                        "task_queue_types": ["WORKFLOW", "ACTIVITY"],
                        "provider": {
                            "type": "subprocess",
                            "details": {"command": ["true"], "strategy": "worker-set"},
                        },
                        "scaler": {
                            "type": "backlog",
                            "details": {
                                "min_count": min_count,
                                "max_count": 4,
                                "target_per_worker": 4,
                                "scale_down_cooldown_ms": 1000,
                                "metrics_poll_interval_ms": poll_ms,
                            },
                        },
                    }
                }
            },
        }
    )


class Fleet:
    """The stand-in world: queues with backlog, fake workers, counted calls."""

    def __init__(self, rpc_latency_s: float) -> None:
        self.backlog: dict[str, int] = {}
        self.workers: dict[str, int] = {}
        self.calls = 0
        self.provider_calls = 0
        self.scaled_up: dict[str, float] = {}
        self.latency = rpc_latency_s

    # MetricsConnector
    async def __call__(self, connection: Any) -> Fleet:
        return self

    # MetricsSource
    async def read(self, target: Any) -> dict[str, Any]:
        from workerplane.scaling.types import QueueStats

        pairs = len(target.task_queues) * len(target.task_queue_types)
        self.calls += pairs + (1 if target.build_id else 0)
        await asyncio.sleep(self.latency)
        result = {}
        for queue_type in target.task_queue_types:
            backlog = sum(self.backlog.get(q, 0) for q in target.task_queues)
            pollers = sum(self.workers.get(q, 0) for q in target.task_queues)
            result[queue_type] = QueueStats(
                backlog_count=backlog if queue_type == "ACTIVITY" else 0, pollers=pollers
            )
        return result

    async def read_fresh(self, target: Any) -> Mapping[str, int]:
        self.calls += len(target.task_queues) * len(target.task_queue_types) * 4
        await asyncio.sleep(self.latency)
        return {
            t: sum(self.backlog.get(q, 0) for q in target.task_queues) if t == "ACTIVITY" else 0
            for t in target.task_queue_types
        }

    def provider(self, *args: Any, deployment: str, **kwargs: Any) -> Any:
        return FakeProvider(self, deployment)


class FakeProvider:
    """Workers in memory; a worker takes its queue's backlog at once."""

    type = "fake"

    def __init__(self, fleet: Fleet, queue: str) -> None:
        from workerplane.scaling.types import Strategy

        self.fleet = fleet
        self.queue = queue
        self.strategy = Strategy.WORKER_SET

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def validate(self) -> Any:
        from workerplane.providers.base import ProviderCheck

        return ProviderCheck(ok=True)

    async def census(self) -> Any:
        from workerplane.scaling.types import WorkerCensus

        running = self.fleet.workers.get(self.queue, 0)
        return WorkerCensus(running=running, ready=running, in_flight=0)

    async def set_size(self, size: int) -> None:
        self.fleet.provider_calls += 1
        if size > 0 and self.fleet.backlog.get(self.queue):
            self.fleet.scaled_up.setdefault(self.queue, time.monotonic())
            self.fleet.backlog[self.queue] = 0
        self.fleet.workers[self.queue] = size

    async def invoke(self, count: int) -> int:
        await self.set_size(self.fleet.workers.get(self.queue, 0) + count)
        return count

    async def drain(self, timeout_s: float) -> None:
        self.fleet.workers[self.queue] = 0


class CycleCounter:
    """A CycleObserver counting cycles per version."""

    def __init__(self) -> None:
        self.cycles: dict[str, int] = {}

    def on_cycle(self, report: Any) -> None:
        self.cycles[report.version_key] = self.cycles.get(report.version_key, 0) + 1


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _react(fleet: Fleet, queue: str, limit_s: float) -> float | None:
    """Put one task on ``queue`` and wait until a worker is asked for."""
    fleet.scaled_up.pop(queue, None)
    fleet.backlog[queue] = 1
    started = time.monotonic()
    while queue not in fleet.scaled_up:
        if time.monotonic() - started > limit_s:
            return None
        await asyncio.sleep(0.05)
    return fleet.scaled_up[queue] - started


async def child(args: argparse.Namespace) -> dict[str, Any]:
    from workerplane.controller.controller import Controller
    from workerplane.controller.local import JsonStatusSink
    from workerplane.controller.settings import ControllerSettings
    from workerplane.planning.status import ManagedVersion

    n, poll_ms = args.groups, int(args.poll_s * 1000)
    active_count = max(1, round(n * args.active_fraction))
    fleet = Fleet(args.rpc_latency_ms / 1000)
    versions = []
    for i in range(n):
        queue = f"q{i:05d}"
        spec = _spec(queue, 1 if i < active_count else 0, poll_ms)
        versions.append(ManagedVersion(key=queue, spec=spec, generation=1))
    hot, cold = f"q{active_count:05d}", f"q{n - 1:05d}"

    class Source:
        async def snapshot(self) -> list[ManagedVersion]:
            return versions

    known = {f.name for f in dataclasses.fields(ControllerSettings)}
    wanted = {"rps_budget": args.rps_budget, "idle_read_interval_s": args.idle_read_interval_s}
    state = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    settings = ControllerSettings(
        state_dir=state, **{k: v for k, v in wanted.items() if k in known}
    )
    counter = CycleCounter()
    metrics: Any = fleet
    if args.real:
        from workerplane.controller.cycle import TemporalMetrics

        metrics = _CountingReal(TemporalMetrics(), fleet)
        settings = dataclasses.replace(settings, address=args.address)
    controller = Controller(
        Source(),
        JsonStatusSink(state / "status.json"),
        settings,
        providers=fleet.provider,
        metrics=metrics,
        observers=[counter],
    )
    # A "hot" group: a task waits on it from the start, so it scales up once and back to zero
    # during the warm-up: at zero, but recently active.
    if not args.real:
        fleet.backlog[hot] = 1
    stop = asyncio.Event()
    started_at = time.monotonic()
    task = asyncio.create_task(controller.run(stop))
    # Warm up: every group started and cycled once (or the warm-up limit), the hot one at zero.
    while len(counter.cycles) < n and time.monotonic() - started_at < args.warmup_s:
        await asyncio.sleep(0.5)
    startup_s = time.monotonic() - started_at
    while (
        not args.real
        and (hot not in fleet.scaled_up or fleet.workers.get(hot, 0))
        and time.monotonic() - started_at < args.react_limit_s
    ):
        await asyncio.sleep(0.2)
    hot_ready = hot in fleet.scaled_up and not fleet.workers.get(hot, 0)
    cpu0, calls0, wall0 = _cpu(), fleet.calls, time.monotonic()
    cycles0 = dict(counter.cycles)
    reactions: list[float | None] = [None, None]
    if not args.real:  # a task on the real server would need a real worker: not measured
        reactions = list(
            await asyncio.gather(
                _react(fleet, cold, args.react_limit_s), _react(fleet, hot, args.react_limit_s)
            )
        )
    await asyncio.sleep(max(0.0, args.window_s - (time.monotonic() - wall0)))
    wall = time.monotonic() - wall0
    cpu, calls = _cpu() - cpu0, fleet.calls - calls0
    deltas = {k: counter.cycles.get(k, 0) - cycles0.get(k, 0) for k in counter.cycles}
    active_cycles = [deltas.get(f"q{i:05d}", 0) for i in range(active_count)]
    idle_cycles = [deltas.get(f"q{i:05d}", 0) for i in range(active_count + 1, n - 1)]
    controller_status = (
        controller.controller_status() if hasattr(controller, "controller_status") else None
    )
    stop.set()
    await task
    await controller.shutdown(drain=False)
    return {
        "groups": n,
        "active": active_count,
        "startup_s": startup_s,
        "cpu": cpu / wall,
        "rss_mb": _rss_mb(),
        "rpc_s": calls / wall,
        "keda_rpc_s": n / KEDA_POLL_S,
        "period_active_s": _period(active_cycles, wall),
        "period_idle_s": _period(idle_cycles, wall),
        "react_idle_s": reactions[0],
        "react_hot_s": reactions[1] if hot_ready else None,
        "idle_read_interval_s": (
            controller_status.idle_read_interval_s if controller_status else None
        ),
    }


class _CountingReal:
    """The real connector, counting calls as the stand-in does (``--real``)."""

    def __init__(self, inner: Any, fleet: Fleet) -> None:
        self._inner = inner
        self._fleet = fleet

    async def __call__(self, connection: Any) -> Any:
        source = await self._inner(connection)
        fleet = self._fleet

        class Counted:
            async def read(self, target: Any) -> Any:
                pairs = len(target.task_queues) * len(target.task_queue_types)
                fleet.calls += pairs + (1 if target.build_id else 0)
                return await source.read(target)

            async def read_fresh(self, target: Any) -> Any:
                fleet.calls += len(target.task_queues) * len(target.task_queue_types) * 4
                return await source.read_fresh(target)

        return Counted()


def _period(cycles: list[int], wall: float) -> float | None:
    total = sum(cycles)
    return wall * len(cycles) / total if total else None


# -- the parent: runs, table ----------------------------------------------------------------------


def _baseline_tree() -> Path:
    tree = Path(tempfile.gettempdir()) / f"workerplane-baseline-{BASELINE_COMMIT}"
    if not tree.exists():
        subprocess.run(
            [
                "git",
                "-C",
                str(REPO_ROOT),
                "worktree",
                "add",
                "--detach",
                str(tree),
                BASELINE_COMMIT,
            ],
            check=True,
            capture_output=True,
        )
    return tree


def _run(args: argparse.Namespace, groups: int, src: Path) -> dict[str, Any] | None:
    command = [sys.executable, __file__, "--child", "--groups", str(groups)]
    names = ("poll_s", "active_fraction", "rps_budget", "idle_read_interval_s", "window_s")
    for name in (*names, "warmup_s", "react_limit_s", "rpc_latency_ms"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    if args.real:
        command += ["--real", "--address", args.address]
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(value: float | None, unit: str = "s", digits: int = 1) -> str:
    return "none in window" if value is None else f"{value:.{digits}f}{unit}"


def _print(rows: list[tuple[str, dict[str, Any]]]) -> None:
    header = (
        "code", "groups", "active", "start-up", "CPU", "RSS", "RPC/s", "KEDA RPC/s",
        "period active", "period idle", "idle interval", "react idle", "react hot",
    )  # fmt: skip
    lines = [header]
    for code, r in rows:
        lines.append(
            (
                code,
                f"{r['groups']:,}",
                str(r["active"]),
                _fmt(r["startup_s"]),
                f"{r['cpu'] * 100:.0f}%",
                f"{r['rss_mb']:.0f} MB",
                f"{r['rpc_s']:.1f}",
                f"{r['keda_rpc_s']:.1f}",
                _fmt(r["period_active_s"]),
                _fmt(r["period_idle_s"]),
                _fmt(r["idle_read_interval_s"]),
                _fmt(r["react_idle_s"]),
                _fmt(r["react_hot_s"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--poll-s", type=float, default=5.0)
    parser.add_argument("--active-fraction", type=float, default=0.02)
    parser.add_argument("--rps-budget", type=float, default=100.0)
    parser.add_argument("--idle-read-interval-s", type=float, default=60.0)
    parser.add_argument("--window-s", type=float, default=120.0)
    parser.add_argument("--warmup-s", type=float, default=60.0)
    parser.add_argument("--react-limit-s", type=float, default=300.0)
    parser.add_argument("--rpc-latency-ms", type=float, default=3.0)
    parser.add_argument("--baseline", action="store_true", help="also run the 922e0da controller")
    parser.add_argument("--baseline-sizes", default="100,1000")
    parser.add_argument("--real", action="store_true", help="read a real dev server")
    parser.add_argument("--address", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--groups", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args))))
        os._exit(0)  # temporalio may crash at interpreter exit
    server = None
    if args.real and not args.address:
        from workerplane.temporal.devserver import start_dev_server

        server = start_dev_server(in_memory=True)  # the embedded dev server's limits are raised
        args.address = server.address
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            result = _run(args, size, REPO_ROOT / "src")
            if result:
                rows.append(("this branch", result))
            if args.baseline and str(size) in args.baseline_sizes.split(","):
                result = _run(args, size, _baseline_tree() / "src")
                if result:
                    rows.append((BASELINE_COMMIT, result))
            _print(rows)
            print(flush=True)
    finally:
        if server is not None:
            server.stop()
    print("Issue 14's measurements at 922e0da (subprocess provider, 2 cores):")
    print("groups | poll | CPU | Temporal RPC/s | period | reaction to one task at zero")
    for row in ISSUE_BASELINE:
        print(" | ".join(row))


if __name__ == "__main__":
    main()
