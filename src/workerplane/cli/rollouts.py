"""``workerplane rollout``: the rollout of a deployment's newest build, via the API: its status,
and pause, resume, promote (current at once) and rollback (the previous version current again)."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.table import Table

from workerplane.cli.api_client import request
from workerplane.cli.options import ProfileOpt, TokenOpt, UrlOpt
from workerplane.cli.output import OutputFormat, OutputOpt, show

rollout_app = typer.Typer(
    help="Rollouts of new builds: status, pause, resume, promote, rollback (via the API).",
    no_args_is_help=True,
)


#: The newest events the table shows (``-o json`` has them all).
RECENT_EVENTS = 5


def _progress(r: dict[str, Any]) -> str:
    if r["strategy"] != "progressive":
        return str(r["strategy"])
    ramp = "" if r["ramp_percentage"] is None else f" at {r['ramp_percentage']:g}%"
    return f"progressive, step {r['step']}/{r['steps']}{ramp}"


def _next_step(at: float | None) -> str:
    if at is None:
        return ""
    return time.strftime("%H:%M:%S", time.localtime(at)) + f" (in {max(0, at - time.time()):.0f}s)"


def rollout_table(r: dict[str, Any]) -> Table:
    """One rollout: what moves where, how far it is, what it waits for, what happened last."""
    table = Table(show_header=False, box=None)
    rows = [
        ("deployment", r["deployment"]),
        ("version", f"{r['previous_version'] or '(unversioned)'} -> {r['target_version']}"),
        ("phase", r["phase"] + (" (paused)" if r["paused"] else "")),
        ("strategy", _progress(r)),
        ("next step", _next_step(r["next_step_at"])),
        ("waiting for", r["waiting_for"] or ""),
        ("gate", r["gate"] or ""),
        ("reason", r["reason"] or ""),
        ("last error", r["last_error"] or ""),
    ]
    rows += [
        (time.strftime("%H:%M:%S", time.localtime(e["at"])), e["message"])
        for e in r["events"][-RECENT_EVENTS:]
    ]
    for label, value in rows:
        if value:
            table.add_row(label, value)
    return table


@rollout_app.command("status")
def rollout_status(
    deployment: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
    profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
) -> None:  # fmt: skip
    """The step, the ramp, the next step due, what it waits for, the gate, why it failed."""
    show(request(url, token, profile, lambda c: c.get_rollout(deployment)), output, rollout_table)


def _command(command: str, doc: str) -> None:
    def run(
        deployment: str, url: str | None = UrlOpt, token: str | None = TokenOpt,
        profile: str | None = ProfileOpt, output: OutputFormat = OutputOpt,
    ) -> None:  # fmt: skip
        result = request(url, token, profile, lambda c: c.rollout_command(deployment, command))
        show(result, output, rollout_table)

    run.__doc__ = doc
    rollout_app.command(command)(run)


_command("pause", "Hold the rollout where it is (the ramp stays as it is).")
_command("resume", "Go on from where it was paused (the time paused does not count).")
_command("promote", "Make the new version current now, skipping what is left.")
_command("rollback", "Make the previous version current again; the new one gets no new workflows.")
