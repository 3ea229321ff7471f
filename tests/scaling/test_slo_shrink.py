"""The floor a shrink keeps for the tasks in flight (the other rules of ``slo_shrink`` are
tested with the scenarios that call for them: ``test_slo_standing``, ``test_slo_storms``)."""

from __future__ import annotations

import pytest

from workerplane.scaling.slo_shrink import busy_worker_floor


@pytest.mark.parametrize(
    ("in_flight", "rising", "floor"),
    [
        (7, False, 1),  # the worker holding 3 may go: only whole busy workers are kept
        (7, True, 2),  # ... unless more tasks start than the load says
        (8, False, 2),
        (8, True, 2),  # a whole number stays as it is
        (0, True, 0),
        (0.5, True, 1),
    ],
)
def test_busy_worker_floor(in_flight: float, rising: bool, floor: int) -> None:
    assert busy_worker_floor(in_flight, 4.0, rising) == floor
