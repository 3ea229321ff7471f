"""Trace generators and the Azure Functions 2019 importer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workerplane.sim.traces import (
    BUILTIN,
    TraceFormatError,
    load_azure_functions_csv,
    resolve_traces,
    write_synthetic_azure_csv,
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


def test_azure_sample_replays_minute_counts(azure_sample: Path) -> None:
    t = load_azure_functions_csv(azure_sample, start_minute=600, minutes=10)
    assert t.horizon_s == 600.0
    rows = azure_sample.read_text().splitlines()[1:]
    expected = sum(sum(int(c) for c in r.split(",")[4 + 600 : 4 + 610]) for r in rows)
    assert t.n_tasks == expected
    one = load_azure_functions_csv(azure_sample, start_minute=600, minutes=1)
    assert one.arrivals.min() >= 0 and one.arrivals.max() < 60.0
    again = load_azure_functions_csv(azure_sample, start_minute=600, minutes=10)
    assert np.array_equal(t.arrivals, again.arrivals)


def test_azure_function_filter_and_scale(azure_sample: Path) -> None:
    first = azure_sample.read_text().splitlines()[1].split(",")
    one = load_azure_functions_csv(azure_sample, function=first[2], start_minute=0, minutes=60)
    assert one.n_tasks == sum(int(c) for c in first[4:64])
    half = load_azure_functions_csv(azure_sample, function=first[2], minutes=60, scale=0.5)
    assert abs(half.n_tasks - one.n_tasks / 2) < 0.1 * one.n_tasks + 5


def test_synthetic_writer_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_synthetic_azure_csv(a)
    write_synthetic_azure_csv(b)
    assert a.read_bytes() == b.read_bytes()


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
