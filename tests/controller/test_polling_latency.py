"""The wait from a decision to start workers until they poll, measured from cycle reports alone."""

from __future__ import annotations

from tests.controller.reports import report
from workerplane.controller.polling_latency import PollingLatency
from workerplane.planning.actions import Invoke, Resize


def test_each_started_worker_is_timed_until_it_polls() -> None:
    latency = PollingLatency()
    assert latency.observe(report(10.0, Resize(3, "up"), ready=0, held=0)) == []
    assert latency.pending() == 3
    assert latency.observe(report(12.0, ready=1, held=3)) == [2.0]
    assert latency.observe(report(15.0, ready=3, held=3)) == [5.0, 5.0]
    assert latency.pending() == 0


def test_a_second_scale_up_waits_behind_the_first() -> None:
    latency = PollingLatency()
    latency.observe(report(0.0, Resize(1, "up"), ready=0, held=0))
    # The first worker is not polling yet when the size grows to 2: the new one is the 2nd.
    latency.observe(report(1.0, Resize(2, "up"), ready=0, held=1))
    assert latency.observe(report(3.0, ready=1, held=2)) == [3.0]
    assert latency.observe(report(4.0, ready=2, held=2)) == [3.0]


def test_a_scale_down_forgets_the_starts_above_the_new_size() -> None:
    latency = PollingLatency()
    latency.observe(report(0.0, Resize(4, "up"), ready=0, held=0))
    latency.observe(report(1.0, Resize(1, "down"), ready=0, held=4))
    assert latency.pending() == 1
    assert latency.observe(report(2.0, ready=1, held=1)) == [2.0]


def test_failed_calls_promise_nothing_and_stale_starts_are_given_up() -> None:
    latency = PollingLatency(give_up_after_s=60.0)
    latency.observe(report(0.0, Resize(2, "up"), ready=0, held=0, failed=True))
    assert latency.pending() == 0
    latency.observe(report(0.0, Invoke(1), ready=0))
    assert latency.observe(report(100.0, ready=0)) == []
    assert (latency.pending(), latency.given_up) == (0, 1)


def test_a_rebuilt_group_or_one_without_readiness_is_not_timed() -> None:
    latency = PollingLatency()
    latency.observe(report(0.0, Resize(2, "up"), ready=0, held=0))
    assert latency.observe(report(5.0, ready=2, first=True)) == []  # a new controller's group
    latency.observe(report(6.0, Invoke(2), ready=None))  # e.g. Lambda: cannot tell readiness
    assert latency.pending() == 0
