"""``workerplane nexus-handler``: serve a provider to a remote controller through Nexus."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import typer

from workerplane.cli.options import LogFormatOpt, TemporalAddressOpt
from workerplane.cli.output import err_console
from workerplane.logs import LogFormat, configure_logging
from workerplane.nexus.handler import ProviderFile, serve
from workerplane.temporal.connection import (
    ResolvedConnection,
    TemporalConnectionError,
    connect,
    resolve_connection,
)

ProviderFileOpt = typer.Option(
    ..., "--provider-file", help="YAML: the provider type this handler wraps, its details."
)
HandlerStateDirOpt = typer.Option(
    Path(".workerplane-handler"),
    "--state-dir",
    help="Where the wrapped provider keeps its workers' records: keep it across restarts.",
)


def nexus_handler(
    task_queue: str = typer.Option(
        ..., "--task-queue", help="The queue the Nexus endpoint targets (--target-task-queue)."
    ),
    provider_file: Path = ProviderFileOpt,
    address: str | None = TemporalAddressOpt,
    namespace: str | None = typer.Option(
        None, "--namespace", help="The endpoint's target namespace (--target-namespace)."
    ),
    state_dir: Path = HandlerStateDirOpt,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    log_format: LogFormat = LogFormatOpt,
) -> None:
    """Serve workerplane's worker-provider Nexus service until SIGTERM or Ctrl-C (the workers
    keep running; a restarted handler adopts them)."""
    configure_logging(verbose=verbose, log_format=log_format)
    try:
        local = ProviderFile.load(provider_file)
        connection = resolve_connection(address=address, namespace=namespace)
    except (OSError, ValueError, TemporalConnectionError) as err:
        err_console.print(
            f"error: {provider_file}: {err}", highlight=False, markup=False, soft_wrap=True
        )
        raise typer.Exit(code=2) from None
    asyncio.run(_serve_until_signal(connection, task_queue, local, state_dir.resolve()))
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


async def _serve_until_signal(
    connection: ResolvedConnection, task_queue: str, local: ProviderFile, state_dir: Path
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(connection)
    await serve(client, task_queue, local, state_dir, stop)
