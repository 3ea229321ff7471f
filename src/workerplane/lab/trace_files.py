"""Trace files: read and write the Azure Functions 2019 CSV, and load the CLI's trace specs.

The parsing is pure (:mod:`workerplane.sim.traces`); this module only opens the files.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from workerplane.sim.distributions import Distribution
from workerplane.sim.traces import (
    BUILTIN,
    Trace,
    azure_functions_trace,
    parse_trace_spec,
    synthetic_azure_rows,
)


def load_azure_functions_csv(
    path: str | Path,
    *,
    function: str | None = None,
    start_minute: int = 0,
    minutes: int | None = None,
    scale: float = 1.0,
    duration: Distribution | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Trace:
    """Replay an Azure Functions 2019 style CSV file
    (:func:`~workerplane.sim.traces.azure_functions_trace` parses it).

    Raises:
        TraceFormatError: the header or a row is malformed (the message names file and line).
        OSError: the file cannot be read.
    """
    path = Path(path)
    with path.open(newline="") as fh:
        return azure_functions_trace(
            csv.reader(fh),
            path,
            function=function,
            start_minute=start_minute,
            minutes=minutes,
            scale=scale,
            duration=duration,
            seed=seed,
            name=name,
        )


def write_synthetic_azure_csv(
    path: str | Path, *, seed: int = 2019, rows: int = 4, peak_per_minute: float = 120.0
) -> None:
    """Write :func:`~workerplane.sim.traces.synthetic_azure_rows` as a CSV file."""
    table = synthetic_azure_rows(seed=seed, rows=rows, peak_per_minute=peak_per_minute)
    with Path(path).open("w", newline="") as fh:
        csv.writer(fh).writerows(table)


def resolve_traces(specs: Iterable[str]) -> list[Trace]:
    """Turn CLI trace specs into traces: built-in names, or ``azure:PATH[:START:MIN:SCALE]`` files.

    Raises:
        ValueError: an unknown spec (``TraceFormatError`` for a malformed file).
        OSError: an Azure file cannot be read.
    """
    traces: list[Trace] = []
    for spec in specs:
        parsed = parse_trace_spec(spec)
        if isinstance(parsed, str):
            traces.append(BUILTIN[parsed]())
        else:
            traces.append(
                load_azure_functions_csv(
                    parsed.path,
                    start_minute=parsed.start_minute,
                    minutes=parsed.minutes,
                    scale=parsed.scale,
                )
            )
    return traces
