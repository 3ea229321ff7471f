"""Command-line options that several commands share (one definition, one help text)."""

from __future__ import annotations

import typer

from workerplane.logs import LOG_FORMAT_ENV, LogFormat

UrlOpt = typer.Option(None, "--url", help="API base URL (default: WORKERPLANE_URL or profile).")
TokenOpt = typer.Option(
    None, "--token", help="Bearer token (default: WORKERPLANE_TOKEN or profile)."
)
ProfileOpt = typer.Option(None, "--profile", help="Profile in ~/.config/workerplane/config.toml.")
LogFormatOpt = typer.Option(
    LogFormat.TEXT,
    "--log-format",
    envvar=LOG_FORMAT_ENV,
    help="text, or json: one JSON object per line (ts, level, logger, message, group...).",
)

TemporalAddressOpt = typer.Option(None, "--address", help="Temporal frontend (host:port).")
TemporalScalerOpt = typer.Option(
    "refuse",
    "--temporal-scaler",
    help="slo/backlog are workerplane's own scalers: 'closest' sends Temporal's closest one "
    "(rate-based or no-sync) and prints the mapping; 'refuse' explains and stops.",
)
