"""The `slo` scaler on variants of the built-in traces it was not tuned on.

`python bench/policy_variants.py [--slo 5s --slo 2s] [--traces long-storm,fanouts-small]`

Each variant changes one shape of a built-in trace (the task length of a storm, the size of a
fan-out, the size of a spike) with a seed of its own; the policy lab's checks (docs/policy-lab.md)
say how `slo` should do on them. Prints, per SLO and variant, `slo`'s worker-seconds, its ratio
to the whole-task oracle, its p95 and whether it met the SLO. Simulated and seeded: every run
gives the same figures. The whole-task oracle of the long storms takes a minute or two.
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
from workerplane.sim import synthetic
from workerplane.sim.distributions import Distribution
from workerplane.sim.models import WorkerModel
from workerplane.sim.oracle import whole_task_oracle
from workerplane.sim.policies import slo_policy
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
    # a schedule's storm of 200 half-second tasks
    "sched-short": lambda: _named(
        synthetic.scheduled_storm(
            seed=23, storm_size=200, duration=Distribution.lognormal(0.5, 0.5)
        ),
        "sched-short",
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
    workers = WorkerModel()
    table = Table(title="workerplane-slo on trace variants (simulated, Temporal's 5 s stats cache)")
    for column in ("SLO", "trace", "worker-s", "x whole", "p95 s", "SLO met", "run s"):
        table.add_column(column, justify="left" if column == "trace" else "right")
    for text in slo or ["5s", "2s"]:
        slo_s = parse_duration(text)
        for name in names:
            trace = VARIANTS[name]()
            whole = whole_task_oracle(
                trace, slots=workers.slots, startup_s=workers.startup.mean, slo_s=slo_s
            ).worker_seconds
            started = time.monotonic()
            result = slo_policy(slo_s).run(trace, workers, None, 0)
            p95 = result.percentile(95)
            met = p95 <= slo_s and result.unfinished == 0
            table.add_row(
                text,
                name,
                f"{result.worker_seconds:,.0f}",
                f"{result.worker_seconds / whole:.2f}",
                f"{p95:.2f}",
                "yes" if met else "[bold]no[/bold]",
                f"{time.monotonic() - started:.0f}",
            )
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
