"""Periods: when the surges a group saw recur (:mod:`workerplane.planning.periods`)."""

from __future__ import annotations

import numpy as np
import pytest

from workerplane.planning.periods import MAX_MISSES, Surge, duration_text, find_period
from workerplane.planning.recurrence import Recurrence

TOLERANCE = 1.0
EVERY = 900.0


def storms_at(onsets: list[float], tasks: int | list[int] = 500) -> list[Surge]:
    """Storms of ``tasks`` two-second tasks landing over 2 s at each onset."""
    sizes = tasks if isinstance(tasks, list) else [tasks] * len(onsets)
    return [Surge(t, n, 2.0, 2.0) for t, n in zip(onsets, sizes, strict=True)]


def test_two_surges_are_no_period() -> None:
    assert find_period(storms_at([30.0, 930.0]), TOLERANCE, now=1000.0) is None


def test_jittered_periods_within_a_poll_or_two() -> None:
    onsets = [30.0, 930.8, 1829.4, 2730.6]
    period = find_period(storms_at(onsets), TOLERANCE, now=2800.0)
    assert period is not None and len(period.surges) == 4
    assert period.period_s == pytest.approx(EVERY, abs=1.0)
    # Far off (10 s) is not on the period.
    assert find_period(storms_at([30.0, 940.0, 1830.0]), TOLERANCE, now=1900.0) is None


def test_a_missed_storm_keeps_the_period_two_do_not() -> None:
    onsets = [30.0, 930.0, 1830.0, 3630.0]  # 2730 never came
    period = find_period(storms_at(onsets), TOLERANCE, now=3700.0)
    assert period is not None and (period.period_s, period.misses) == (EVERY, 1)
    # The next slot is predicted (after the latest surge's, which the period had predicted and
    # whose floor holds while it lands).
    runs = Recurrence(surges=tuple(storms_at(onsets))).upcoming(3700.0, TOLERANCE)
    assert [r.at for r in runs] == [3630.0, 4530.0]
    # Two slots that pass without a surge: the period is forgotten.
    assert MAX_MISSES == 1
    assert find_period(storms_at([*onsets[:3], 2730.0]), TOLERANCE, now=4540.0) is None
    # A period whose latest slot passed without a surge still predicts the one after, when it
    # has surges enough (three surges and a miss are no evidence).
    four = storms_at([30.0, 930.0, 1830.0, 2730.0])
    assert [r.at for r in Recurrence(surges=tuple(four)).upcoming(3640.0, TOLERANCE)] == [4530.0]
    assert Recurrence(surges=tuple(four[:3])).upcoming(2740.0, TOLERANCE) == ()


def test_a_fan_out_off_the_period_does_not_break_it() -> None:
    surges = storms_at([30.0, 930.0, 1400.0, 1830.0, 2000.0], [500, 500, 80, 500, 300])
    period = find_period(surges, TOLERANCE, now=2100.0)
    assert period is not None and period.anchor_at == 1830.0 and len(period.surges) == 3


def test_a_period_that_changes_is_relearned() -> None:
    old = [30.0, 930.0, 1830.0, 2730.0]
    new = [2730.0 + 600.0 * k for k in (1, 2)]
    period = find_period(storms_at(old + new), TOLERANCE, now=new[-1] + 10)
    # The last old surge and the two new ones are three surges 10 minutes apart.
    assert period is not None and period.period_s == 600.0 and period.anchor_at == new[-1]


def test_surges_of_very_different_sizes_are_no_period() -> None:
    assert find_period(storms_at([30.0, 930.0, 1830.0], [40, 400, 200]), TOLERANCE, 1900) is None


def test_random_fan_outs_are_rejected() -> None:
    """Fan-outs of random sizes at random times (the policy lab's ``fanouts``, a day of them
    in 24 draws): no period, so no warm-up."""
    rng = np.random.default_rng(9)
    found = 0
    for _ in range(24):
        onsets = np.cumsum(rng.exponential(400.0, size=9)) + 20.0
        sizes = rng.integers(40, 400, size=9)
        surges = storms_at([float(t) for t in onsets], [int(n) for n in sizes])
        for end in range(3, len(surges) + 1):
            found += find_period(surges[:end], TOLERANCE, now=surges[end - 1].onset_at) is not None
    assert found == 0


def test_duration_text() -> None:
    assert [duration_text(s) for s in (45.0, 900.0, 3600.0, 5430.4)] == [
        "45s",
        "15m0s",
        "1h0m0s",
        "1h30m30s",
    ]
