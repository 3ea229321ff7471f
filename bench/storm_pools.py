"""What any policy must pay on the storm traces: the cheapest ideal warm pool of each storm.

`python bench/storm_pools.py [--traces fanouts,cron-storm,scheduled-storm] [--slo 2s,5s,30s]
[--open-loop]`

For each trace and SLO it prints the whole-task oracle's worker-seconds, and the cost of warming
every storm ideally, knowing its time and size (`workerplane.sim.warm_pool.cheapest_storm_pools`:
the fewest workers that meet the SLO at p95 within the storm, polling at its first task and
retired at their last), with its ratio to the oracle, and the same pools with each worker billed
from its first task (a warm-up timed worker by worker). Where even that is above the lab's 1.25x
budget, packing whole tasks, not foresight, is what the budget misses (docs/policy-lab.md).
The next two columns price the same cheapest pools asked the moment each storm lands (polling a
startup later): what a policy that reacts at once, knowing the storm's size, could pay. Where
that is above the budget, no policy that learns of a storm only when it lands can meet it.

The column "learning as it goes" prices a policy without foresight
(`workerplane.sim.storm_learning.learning_storm_pools`): its first two storms asked for as they
land, the first before the tasks have shown their length (a slot each for the tasks that must be
asked for by then, at most `--max-count` workers: the lab's `slo` has 100), the later storms
their clairvoyant pools, as if inferred. Where that is above the budget, no policy that meets storms
as they land, without a task duration known before the first, can meet it.

With ``--open-loop``, three more columns: the cheapest warm-up a policy can time without knowing
each worker's startup (`cheapest_open_loop_pool`: one size and lead for every storm, the lab's
random startups, all asked at once or staggered worker by worker; mean of 10 draws), against the
clairvoyant pools, what the startup's randomness costs (docs/prewarming.md); and "learning as it
goes" priced the same way (`learning_open_loop_cost`: its reacting storms and its warm-up with the
lab's random startups).
"""

from __future__ import annotations

from typing import Annotated

import typer

from workerplane.lab.cli import parse_duration
from workerplane.sim.models import WorkerModel
from workerplane.sim.oracle import whole_task_oracle
from workerplane.sim.storm_learning import learning_open_loop_cost, learning_storm_pools
from workerplane.sim.synthetic import BUILTIN
from workerplane.sim.warm_pool import (
    OpenLoopPool,
    cheapest_open_loop_pool,
    cheapest_storm_pools,
)

app = typer.Typer(add_completion=False)


@app.command()
def main(
    traces: Annotated[str, typer.Option(help="Built-in traces, comma-separated.")] = (
        "fanouts,cron-storm,scheduled-storm"
    ),
    slo: Annotated[str, typer.Option(help="SLOs, comma-separated (2s,5s,30s).")] = "2s,5s,30s",
    open_loop: Annotated[
        bool, typer.Option(help="Also price warm-ups timed without each worker's startup.")
    ] = False,
    max_count: Annotated[
        int, typer.Option(help="Workers a group may have (the lab runs `slo` with 100).")
    ] = 100,
) -> None:
    workers = WorkerModel()
    extra = (
        " open loop, at once | open loop, staggered | learning as it goes, open loop |"
        if open_loop
        else ""
    )
    print(
        "| trace | SLO | whole-task oracle, worker-s | storms' ideal pools, worker-s | x whole "
        f"| staggered, worker-s | x whole | reacting at landing, worker-s | x whole "
        f"| learning as it goes, worker-s | x whole |{extra}"
    )
    print("|---|---:|" + "---:|" * 9 + "---:|" * (3 * open_loop))
    for name in traces.split(","):
        trace = BUILTIN[name]()
        for text in slo.split(","):
            slo_s = parse_duration(text)
            kwargs = {"slots": workers.slots, "startup_s": workers.startup.mean, "slo_s": slo_s}
            oracle = whole_task_oracle(trace, **kwargs).worker_seconds
            pools = cheapest_storm_pools(trace, **kwargs)
            reacting = cheapest_storm_pools(trace, reactive=True, **kwargs)
            print(
                f"| {name} | {text} | {oracle:,.0f} | {pools.worker_seconds:,.0f} "
                f"(p95 {pools.p95_s:.2f} s, {len(pools.workers)} storms) "
                f"| {pools.worker_seconds / oracle:.2f}x | {pools.staggered_worker_seconds:,.0f} "
                f"| {pools.staggered_worker_seconds / oracle:.2f}x "
                f"| {reacting.worker_seconds:,.0f} (p95 {reacting.p95_s:.2f} s) "
                f"| {reacting.worker_seconds / oracle:.2f}x ",
                end="",
            )
            learning = learning_storm_pools(trace, max_workers=max_count, **kwargs)
            print(
                f"| {learning.worker_seconds:,.0f} (first storm {learning.workers[0]} workers, "
                f"p95 {learning.p95_s:.2f} s) | {learning.worker_seconds / oracle:.2f}x |",
                end="",
            )
            for staggered in (False, True) if open_loop else ():
                best = cheapest_open_loop_pool(
                    trace, slots=workers.slots, startup=workers.startup, slo_s=slo_s,
                    staggered=staggered,
                )  # fmt: skip
                print(f" {_open_loop(best, oracle)} |", end="")
            if open_loop:
                cost = learning_open_loop_cost(
                    trace, slots=workers.slots, startup=workers.startup, slo_s=slo_s,
                    max_workers=max_count,
                )  # fmt: skip
                print(f" {cost:,.0f} ({cost / oracle:.2f}x) |", end="")
            print()


def _open_loop(pool: OpenLoopPool, oracle: float) -> str:
    return (
        f"{pool.worker_seconds:,.0f} ({pool.worker_seconds / oracle:.2f}x; {pool.workers} "
        f"workers {pool.lead_s:g} s ahead, p95 {pool.p95_s:.2f} s)"
    )


if __name__ == "__main__":
    app()
