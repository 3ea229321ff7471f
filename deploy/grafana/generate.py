"""Generate the Grafana dashboard ``deploy/grafana/workerplane.json`` with grafanalib.

    .venv/bin/python deploy/grafana/generate.py          # rewrite workerplane.json
    .venv/bin/python deploy/grafana/generate.py --check  # exit 1 if it is out of date

Edit the panels here, never the JSON: ``tests/deploy/test_grafana.py`` regenerates it and fails
when the committed file differs, and checks that every metric a query names is one that
``/metrics`` really exports. Import the JSON in Grafana (Dashboards > New > Import) and pick the
Prometheus data source that scrapes ``workerplane run --metrics-port`` or ``serve``'s ``/metrics``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    RowPanel,
    Target,
    Template,
    Templating,
    Time,
    TimeSeries,
)

OUTPUT = Path(__file__).with_name("workerplane.json")

DATASOURCE = "${datasource}"
#: The groups the dashboard shows: the version and group variables (all by default).
GROUPS = 'version=~"$version", group=~"$group"'
WINDOW = "$__rate_interval"

PANEL_HEIGHT = 8
HALF = 12


def _target(expr: str, legend: str, ref: str) -> Target:
    return Target(expr=expr, legendFormat=legend, refId=ref, datasource=DATASOURCE)


def _series(
    title: str,
    description: str,
    targets: list[tuple[str, str]],
    position: tuple[int, int],
    *,
    unit: str = "short",
    bars: bool = False,
) -> TimeSeries:
    x, y = position
    return TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[
            _target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)
        ],
        gridPos=GridPos(h=PANEL_HEIGHT, w=HALF, x=x, y=y),
        unit=unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else 10,
        stacking={"mode": "normal", "group": "A"} if bars else {"mode": "none"},
        legendDisplayMode="table",
        legendPlacement="right",
        legendCalcs=["max", "lastNotNull"],
    )


def _quantiles(metric: str, by: str, quantiles: tuple[float, ...]) -> list[tuple[str, str]]:
    """``histogram_quantile`` of ``metric`` at each quantile, split ``by`` a label."""
    return [
        (
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[{WINDOW}])))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in quantiles
    ]


def _variable(name: str, query: str) -> Template:
    return Template(
        name=name,
        label=name,
        query=query,
        dataSource=DATASOURCE,
        includeAll=True,
        multi=True,
        allValue=".*",
        default="$__all",
        refresh=2,
        sort=1,
    )


def dashboard() -> Dashboard:
    """The workerplane dashboard: scaling, decisions, provider health, controller timings."""
    panels = [
        RowPanel(title="Scaling", gridPos=GridPos(h=1, w=24, x=0, y=0)),
        _series(
            "Backlog vs workers",
            "Tasks waiting against workers running, polling (ready) and desired, per group, "
            "and the pollers of its queues that workerplane did not start.",
            [
                (
                    f"sum by (version, group) (workerplane_group_backlog_tasks{{{GROUPS}}})",
                    "backlog {{version}}/{{group}}",
                ),
                (
                    f"sum by (version, group) (workerplane_group_workers{{{GROUPS}}})",
                    "workers {{version}}/{{group}}",
                ),
                (
                    f"sum by (version, group) (workerplane_group_workers_ready{{{GROUPS}}})",
                    "ready {{version}}/{{group}}",
                ),
                (
                    f"sum by (version, group) (workerplane_group_desired_workers{{{GROUPS}}})",
                    "desired {{version}}/{{group}}",
                ),
                (
                    f"sum by (version, group) (workerplane_group_unmanaged_pollers{{{GROUPS}}})",
                    "unmanaged pollers {{version}}/{{group}}",
                ),
            ],
            (0, 1),
        ),
        _series(
            "Backlog age and tasks in flight",
            "How long the oldest waiting task has waited, and the tasks executing now.",
            [
                (
                    f"max by (version, group) (workerplane_group_backlog_age_seconds{{{GROUPS}}})",
                    "oldest waiting {{version}}/{{group}}",
                ),
                (
                    f"sum by (version, group) (workerplane_group_tasks_in_flight{{{GROUPS}}})",
                    "in flight {{version}}/{{group}}",
                ),
            ],
            (HALF, 1),
        ),
        _series(
            "Decisions",
            "Scale-ups, scale-downs, invokes and reconciles per interval (holds left out).",
            [
                (
                    f'sum by (kind) (increase(workerplane_decisions_total{{{GROUPS}, kind!="hold"}}'
                    f"[{WINDOW}]))",
                    "{{kind}}",
                ),
            ],
            (0, 1 + PANEL_HEIGHT),
            bars=True,
        ),
        _series(
            "Workers started and retired",
            "Workers the controller started and retired per interval.",
            [
                (
                    f"sum (increase(workerplane_workers_started_total{{{GROUPS}}}[{WINDOW}]))",
                    "started",
                ),
                (
                    f"-sum (increase(workerplane_workers_retired_total{{{GROUPS}}}[{WINDOW}]))",
                    "retired",
                ),
            ],
            (HALF, 1 + PANEL_HEIGHT),
            bars=True,
        ),
        RowPanel(title="Provider and Temporal", gridPos=GridPos(h=1, w=24, x=0, y=17)),
        _series(
            "Provider errors",
            "Provider calls that failed, by the provider's error kind (throttled, "
            "access_denied, ...), against all calls.",
            [
                (
                    f"sum by (provider, kind) (rate(workerplane_provider_errors_total{{{GROUPS}}}"
                    f"[{WINDOW}]))",
                    "{{provider}} {{kind}}",
                ),
                (
                    f"sum by (provider) (rate(workerplane_provider_calls_total{{{GROUPS}}}"
                    f"[{WINDOW}]))",
                    "{{provider}} calls",
                ),
            ],
            (0, 18),
            unit="reqps",
        ),
        _series(
            "Task-queue stats reads",
            "Stats reads that failed (the group then holds its size) against all reads, and "
            "the cycles that read the uncached backlog hint.",
            [
                (
                    f"sum (rate(workerplane_stats_read_failures_total{{{GROUPS}}}[{WINDOW}]))",
                    "failed",
                ),
                (f"sum (rate(workerplane_stats_reads_total{{{GROUPS}}}[{WINDOW}]))", "reads"),
                (
                    f"sum (rate(workerplane_fresh_signal_reads_total{{{GROUPS}}}[{WINDOW}]))",
                    "fresh-signal reads",
                ),
            ],
            (HALF, 18),
            unit="reqps",
        ),
        RowPanel(title="Controller timings", gridPos=GridPos(h=1, w=24, x=0, y=26)),
        _series(
            "Cycle duration",
            "How long a group's cycle takes: observe, plan and the provider call.",
            _quantiles("workerplane_cycle_duration_seconds", "provider", (0.5, 0.95, 0.99)),
            (0, 27),
            unit="s",
        ),
        _series(
            "Time to polling",
            "From the cycle that decided to start a worker to the first cycle that saw it "
            "polling (resolution: the poll interval).",
            _quantiles("workerplane_time_to_polling_seconds", "provider", (0.5, 0.95)),
            (HALF, 27),
            unit="s",
        ),
    ]
    return Dashboard(
        title="workerplane",
        uid="workerplane",
        description="Temporal workers scaled by workerplane: backlog, workers, decisions, "
        "provider errors and controller timings.",
        tags=["workerplane", "temporal"],
        timezone="browser",
        time=Time("now-1h", "now"),
        refresh="30s",
        panels=panels,
        templating=Templating(
            list=[
                Template(
                    name="datasource",
                    label="Prometheus",
                    query="prometheus",
                    type="datasource",
                    default="Prometheus",
                ),
                _variable("version", "label_values(workerplane_group_workers, version)"),
                _variable(
                    "group", 'label_values(workerplane_group_workers{version=~"$version"}, group)'
                ),
            ]
        ),
    ).auto_panel_ids()


def dashboard_json() -> str:
    """The dashboard as the committed file holds it."""
    data: Any = dashboard().to_json_data()
    return json.dumps(data, cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = dashboard_json()
    if "--check" in argv:
        if OUTPUT.read_text() != text:
            sys.stderr.write(f"{OUTPUT} is out of date: run {Path(__file__).name}\n")
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
