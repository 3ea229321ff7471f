"""Command-line options that several commands share (one definition, one help text)."""

from __future__ import annotations

import typer

UrlOpt = typer.Option(None, "--url", help="API base URL (default: WORKERPLANE_URL or profile).")
TokenOpt = typer.Option(
    None, "--token", help="Bearer token (default: WORKERPLANE_TOKEN or profile)."
)
ProfileOpt = typer.Option(None, "--profile", help="Profile in ~/.config/workerplane/config.toml.")
OutputOpt = typer.Option("table", "--output", "-o", help="table or json")

TemporalAddressOpt = typer.Option(None, "--address", help="Temporal frontend (host:port).")
TemporalScalerOpt = typer.Option(
    "refuse",
    "--temporal-scaler",
    help="slo/backlog are workerplane's own scalers: 'closest' sends Temporal's closest one "
    "(rate-based or no-sync) and prints the mapping; 'refuse' explains and stops.",
)
