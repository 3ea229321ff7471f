"""Trace files: the Azure Functions 2019 CSV on disk, and the CLI's trace specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.sim.sim_support import AZURE_SAMPLE
from workerplane.lab.trace_files import (
    load_azure_functions_csv,
    resolve_traces,
    write_synthetic_azure_csv,
)
from workerplane.sim.traces import TraceFormatError


def test_azure_sample_replays_minute_counts() -> None:
    t = load_azure_functions_csv(AZURE_SAMPLE, start_minute=600, minutes=10)
    assert t.horizon_s == 600.0
    rows = AZURE_SAMPLE.read_text().splitlines()[1:]
    expected = sum(sum(int(c) for c in r.split(",")[4 + 600 : 4 + 610]) for r in rows)
    assert t.n_tasks == expected
    one = load_azure_functions_csv(AZURE_SAMPLE, start_minute=600, minutes=1)
    assert one.arrivals.min() >= 0 and one.arrivals.max() < 60.0
    again = load_azure_functions_csv(AZURE_SAMPLE, start_minute=600, minutes=10)
    assert np.array_equal(t.arrivals, again.arrivals)


def test_azure_function_filter_and_scale() -> None:
    first = AZURE_SAMPLE.read_text().splitlines()[1].split(",")
    one = load_azure_functions_csv(AZURE_SAMPLE, function=first[2], start_minute=0, minutes=60)
    assert one.n_tasks == sum(int(c) for c in first[4:64])
    half = load_azure_functions_csv(AZURE_SAMPLE, function=first[2], minutes=60, scale=0.5)
    assert abs(half.n_tasks - one.n_tasks / 2) < 0.1 * one.n_tasks + 5


def test_synthetic_writer_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_synthetic_azure_csv(a)
    write_synthetic_azure_csv(b)
    assert a.read_bytes() == b.read_bytes()
    assert load_azure_functions_csv(a).name == "azure-a"


def test_bad_files_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n")
    with pytest.raises(TraceFormatError, match=r"bad.csv:1: header"):
        load_azure_functions_csv(bad)
    header = "HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(i) for i in range(1, 1441))
    bad.write_text(header + "\no,a,f,http," + ",".join(["1"] * 1439 + ["x"]) + "\n")
    with pytest.raises(TraceFormatError, match=r"bad.csv:2: minute counts must be numbers"):
        load_azure_functions_csv(bad)
    bad.write_text(header + "\no,a,f,http,1\n")
    with pytest.raises(TraceFormatError, match=r"bad.csv:2: expected 1444 columns, got 5"):
        load_azure_functions_csv(bad)
    with pytest.raises(ValueError, match="unknown trace 'nope'"):
        resolve_traces(["nope"])
    assert [t.name for t in resolve_traces(["steady", f"azure:{AZURE_SAMPLE}:600:5"])] == [
        "steady",
        "azure-azure_functions_2019_sample",
    ]
