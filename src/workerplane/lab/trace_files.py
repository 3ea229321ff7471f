"""Trace files: read and write CSV tables (the Azure Functions 2019 format), and load the CLI's
trace specs.

The parsing is pure (:func:`workerplane.sim.azure.azure_functions_trace`); this module only opens
the files.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from workerplane.sim.azure import azure_functions_trace, parse_trace_spec
from workerplane.sim.synthetic import BUILTIN
from workerplane.sim.traces import Trace


@contextmanager
def csv_rows(path: Path) -> Iterator[Iterator[list[str]]]:
    """The rows of a CSV file, read as they are consumed (an Azure day file is large).

    Raises:
        OSError: the file cannot be read.
    """
    with path.open(newline="") as fh:
        yield csv.reader(fh)


def write_csv_rows(path: Path, rows: Iterable[Sequence[str]]) -> None:
    """Write ``rows`` as a CSV file."""
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


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
            continue
        path = Path(parsed.path)
        with csv_rows(path) as rows:
            traces.append(
                azure_functions_trace(
                    rows,
                    path,
                    start_minute=parsed.start_minute,
                    minutes=parsed.minutes,
                    scale=parsed.scale,
                )
            )
    return traces
