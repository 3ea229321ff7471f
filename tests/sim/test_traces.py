"""Trace generators, the Azure Functions 2019 parser and the CLI's trace specs."""

from __future__ import annotations

from pathlib import PurePath

import numpy as np
import pytest

from workerplane.sim.traces import (
    BUILTIN,
    AzureTraceSpec,
    TraceFormatError,
    azure_functions_trace,
    azure_header,
    parse_trace_spec,
    synthetic_azure_rows,
)


@pytest.mark.parametrize("name", list(BUILTIN))
def test_generators_are_seeded_sorted_and_in_range(name: str) -> None:
    a, b = BUILTIN[name](), BUILTIN[name]()
    assert np.array_equal(a.arrivals, b.arrivals)
    assert np.array_equal(a.durations, b.durations)
    assert a.n_tasks > (10 if name == "trickle" else 1000)
    assert np.all(np.diff(a.arrivals) >= 0)
    assert a.arrivals.min() >= 0 and a.arrivals.max() < a.horizon_s
    assert np.all(a.durations > 0)


def test_the_sparse_storm_and_bimodal_traces_have_their_shapes() -> None:
    trickle = BUILTIN["trickle"]()
    assert np.median(np.diff(trickle.arrivals)) > 60.0  # minutes apart
    storm = BUILTIN["cron-storm"]()
    per_storm = np.histogram(storm.arrivals, bins=[30, 32, 930, 932, 1830, 1832, 2730, 2732])[0]
    assert list(per_storm) == [500, 0, 500, 0, 500, 0, 500]
    durations = BUILTIN["bimodal"]().durations
    assert set(np.unique(durations)) == {0.2, 60.0}
    assert 0.08 < np.mean(durations == 60.0) < 0.12


def test_shapes_differ_as_described() -> None:
    per_min = {
        n: np.histogram(f().arrivals, bins=60, range=(0, 3600))[0] for n, f in BUILTIN.items()
    }
    assert (per_min["bursts"] == 0).sum() > 30  # off periods
    diurnal = per_min["diurnal"]
    assert diurnal[28:32].mean() > 10 * diurnal[:2].mean()  # midday peak vs night
    spikes = BUILTIN["spikes"]()
    counts = np.histogram(spikes.arrivals, bins=360, range=(0, 3600))[0]
    assert (counts > 100).sum() >= 4  # 300 tasks within 10 s, four times
    assert BUILTIN["longtail"]().durations.max() > 50 * np.median(BUILTIN["longtail"]().durations)


def test_synthetic_rows_are_deterministic_and_parse() -> None:
    rows = synthetic_azure_rows()
    assert rows == synthetic_azure_rows()
    assert rows[0] == azure_header()
    trace = azure_functions_trace(rows, PurePath("synthetic.csv"), start_minute=600, minutes=10)
    expected = sum(sum(int(c) for c in r[4 + 600 : 4 + 610]) for r in rows[1:])
    assert trace.n_tasks == expected and trace.name == "azure-synthetic"


ROW = ["o", "a", "f", "http"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], r"bad.csv: empty file"),
        ([["a", "b", "c"]], r"bad.csv:1: header"),
        (
            [azure_header(), [*ROW, *["1"] * 1439, "x"]],
            r"bad.csv:2: minute counts",
        ),
        (
            [azure_header(), [*ROW, "1"]],
            r"bad.csv:2: expected 1444 columns, got 5",
        ),
        ([azure_header(), [*ROW, *["-1"] * 1440]], r"bad.csv:2: .* must be >= 0"),
        ([azure_header()], r"bad.csv: no row matches function None"),
    ],
)
def test_bad_rows_name_the_source_and_line(rows: list[list[str]], message: str) -> None:
    with pytest.raises(TraceFormatError, match=message):
        azure_functions_trace(rows, PurePath("bad.csv"))


def test_trace_specs() -> None:
    assert parse_trace_spec("steady") == "steady"
    assert parse_trace_spec("azure:x.csv:600:5") == AzureTraceSpec("x.csv", 600, 5, 1.0)
    assert parse_trace_spec("azure:x.csv::10:0.5") == AzureTraceSpec("x.csv", 0, 10, 0.5)
    with pytest.raises(ValueError, match="unknown trace 'nope'"):
        parse_trace_spec("nope")
