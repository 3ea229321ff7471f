"""``workerplane bench policies``: the scaling policy lab from the command line.

``workerplane`` mounts :data:`app` as ``workerplane bench``; ``python -m workerplane.lab.cli``,
``bench/policies.py`` and ``bench/calibrate.py`` run it directly.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from workerplane.lab.calibrate import calibrate as run_calibration
from workerplane.lab.calibrate import summary_markdown
from workerplane.lab.calibration import CalibrationConfig, calibration_trace
from workerplane.lab.report import DEFAULT_POLICY, render_tables, run_benchmark, write_outputs
from workerplane.lab.trace_files import resolve_traces
from workerplane.sim.azure import TraceFormatError
from workerplane.sim.models import WorkerModel
from workerplane.sim.synthetic import BUILTIN

app = typer.Typer(
    help="Benchmarks: compare scaling policies in the deterministic simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(text: str) -> float:
    """``"5s"``, ``"500ms"``, ``"1m"`` or a bare number of seconds, to seconds."""
    m = _DURATION.match(text)
    if not m:
        raise typer.BadParameter(f"{text!r} is not a duration (use e.g. 5s, 500ms, 1m)")
    value = float(m.group(1))
    unit = m.group(2) or "s"
    seconds = value / 1000.0 if unit == "ms" else value * 60.0 if unit == "m" else value
    if seconds <= 0:
        raise typer.BadParameter("the SLO must be greater than zero")
    return seconds


@app.callback()
def _main() -> None:
    """Benchmarks (simulated, seeded, reproducible)."""


@app.command()
def policies(
    traces: Annotated[
        list[str] | None,
        typer.Option(
            "--traces",
            "-t",
            help=(
                "Traces to run (repeat or comma-separate): "
                + ", ".join(BUILTIN)
                + ", or azure:PATH[:START_MINUTE[:MINUTES[:SCALE]]]. Default: every built-in."
            ),
        ),
    ] = None,
    slo: Annotated[
        str, typer.Option("--slo", help="p95 schedule-to-start SLO, e.g. 5s or 500ms.")
    ] = "5s",
    out: Annotated[
        Path, typer.Option("--out", help="Directory for PNG plots, summary.md, results.json.")
    ] = Path("bench/results"),
    seed: Annotated[int, typer.Option("--seed", help="Simulation seed (startup delays).")] = 0,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
    retire_as_reported: Annotated[
        bool,
        typer.Option(
            "--retire-as-reported",
            help=(
                "Retire busy workers as a real provider can (those whose tasks ran least), "
                "not those whose tasks end first, which only the simulator knows."
            ),
        ),
    ] = False,
) -> None:
    """Compare workerplane's scalers with KEDA+HPA, Temporal's no-sync and rate-based, fixed
    replicas and the oracle, per trace: p50/p95/p99 schedule-to-start, worker-seconds, scale
    actions, cost ratio to the oracle, SLO met."""
    console = Console()
    slo_s = parse_duration(slo)
    specs = [s for item in (traces or list(BUILTIN)) for s in item.split(",") if s.strip()]
    try:
        loaded = resolve_traces(s.strip() for s in specs)
    except (TraceFormatError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] --traces: {exc}")
        raise typer.Exit(2) from None
    started = time.monotonic()
    workers = WorkerModel(retire_as_reported=retire_as_reported)
    reports = run_benchmark(loaded, slo_s=slo_s, seed=seed, workers=workers)
    for item in render_tables(reports):
        console.print(item)
    args = " ".join(f"--traces {s}" for s in specs) if traces else ""
    reported = " --retire-as-reported" if retire_as_reported else ""
    command = f"workerplane bench policies {args} --slo {slo}{reported} --out {out}"
    command = command.replace("  ", " ")
    write_outputs(reports, out, command, plots=plots)
    ok = all(all(rep.verdict(DEFAULT_POLICY).values()) for rep in reports)
    console.print(
        f"{len(reports)} trace(s) in {time.monotonic() - started:.1f}s; wrote {out}/summary.md"
        f"{' and plots' if plots else ''}. {DEFAULT_POLICY} passes every check: "
        f"{'yes' if ok else 'no'}"
    )


@app.command()
def calibrate(
    slo: Annotated[
        str, typer.Option("--slo", help="p95 schedule-to-start SLO of the `slo` scaler.")
    ] = "5s",
    on_rate: Annotated[float, typer.Option("--on-rate", help="Tasks/s during a burst.")] = 8.0,
    on_s: Annotated[float, typer.Option("--on", help="Seconds each burst lasts.")] = 15.0,
    off_s: Annotated[float, typer.Option("--off", help="Idle seconds after each burst.")] = 25.0,
    bursts: Annotated[int, typer.Option("--bursts", help="Number of bursts.")] = 3,
    task_s: Annotated[float, typer.Option("--task", help="Seconds each task runs.")] = 1.0,
    slots: Annotated[int, typer.Option("--slots", help="Task slots per worker.")] = 4,
    max_count: Annotated[int, typer.Option("--max-count", help="The scaler's max_count.")] = 10,
    drain: Annotated[
        float, typer.Option("--drain", help="Seconds measured after the trace ends.")
    ] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="Trace seed.")] = 7,
    slots_known: Annotated[
        bool,
        typer.Option(
            "--slots-known/--slots-learned",
            help="Tell the scaler the slots per worker (target_per_worker) or let it learn them.",
        ),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Temporal server; default: start an in-memory dev server."),
    ] = None,
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            help="Task-queue partitions of the dev server (Temporal's default is 4; 1 is one "
            "FIFO queue). With --address, the partitions that server has.",
        ),
    ] = 4,
    fast_stats: Annotated[
        bool,
        typer.Option(
            "--fast-stats/--default-stats",
            help="Run the dev server with its fast-stats config (stats cached 0.2 s, pollers "
            "listed 3 s) instead of Temporal's defaults (5 s, 5 min), and simulate the same. "
            "With --address, what that server runs.",
        ),
    ] = False,
    runs: Annotated[
        int, typer.Option("--runs", help="Real runs (each ~3 min); the median error is judged.")
    ] = 1,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the result as Markdown here.")
    ] = None,
) -> None:
    """Replay one short on/off trace against a real Temporal server with the real controller and
    subprocess workers, then in the simulator, and print measured vs simulated p50/p95
    schedule-to-start and worker-seconds with the relative error."""
    console = Console()
    slo_s = parse_duration(slo)
    for name, value in (("--on-rate", on_rate), ("--on", on_s), ("--task", task_s)):
        if value <= 0:
            raise typer.BadParameter(f"{name} must be greater than zero")
    if min(bursts, slots, max_count, runs, partitions) < 1 or off_s < 0 or drain < 0:
        raise typer.BadParameter(
            "--bursts, --slots, --max-count, --runs and --partitions must be at least 1; --off "
            "and --drain at least 0"
        )
    trace = calibration_trace(seed, on_rate, on_s, off_s, bursts, task_s=task_s)
    config = CalibrationConfig(
        slo_s=slo_s,
        max_count=max_count,
        slots=slots,
        drain_s=drain,
        slots_known=slots_known,
        partitions=partitions,
        fast_stats=fast_stats,
    )
    console.print(
        f"calibration trace: {trace.description}, {trace.n_tasks} tasks, "
        f"{trace.horizon_s:g}s + {drain:g}s drain (real run first, then the simulator)"
    )
    reports = []
    sections = []
    for run in range(1, runs + 1):
        report, _ = asyncio.run(run_calibration(trace, config, address=address))
        reports.append(report)
        sections.append(f"## Run {run}\n\n{report.markdown()}")
        console.print(f"run {run} of {runs}:", style="bold")
        console.print(report.markdown(), markup=False, highlight=False)
    summary = summary_markdown(reports)
    console.print(summary, markup=False, highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(sections)
        out.write_text(
            "# Simulator calibration\n\n"
            f"`workerplane bench calibrate --slo {slo} --on-rate {on_rate:g} --on {on_s:g} "
            f"--off {off_s:g} --bursts {bursts} --task {task_s:g} --slots {slots} "
            f"--max-count {max_count} --drain {drain:g} --seed {seed} --runs {runs} "
            f"--partitions {partitions}{' --fast-stats' if fast_stats else ''}"
            f"{' --slots-known' if slots_known else ''}`\n\n"
            "Error = (simulated - real) / real; the target is within ±25 % on p95 "
            "schedule-to-start and worker-seconds.\n\n"
            f"{summary}\n\n{body}\n"
        )
        console.print(f"wrote {out}")


if __name__ == "__main__":  # pragma: no cover
    app(sys.argv[1:])
