"""The Azure Functions 2019 parser and the CLI's trace specs."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from workerplane.sim.azure import (
    AzureTraceSpec,
    TraceFormatError,
    azure_functions_trace,
    azure_header,
    parse_trace_spec,
    synthetic_azure_rows,
)


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
