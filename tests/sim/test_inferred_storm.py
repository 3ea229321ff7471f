"""A cron storm no schedule announces: the simulated controller infers its period from what it
observes (never from the trace's own times) and warms the storms after the third."""

from __future__ import annotations

import numpy as np

from workerplane.planning.recurrence import INFERRED_ID
from workerplane.sim.models import WorkerModel
from workerplane.sim.policies import slo_policy
from workerplane.sim.synthetic import cron_storm


def test_storms_after_the_third_are_warmed_for_an_inferred_period() -> None:
    trace = cron_storm(storm_size=60, every_s=300.0, horizon_s=1500.0)  # storms at 30 ... 1230
    assert trace.actions == ()  # nothing tells the policy when they come
    result = slo_policy(2.0, max_count=20).run(trace, WorkerModel())
    warmed = [t for t, d in result.decisions if "pre-warming" in d.reason]
    assert all(INFERRED_ID in d.reason for _, d in result.decisions if "pre-warming" in d.reason)
    # Three storms show the period; the fourth and the fifth are warmed ahead of them.
    assert warmed and min(warmed) > 630.0
    assert any(920.0 <= t < 930.0 for t in warmed) and any(1220.0 <= t < 1230.0 for t in warmed)
    waits = result.waits
    first, warm = waits[trace.arrivals < 330.0], waits[trace.arrivals >= 930.0]
    assert np.median(warm) < np.median(first)
