"""Rich renderings shared by CLI commands."""

from __future__ import annotations

from rich.table import Table

from workerplane.controller.interfaces import GroupStatus


def status_table(groups: list[GroupStatus], *, title: str = "") -> Table:
    """One row per scaling group."""
    table = Table(title=title or None, expand=False)
    for column in ("version", "group", "provider", "workers", "ready", "in flight", "pollers",
                   "backlog", "age", "desired", "last decision", "why"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for g in groups:
        table.add_row(
            g.version_key,
            g.group_id,
            f"{g.provider_type} ({g.strategy})",
            str(g.workers_running),
            "-" if g.workers_ready is None else str(g.workers_ready),
            "-" if g.in_flight is None else str(g.in_flight),
            str(g.pollers),
            str(g.backlog) if g.metrics_ok else "[red]n/a[/]",
            f"{g.backlog_age_s:.1f}s",
            "-" if g.desired is None else str(g.desired),
            g.last_decision,
            (g.last_reason + (f" [red]({g.last_error})[/]" if g.last_error else ""))
            + (f" [red]provider: {g.provider_validation_error}[/]" if g.provider_validation_error else ""),  # fmt: skip
        )
    return table
