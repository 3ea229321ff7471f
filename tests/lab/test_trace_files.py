"""Trace files: the Azure Functions 2019 CSV on disk, and the CLI's trace specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.sim.sim_support import AZURE_SAMPLE
from workerplane.lab.trace_files import csv_rows, resolve_traces, write_csv_rows
from workerplane.sim.azure import TraceFormatError, azure_functions_trace, synthetic_azure_rows
from workerplane.sim.traces import Trace


def azure(path: Path, **options: Any) -> Trace:
    with csv_rows(path) as rows:
        return azure_functions_trace(rows, path, **options)


def test_azure_sample_replays_minute_counts() -> None:
    t = azure(AZURE_SAMPLE, start_minute=600, minutes=10)
    assert t.horizon_s == 600.0
    rows = AZURE_SAMPLE.read_text().splitlines()[1:]
    expected = sum(sum(int(c) for c in r.split(",")[4 + 600 : 4 + 610]) for r in rows)
    assert t.n_tasks == expected
    one = azure(AZURE_SAMPLE, start_minute=600, minutes=1)
    assert one.arrivals.min() >= 0 and one.arrivals.max() < 60.0
    again = azure(AZURE_SAMPLE, start_minute=600, minutes=10)
    assert np.array_equal(t.arrivals, again.arrivals)


def test_azure_function_filter_and_scale() -> None:
    first = AZURE_SAMPLE.read_text().splitlines()[1].split(",")
    one = azure(AZURE_SAMPLE, function=first[2], start_minute=0, minutes=60)
    assert one.n_tasks == sum(int(c) for c in first[4:64])
    half = azure(AZURE_SAMPLE, function=first[2], minutes=60, scale=0.5)
    assert abs(half.n_tasks - one.n_tasks / 2) < 0.1 * one.n_tasks + 5


def test_written_rows_read_back(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv_rows(a, synthetic_azure_rows())
    write_csv_rows(b, synthetic_azure_rows())
    assert a.read_bytes() == b.read_bytes()
    with csv_rows(a) as rows:
        assert list(rows) == synthetic_azure_rows()
    assert azure(a).name == "azure-a"


def test_a_bad_file_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n")
    with pytest.raises(TraceFormatError, match=r"bad.csv:1: header"):
        azure(bad)


def test_resolve_traces() -> None:
    assert [t.name for t in resolve_traces(["steady", f"azure:{AZURE_SAMPLE}:600:5"])] == [
        "steady",
        "azure-azure_functions_2019_sample",
    ]
    with pytest.raises(ValueError, match="unknown trace 'nope'"):
        resolve_traces(["nope"])
    with pytest.raises(OSError):
        resolve_traces(["azure:/nonexistent/trace.csv"])
