"""The fresh backlog hint raises the cached stats' backlog, and only raises it: a table."""

from __future__ import annotations

import pytest

from workerplane.planning.observe import Observation
from workerplane.scaling.types import GroupMetrics, QueueStats, WorkerCensus

CENSUS = WorkerCensus(running=0, ready=0)


def observed(by_type: dict[str, int], fresh: dict[str, int]) -> Observation:
    stats = {
        kind: QueueStats(backlog_count=n, pollers=1, add_rate=0.5) for kind, n in by_type.items()
    }
    metrics = GroupMetrics(
        stats=sum(stats.values(), QueueStats()), workers=CENSUS, observed_at=0.0, by_type=stats
    )
    return Observation(census=CENSUS, metrics=metrics, fresh_backlog=fresh)


@pytest.mark.parametrize(
    ("cached", "fresh", "want_by_type", "want_total"),
    [
        ({"WORKFLOW": 0, "ACTIVITY": 0}, {}, {"WORKFLOW": 0, "ACTIVITY": 0}, 0),
        ({"WORKFLOW": 0, "ACTIVITY": 0}, {"WORKFLOW": 2}, {"WORKFLOW": 2, "ACTIVITY": 0}, 2),
        ({"WORKFLOW": 5, "ACTIVITY": 0}, {"WORKFLOW": 2}, {"WORKFLOW": 5, "ACTIVITY": 0}, 5),
        (
            {"WORKFLOW": 1, "ACTIVITY": 0},
            {"WORKFLOW": 0, "ACTIVITY": 3},
            {"WORKFLOW": 1, "ACTIVITY": 3},
            4,
        ),
        ({"ACTIVITY": 0}, {"NEXUS": 1}, {"ACTIVITY": 0, "NEXUS": 1}, 1),
    ],
)
def test_fresh_backlog_only_raises_the_cached_one(
    cached: dict[str, int], fresh: dict[str, int], want_by_type: dict[str, int], want_total: int
) -> None:
    metrics = observed(cached, fresh).with_fresh_backlog().metrics
    assert metrics is not None
    assert {k: s.backlog_count for k, s in metrics.by_type.items()} == want_by_type
    assert metrics.stats.backlog_count == want_total
    # Everything else still comes from the stats.
    assert all(s.pollers == 1 for k, s in metrics.by_type.items() if k in cached)


def test_without_metrics_the_hint_changes_nothing() -> None:
    observation = Observation(census=CENSUS, metrics=None, fresh_backlog={"WORKFLOW": 3})
    assert observation.with_fresh_backlog() is observation


def test_metrics_without_per_type_stats_take_the_summed_hint() -> None:
    metrics = GroupMetrics(stats=QueueStats(backlog_count=1), workers=CENSUS, observed_at=0.0)
    observation = Observation(census=CENSUS, metrics=metrics, fresh_backlog={"A": 2, "B": 2})
    raised = observation.with_fresh_backlog().metrics
    assert raised is not None and raised.stats.backlog_count == 4
