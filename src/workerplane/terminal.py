"""Rich renderings for a terminal, shared by the entry points: ``workerplane status`` prints the
status table, and ``workerplane up`` shows it live."""

from __future__ import annotations

import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from workerplane.planning.pollers import unmanaged_summary
from workerplane.planning.prewarm import clock
from workerplane.planning.status import GroupStatus, Warmup
from workerplane.scaling.latency import AchievedLatency


def status_table(groups: list[GroupStatus], *, title: str = "", wide: bool = False) -> Group:
    """One row per scaling group, then each group's last decision and why (which can be long).

    ``wide`` adds the scaler, the strategy, the pollers workerplane did not start, the server's
    add and dispatch rates and when the status was taken (``status -o wide``)."""
    table = Table(title=title or None, expand=False)
    table.add_column("version / group", overflow="fold", min_width=12)
    table.add_column("provider", overflow="fold", min_width=10)
    if wide:
        table.add_column("scaler", no_wrap=True)
        table.add_column("strategy", no_wrap=True)
    for column in ("workers", "ready", "busy", "pollers", "backlog", "age", "desired"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("s2s p95", justify="right", no_wrap=True)
    if wide:
        for column in ("unmanaged", "add/s", "dispatch/s", "updated"):
            table.add_column(column, justify="right", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    reasons: list[Text] = []
    for g in groups:
        extra = [g.scaler_type, g.strategy] if wide else []
        rates = (
            [
                str(g.unmanaged_pollers),
                f"{g.add_rate:.2f}",
                f"{g.dispatch_rate:.2f}",
                _clock(g.updated_at),
            ]
            if wide
            else []
        )
        table.add_row(
            f"{g.version_key} / {g.group_id}",
            g.provider_type,
            *extra,
            str(g.workers_running),
            "-" if g.workers_ready is None else str(g.workers_ready),
            "-" if g.in_flight is None else str(g.in_flight),
            str(g.pollers),
            str(g.backlog) if g.metrics_ok else "[red]n/a[/]",
            f"{g.backlog_age_s:.1f}s",
            "-" if g.desired is None else str(g.desired),
            _achieved_p95(g),
            *rates,
            g.last_decision,
        )
        line = Text.assemble((f"{g.group_id} ({g.strategy}): ", "bold"), g.last_reason)
        if g.last_error:
            line.append(f"  error: {g.last_error}", style="red")
        if g.last_worker_exit:
            line.append(f"  last worker exit: {g.last_worker_exit}", style="red")
        achieved = g.schedule_to_start
        if achieved is not None and achieved.missing_slo:
            line.append(f"  missing its SLO: {achieved.reason}", style="red")
        if g.provider_validation_error:
            line.append(f"  provider: {g.provider_validation_error}", style="red")
        if g.unmanaged_pollers:
            summary = unmanaged_summary(
                g.unmanaged_pollers, g.unmanaged_identities, g.unmanaged_counted
            )
            line.append(f"  {summary}", style="yellow")
        reasons.append(line)
        target = target_wait(g.schedule_to_start) if g.schedule_to_start else None
        if target is not None:
            reasons.append(Text(f"  target wait: {target}"))
        reasons.extend(warmup_line(w) for w in g.warmups)
    return Group(table, *reasons)


def _achieved_p95(g: GroupStatus) -> str:
    """The achieved p95 schedule-to-start against the SLO, e.g. ``1.2s/5s``."""
    achieved = g.schedule_to_start
    if achieved is None or achieved.p95_s is None:
        return "-"
    slo = f"/{achieved.slo_s:g}s" if achieved.slo_s is not None else ""
    text = f"{achieved.p95_s:.1f}s{slo}"
    return f"[red]{text}[/]" if achieved.missing_slo else text


def target_wait(achieved: AchievedLatency) -> str | None:
    """The wait the ``slo`` scaler plans waiting tasks to start within, and why it is what it is:
    as configured, or tightened or relaxed by the achieved p95 (``None`` for other scalers).
    The console's ``targetWait`` says the same in the same words."""
    fraction, configured, slo = (
        achieved.target_wait_fraction,
        achieved.configured_wait_fraction,
        achieved.slo_s,
    )
    if fraction is None or slo is None:
        return None
    text = f"{_seconds(fraction * slo)} ({fraction:.2f} of the {slo:g}s SLO)"
    if configured is None or f"{fraction:.2f}" == f"{configured:.2f}":
        return f"{text}, as configured"
    if fraction < configured:
        why = f"tightened from the configured {configured:.2f}: tasks waited longer than the SLO"
    else:
        why = f"relaxed from the configured {configured:.2f}: tasks started well within the SLO"
    judged = f" (last judged: {achieved.feedback})" if achieved.feedback else ""
    return f"{text}, {why}{judged}"


def _seconds(value: float) -> str:
    """Seconds with two decimals at most and no trailing zeros: ``2.25s``, ``3s``."""
    return f"{value:.2f}".rstrip("0").rstrip(".") + "s"


def warmup_line(warmup: Warmup) -> Text:
    """An upcoming schedule warm-up: how many workers, for which run, from when (and, ramped,
    until when they are all asked for), and why."""
    ramp = f", all by {clock(warmup.ramp[-1][0])}" if warmup.ramp else ""
    return Text.assemble(
        "  warm-up: ",
        (f"{warmup.workers} workers", "bold"),
        f" for schedule {warmup.schedule_id} at {clock(warmup.action_at)} UTC"
        f" (from {clock(warmup.starts_at)}{ramp}; {warmup.basis})",
    )


def _clock(epoch: float) -> str:
    """An epoch time as the UTC time of day (the status is seconds old, not days)."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%H:%M:%SZ")
