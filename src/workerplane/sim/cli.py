"""``workerplane bench policies``: the scaling policy lab from the command line.

The lead mounts :data:`app` as ``workerplane bench``; ``python -m workerplane.sim.cli`` and
``bench/policies.py`` run it directly.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from workerplane.sim.report import DEFAULT_POLICY, render_tables, run_benchmark, write_outputs
from workerplane.sim.traces import BUILTIN, TraceFormatError, resolve_traces

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
    reports = run_benchmark(loaded, slo_s=slo_s, seed=seed)
    for item in render_tables(reports):
        console.print(item)
    args = " ".join(f"--traces {s}" for s in specs) if traces else ""
    command = f"workerplane bench policies {args} --slo {slo} --out {out}".replace("  ", " ")
    write_outputs(reports, out, command, plots=plots)
    ok = all(all(rep.verdict(DEFAULT_POLICY).values()) for rep in reports)
    console.print(
        f"{len(reports)} trace(s) in {time.monotonic() - started:.1f}s; wrote {out}/summary.md"
        f"{' and plots' if plots else ''}. {DEFAULT_POLICY} passes every check: "
        f"{'yes' if ok else 'no'}"
    )


if __name__ == "__main__":  # pragma: no cover
    app(sys.argv[1:])
