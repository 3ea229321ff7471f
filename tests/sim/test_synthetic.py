"""The seeded trace generators have the shapes they describe."""

from __future__ import annotations

import numpy as np
import pytest

from workerplane.sim.synthetic import BUILTIN, fanouts


@pytest.mark.parametrize("name", list(BUILTIN))
def test_generators_are_seeded_sorted_and_in_range(name: str) -> None:
    a, b = BUILTIN[name](), BUILTIN[name]()
    assert np.array_equal(a.arrivals, b.arrivals)
    assert np.array_equal(a.durations, b.durations)
    assert a.n_tasks > (10 if name in ("trickle", "sparse-long") else 1000)
    assert np.all(np.diff(a.arrivals) >= 0)
    assert a.arrivals.min() >= 0 and a.arrivals.max() < a.horizon_s
    assert np.all(a.durations > 0)


def test_the_sparse_storm_and_bimodal_traces_have_their_shapes() -> None:
    trickle = BUILTIN["trickle"]()
    assert np.median(np.diff(trickle.arrivals)) > 60.0  # minutes apart
    sparse_long = BUILTIN["sparse-long"]()
    assert np.median(np.diff(sparse_long.arrivals)) > 30.0
    assert np.median(sparse_long.durations) > 30.0  # tasks often overlap the next arrival
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


def test_fan_outs_that_overlap_interleave_their_tasks() -> None:
    """Seed 24 draws two fan-outs less than their 3 s spread apart: the trace is still sorted
    (the simulator refuses one that is not)."""
    trace = fanouts(seed=24)
    assert np.all(np.diff(trace.arrivals) >= 0)
