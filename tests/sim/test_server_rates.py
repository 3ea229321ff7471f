"""The simulated server's add/dispatch rates: sliding-window counts, as Temporal's task tracker."""

from __future__ import annotations

import pytest

from workerplane.sim.server_rates import SlidingRate


@pytest.mark.parametrize(
    ("hits", "read_at", "expected"),
    [
        ([], 10.0, 0.0),
        # Young tracker: the span is the time since it was created.
        ([1.0] * 10, 2.0, 10 / 2.0),
        # 60 tasks in the first second, read at 31 s: bucket [30, 35) started 1 s ago, span 31 s.
        ([0.5] * 60, 31.0, 60 / 31.0),
        # 35 s after the bucket they fell in has rotated out: exactly zero.
        ([0.5] * 60, 35.0, 0.0),
        ([0.5] * 60, 400.0, 0.0),
        # One task a second for a minute, read as a new bucket starts: the 6 full ones before it.
        ([float(t) for t in range(60)], 60.0, 30 / 30.0),
        ([float(t) for t in range(60)], 62.0, 30 / 32.0),
    ],
)
def test_rates_are_sliding_window_counts_that_reach_zero(
    hits: list[float], read_at: float, expected: float
) -> None:
    rate = SlidingRate()
    for t in hits:
        rate.hit(t)
    assert rate.read(read_at) == pytest.approx(expected)
