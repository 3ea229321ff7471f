"""The `slo` scaler on variants of the built-in traces it was not tuned on.

`python bench/policy_variants.py [--slo 5s --slo 2s] [--traces long-storm,fanouts-small]`

Each variant changes one shape of a built-in trace (the task length of a storm, the size of a
fan-out, the size of a spike, the spread of task lengths, the period of small storms) with a
seed of its own; the policy lab's checks (docs/policy-lab.md) say how `slo` should do on them.
Prints, per SLO and variant, `slo`'s worker-seconds, its ratio to the whole-task oracle, its p95,
whether it met the SLO, and the cheapest anchor that met it (the lab's anchors and best fixed
size). Simulated and seeded: every run gives the same figures. The whole-task oracle of the
long storms takes a minute or two.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from workerplane.lab.cli import parse_duration
from workerplane.lab.report import DEFAULT_POLICY, run_trace
from workerplane.sim import synthetic
from workerplane.sim.distributions import Distribution
from workerplane.sim.traces import Trace


def _named(trace: Trace, name: str) -> Trace:
    return dataclasses.replace(trace, name=name)


#: The variants, by name: each a zero-argument factory with a fixed seed.
VARIANTS: dict[str, Callable[[], Trace]] = {
    # 300 one-minute tasks every 15 min: 75 workers for each storm, their duration unknown at first
    "long-storm": lambda: _named(
        synthetic.cron_storm(seed=21, storm_size=300, duration=Distribution.lognormal(60, 0.5)),
        "long-storm",
    ),
    # 500 fifteen-second tasks every 15 min: 125 workers to start them all at once, above the
    # lab's max_count of 100 (a miss no policy can avoid)
    "cron-long": lambda: _named(
        synthetic.cron_storm(seed=22, duration=Distribution.lognormal(15, 0.5)), "cron-long"
    ),
    # fan-outs of 10-80 tasks, some landing on a group still busy with the one before
    "fanouts-small": lambda: _named(synthetic.fanouts(seed=18, sizes=(10, 80)), "fanouts-small"),
    # the built-in fan-outs with another seed: two of them overlap
    "fanouts-24": lambda: _named(synthetic.fanouts(seed=24), "fanouts-24"),
    # spikes of 1,000 tasks within 5 s on a light background
    "spikes-big": lambda: _named(
        synthetic.spikes(seed=5, spike_size=1000, spike_spread_s=5.0), "spikes-big"
    ),
    # 2 % of tasks run five minutes, the rest half a second: a retired worker bills on
    "heavy-bimodal": lambda: _named(
        synthetic.bimodal(seed=31, duration=Distribution.bimodal(0.5, 300.0, 0.02)),
        "heavy-bimodal",
    ),
    # 10 tasks every 10 s: a gap shorter than a start, the load one worker's
    "periodic-10s": lambda: _named(
        synthetic.cron_storm(seed=32, storm_size=10, storm_s=0.5, every_s=10.0), "periodic-10s"
    ),
    # 20 tasks every 30 s: a few workers' storm, gaps of several starts
    "microbursts": lambda: _named(
        synthetic.cron_storm(seed=33, storm_size=20, storm_s=1.0, every_s=30.0), "microbursts"
    ),
    # fan-outs of 30-70 half-minute tasks: a worker's tasks end far apart
    "long-fanouts": lambda: _named(
        synthetic.fanouts(
            seed=34,
            mean_gap_s=600.0,
            sizes=(30, 70),
            spread_s=5.0,
            duration=Distribution.lognormal(30.0, 0.5),
        ),
        "long-fanouts",
    ),
    # a schedule's storm of 200 half-second tasks
    "sched-short": lambda: _named(
        synthetic.scheduled_storm(
            seed=23, storm_size=200, duration=Distribution.lognormal(0.5, 0.5)
        ),
        "sched-short",
    ),
    # 1 % of tasks run ten minutes, the rest half a second: nearly every worker holds one
    "bimodal-10min": lambda: _named(
        synthetic.bimodal(seed=44, rate=3.0, duration=Distribution.bimodal(0.5, 600.0, 0.01)),
        "bimodal-10min",
    ),
    # 40 tasks every minute: a storm the mean arrival rate blurs into a steady 0.67 tasks/s
    "minute-storms": lambda: _named(
        synthetic.cron_storm(seed=4, storm_size=40, storm_s=1.0, every_s=60.0), "minute-storms"
    ),
    # bursts of a minute every five, 5 % of their tasks half a minute long
    "bursts-bimodal": lambda: _named(
        synthetic.bursts(seed=8, duration=Distribution.bimodal(0.5, 30.0, 0.05)),
        "bursts-bimodal",
    ),
    # 20 s on at 10/s, 40 s off: gaps of a few startups between bursts
    "short-bursts": lambda: _named(
        synthetic.bursts(seed=9, on_rate=10.0, on_s=20.0, off_s=40.0), "short-bursts"
    ),
    # a steady stream of Pareto-tailed tasks (mean 3 s, alpha 1.3, capped at 10 min)
    "pareto-steady": lambda: _named(
        synthetic.steady(seed=41, rate=6.0, duration=Distribution.pareto(3.0, 1.3, cap=600.0)),
        "pareto-steady",
    ),
}


def main(
    slo: Annotated[
        list[str] | None, typer.Option("--slo", help="SLOs to run (repeat), e.g. 5s.")
    ] = None,
    traces: Annotated[
        str, typer.Option("--traces", help="Comma-separated variants (default: all).")
    ] = "",
) -> None:
    names = [n.strip() for n in traces.split(",") if n.strip()] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise typer.BadParameter(f"unknown variant {unknown[0]!r}: one of {sorted(VARIANTS)}")
    table = Table(title="workerplane-slo on trace variants (simulated, Temporal's 5 s stats cache)")
    columns = ("SLO", "trace", "worker-s", "x whole", "p95 s", "SLO met", "cheapest anchor met")
    for column in (*columns, "run s"):
        table.add_column(column, justify="left" if column in ("trace", columns[-1]) else "right")
    for text in slo or ["5s", "2s"]:
        slo_s = parse_duration(text)
        for name in names:
            started = time.monotonic()
            report = run_trace(VARIANTS[name](), slo_s=slo_s)
            mine = report.row(DEFAULT_POLICY)
            rivals = [r for r in report.rows if r.kind == "anchor" and r.slo_met]
            cheapest = min(rivals, key=lambda r: r.worker_seconds, default=None)
            beaten = cheapest is None or mine.worker_seconds < cheapest.worker_seconds
            table.add_row(
                text,
                name,
                f"{mine.worker_seconds:,.0f}",
                f"{mine.whole_cost_ratio:.2f}",
                f"{mine.p95_s:.2f}",
                "yes" if mine.slo_met else "[bold]no[/bold]",
                "none"
                if cheapest is None
                else f"{cheapest.policy} {cheapest.worker_seconds:,.0f}"
                + ("" if beaten else " [bold](cheaper)[/bold]"),
                f"{time.monotonic() - started:.0f}",
            )
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
