"""CLI commands of the control-plane service: ``serve``, ``push``, ``endpoints``, ``versions``,
``rollout``, ``tokens``, ``keys``.

The main app mounts them::

    from workerplane.cli.api_commands import register
    register(app)

``endpoints`` and ``versions`` are clients of the REST API (:mod:`workerplane.cli.api_client`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer

from workerplane.cli.endpoints import endpoints_app
from workerplane.cli.keys import keys_app
from workerplane.cli.options import LogFormatOpt, TemporalAddressOpt, TemporalScalerOpt
from workerplane.cli.output import err_console
from workerplane.cli.rollouts import rollout_app
from workerplane.cli.tokens import tokens_app
from workerplane.cli.versions import versions_app
from workerplane.config.loader import SpecError
from workerplane.logs import LogFormat, configure_logging


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8233, "--port"),
    db: str | None = typer.Option(
        None,
        "--db",
        "--database-url",
        help="Database URL (default: SQLite in the state dir; postgresql://... for PostgreSQL)."
        " Prefer --database-url-file or WORKERPLANE_DATABASE_URL: ps shows arguments.",
    ),
    db_file: Path | None = typer.Option(
        None, "--database-url-file", help="Read the database URL from this file."
    ),
    lease_ttl_s: float = typer.Option(15.0, "--lease-ttl", help="Controller lease TTL (s)."),
    shards: int = typer.Option(
        0,
        "--shards",
        min=0,
        max=4096,
        help="Share the controller's work among replicas through this many shard leases (e.g."
        " 64, the same on every replica); 0: one controller at a time, the others stand by.",
    ),
    address: str = typer.Option(
        os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "--address", help="Temporal frontend."
    ),
    namespace: str = typer.Option(os.environ.get("TEMPORAL_NAMESPACE", "default"), "--namespace"),
    state_dir: Path = typer.Option(Path(".workerplane"), "--state-dir"),
    no_controller: bool = typer.Option(
        False, "--no-controller", help="API only (another process runs the controller)."
    ),
    token: list[str] = typer.Option(
        [], "--token", help="Accept this bearer token (also WORKERPLANE_TOKEN)."
    ),
    telemetry_retention: str = typer.Option(
        "24h",
        "--telemetry-retention",
        envvar="WORKERPLANE_TELEMETRY_RETENTION",
        help="How long the console's charts and events are kept (e.g. 6h, 24h, 7d).",
    ),
    report_url: str | None = typer.Option(
        None,
        "--report-url",
        envvar="WORKERPLANE_SERVE_REPORT_URL",
        help="The API's URL as workers reach it (they push their schedule-to-start there); "
        "default http://HOST:PORT.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    log_format: LogFormat = LogFormatOpt,
) -> None:
    """Run the REST API and (while holding the lease) the controller, in one process; Prometheus
    metrics at /metrics."""
    from workerplane.api.server import ServeConfig
    from workerplane.api.server import serve as run_serve
    from workerplane.security.tokens import generate_token
    from workerplane.store.telemetry import parse_duration

    try:
        retention_s = parse_duration(telemetry_retention)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--telemetry-retention") from None
    configure_logging(verbose=verbose, log_format=log_format)
    tokens = list(token)
    if os.environ.get("WORKERPLANE_TOKEN"):
        tokens.append(os.environ["WORKERPLANE_TOKEN"])
    config = ServeConfig(
        state_dir=state_dir, host=host, port=port, database_url=db, database_url_file=db_file,
        temporal_address=address, namespace=namespace, controller=not no_controller,
        tokens=tuple(tokens), lease_ttl_s=lease_ttl_s, shards=shards,
        telemetry_retention_s=retention_s, report_url=report_url,
    )  # fmt: skip
    if not tokens:
        from workerplane.api.server import build_store

        store = build_store(config)
        if not store.tokens.any():
            new = generate_token()
            store.tokens.add(new, "bootstrap")
            # Printed once to the terminal (never logged): the only copy of the token.
            sys.stdout.write(f"created an API token (shown once): {new}\n")
            sys.stdout.flush()
        store.db.dispose()
    asyncio.run(run_serve(config))
    os._exit(0)  # temporalio can crash at interpreter exit (SDK #300)


def push(
    file: Path = typer.Option(..., "--file", "-f", help="Deployment spec (YAML)."),
    to_temporal: bool = typer.Option(
        False, "--to-temporal", help="Write the compute config to a Temporal server."
    ),
    address: str | None = TemporalAddressOpt,
    temporal_scaler: str = TemporalScalerOpt,
) -> None:
    """Push a version's compute config to Temporal (CreateWorkerDeploymentVersion or
    UpdateWorkerDeploymentVersionComputeConfig)."""
    if not to_temporal:
        err_console.print("error: say where to push: --to-temporal", markup=False)
        raise typer.Exit(2)
    # temporalio is heavy: imported when a push runs, not at every CLI start.
    from workerplane.cli.interop import load_spec_for_server, push_to_temporal

    try:
        # Temporal's own test providers (test-invoke) are accepted here: the server checks them.
        spec = load_spec_for_server(file)
    except SpecError as err:
        err_console.print(str(err), markup=False)
        raise typer.Exit(1) from None
    push_to_temporal(spec, address=address, temporal_scaler=temporal_scaler)


def register(app: typer.Typer) -> None:
    """Mount everything on the main ``workerplane`` app."""
    app.add_typer(endpoints_app, name="endpoints")
    app.add_typer(versions_app, name="versions")
    app.add_typer(rollout_app, name="rollout")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(keys_app, name="keys")
    app.command("serve")(serve)
    app.command("push")(push)


#: A standalone app with the same commands (tests; ``python -m workerplane.cli.api_commands``).
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
