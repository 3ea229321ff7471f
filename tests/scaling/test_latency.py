"""The latency sketch: quantiles within its stated accuracy, exact merges and deltas."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workerplane.scaling.latency import (
    FLOOR_S,
    RELATIVE_ACCURACY,
    GroupFacts,
    LatencyRecorder,
    LatencySketch,
    achieved,
)

latencies = st.lists(st.floats(min_value=0.0, max_value=3600.0), min_size=1, max_size=300)


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@given(latencies, st.sampled_from([0.5, 0.95, 0.99, 1.0]))
def test_quantiles_are_within_the_relative_accuracy(values: list[float], q: float) -> None:
    estimate = LatencySketch.of(values).quantile(q)
    exact = exact_quantile(values, q)
    assert estimate is not None
    if exact < FLOOR_S:
        assert estimate == 0.0
    else:
        assert abs(estimate - exact) <= RELATIVE_ACCURACY * exact * 1.0001


@given(latencies, latencies)
def test_a_later_sketch_minus_an_earlier_one_is_what_came_in_between(
    first: list[float], second: list[float]
) -> None:
    earlier = LatencySketch.of(first)
    later = earlier.merge(LatencySketch.of(second))
    delta = later.since(earlier)
    assert delta.buckets == LatencySketch.of(second).buckets
    assert delta.count == len(second)


def test_a_restarted_source_counts_as_all_new() -> None:
    earlier = LatencySketch.of([0.5, 0.5, 3.0])
    restarted = LatencySketch.of([0.2])
    assert restarted.since(earlier) == restarted


def test_the_recorder_and_the_wire_form_keep_every_count() -> None:
    recorder = LatencyRecorder()
    for value in (0.0004, 0.01, 0.01, 2.5, -1.0):
        recorder.record(value)
    sketch = recorder.snapshot()
    assert sketch == LatencySketch.of([0.0004, 0.01, 0.01, 2.5, -1.0])
    assert (sketch.count, sketch.under_floor) == (5, 2)
    assert LatencySketch.from_wire(sketch.to_wire()) == LatencySketch(
        sketch.buckets, 2, round(sketch.sum_s, 6)
    )
    assert sketch.cumulative_counts([0.005, 0.1, 10.0]) == [2, 4, 5]


@pytest.mark.parametrize("bad", [{"b": {"x": 1}}, {"b": {"3": -1}}, {"u": -2}, {"b": [1]}])
def test_a_malformed_wire_form_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not a latency sketch"):
        LatencySketch.from_wire(bad)


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (GroupFacts(desired=10, max_count=10, startup_s=0.5, signal_delay_s=1.0), "max_count"),
        (GroupFacts(desired=2, max_count=10, startup_s=8.0, signal_delay_s=1.0), "startup"),
        (GroupFacts(desired=2, max_count=10, startup_s=0.5, signal_delay_s=5.0), "signal delay"),
        (GroupFacts(desired=2, max_count=10, startup_s=2.0, signal_delay_s=1.3), "too few workers"),
        # Warmed ahead of the work, its tasks found workers polling: the pool was short.
        (
            GroupFacts(desired=2, max_count=10, startup_s=8.0, signal_delay_s=5.0, warmed=True),
            "too few workers: the pool warmed",
        ),
        (
            GroupFacts(desired=10, max_count=10, startup_s=0.5, signal_delay_s=1.0, warmed=True),
            "max_count",
        ),
    ],
)
def test_a_missed_slo_names_the_likeliest_reason(facts: GroupFacts, reason: str) -> None:
    result = achieved(LatencySketch.of([6.0] * 20), 300, 5.0, facts)
    assert result.missing_slo and result.reason is not None
    assert result.reason.startswith(reason)


def test_a_met_slo_has_no_reason() -> None:
    facts = GroupFacts(desired=1, max_count=10, startup_s=1.0, signal_delay_s=1.0)
    result = achieved(LatencySketch.of([0.1] * 99 + [9.0]), 300, 5.0, facts)
    assert (result.missing_slo, result.reason, result.count) == (False, None, 100)
    assert result.p50_s is not None and abs(result.p50_s - 0.1) < 0.003
