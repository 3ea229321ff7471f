"""The `slo` scaler on other seeds of the built-in traces: does it meet the SLO on draws of the
same shapes that it was not tuned on?

`python bench/policy_seeds.py [--slo 5s --slo 2s] [--seeds 1-10] [--traces cron-storm,fanouts]`

The built-in traces use one seed each (`workerplane bench policies`). A policy tuned on those
draws can sit at the edge of its SLO and miss on the next draw: before session 10, 2 of 10 seeds
of the cron storm missed a 5 s SLO, and 5 of 8 of the scheduled storm missed 2 s. Prints, per SLO
and trace, how many seeds met the SLO, the worst p95 (and its seed) and the mean worker-seconds.
Simulated and seeded: every run gives the same figures. No oracle is run (the whole-task oracle of
every seed would take an hour); `bench/policies.py` compares costs on the built-in seeds.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from workerplane.lab.cli import parse_duration
from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.synthetic import BUILTIN


def _run(job: tuple[float, str, int]) -> tuple[float, str, int, float, float, bool]:
    slo_s, name, seed = job
    result = slo_policy(slo_s).run(BUILTIN[name](seed=seed), WorkerModel(), None, 0)
    p95 = result.percentile(95)
    met = p95 <= slo_s and result.unfinished == 0
    return slo_s, name, seed, result.worker_seconds, p95, met


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise typer.BadParameter(f"seeds are a range like 1-10, not {text!r}") from None
    if low > high:
        raise typer.BadParameter(f"the seed range {text!r} is empty")
    return list(range(low, high + 1))


def main(
    slo: Annotated[
        list[str] | None, typer.Option("--slo", help="SLOs to run (repeat), e.g. 5s.")
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="A seed range, e.g. 1-10.")] = "1-10",
    traces: Annotated[
        str, typer.Option("--traces", help="Comma-separated built-in traces (default: all).")
    ] = "",
    jobs: Annotated[int, typer.Option("--jobs", help="Simulations run at once.")] = 2,
) -> None:
    names = [n.strip() for n in traces.split(",") if n.strip()] or list(BUILTIN)
    unknown = [n for n in names if n not in BUILTIN]
    if unknown:
        raise typer.BadParameter(f"unknown trace {unknown[0]!r}: one of {sorted(BUILTIN)}")
    draws = _seeds(seeds)
    slos = [parse_duration(text) for text in slo or ["5s"]]
    started = time.monotonic()
    work = [(s, n, seed) for s in slos for n in names for seed in draws]
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(_run, work))
    title = f"workerplane-slo on seeds {seeds} of the built-in traces (simulated, 5 s cache)"
    table = Table(title=title)
    for column in ("SLO", "trace", "seeds met", "worst p95 s", "worst seed", "mean worker-s"):
        table.add_column(column, justify="left" if column == "trace" else "right")
    for slo_s in slos:
        for name in names:
            rows = [r for r in results if r[0] == slo_s and r[1] == name]
            worst = max(rows, key=lambda r: r[4])
            met = sum(1 for r in rows if r[5])
            table.add_row(
                f"{slo_s:g}s",
                name,
                f"{met}/{len(rows)}" if met == len(rows) else f"[bold]{met}/{len(rows)}[/bold]",
                f"{worst[4]:.2f}",
                str(worst[2]),
                f"{sum(r[3] for r in rows) / len(rows):,.0f}",
            )
    Console().print(table)
    Console().print(f"{len(work)} simulations in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    typer.run(main)
