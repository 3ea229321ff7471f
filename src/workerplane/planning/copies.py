"""How many tasks the group's workers have started since each cached stats copy was made.

The server caches ``report_stats`` (5 s by default), so a backlog it reports can count tasks that
have been dispatched since: a burst's 40 workflow tasks stay 40 in the cached copy while the
workers run them and the activities they scheduled show in the uncached hint, 53 counted for 40
(:func:`workerplane.planning.observe.kept_backlogs` nets them out).

When the copy was made is not reported, but not later than the cycle that first saw it. So the
tasks started since that cycle (completions plus the change in flight, for a provider that counts
both) are a lower bound on the tasks that left the backlog since the copy: netting by them never
takes out a task that still waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from workerplane.scaling.types import ALL_TYPES, GroupMetrics, QueueStats, WorkerCensus


def started_total(census: WorkerCensus) -> int | None:
    """Tasks the group's workers have started since the provider started: those finished plus
    those in flight; ``None`` when the provider cannot count both."""
    if census.tasks_completed is None or census.in_flight is None:
        return None
    return census.tasks_completed + census.in_flight


def cached_copies(metrics: GroupMetrics) -> dict[str, QueueStats]:
    """The cached part of each task type's stats (one entry for all types when not split)."""
    if metrics.by_type:
        return {kind: stats.cached_part() for kind, stats in metrics.by_type.items()}
    return {ALL_TYPES: metrics.stats.cached_part()}


@dataclass(frozen=True)
class CopyStarts:
    """Per task type: the cached copy last seen, and the group's started total when it first
    appeared (``None`` until it could be counted)."""

    copies: Mapping[str, QueueStats] = field(default_factory=dict)
    started_at: Mapping[str, int] = field(default_factory=dict)

    def after(self, metrics: GroupMetrics | None, census: WorkerCensus) -> CopyStarts:
        """This record after one reading: a type whose copy changed counts from now."""
        started = started_total(census)
        if metrics is None or started is None:
            return self if metrics is None else CopyStarts()
        copies = cached_copies(metrics)
        started_at: dict[str, int] = {}
        for kind, copy in copies.items():
            previous = self.started_at.get(kind)
            if previous is None or previous > started or self.copies.get(kind) != copy:
                previous = started  # a new copy, or a count that started again
            started_at[kind] = previous
        return CopyStarts(copies, started_at)

    def taken_since(self, census: WorkerCensus) -> dict[str, int] | None:
        """Per type, the tasks started since its copy first appeared; ``None`` when the census
        cannot count them."""
        started = started_total(census)
        if started is None:
            return None
        return {kind: max(0, started - at) for kind, at in self.started_at.items()}
