"""What the controller saw of one scaling group in one cycle: the input of a plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from workerplane.planning.pollers import PollerCensus, census_pollers
from workerplane.planning.warmups import UpcomingRun
from workerplane.scaling.types import GroupMetrics, QueueStats, WorkerCensus


def needs_fresh_backlog(by_type: Mapping[str, QueueStats], census: WorkerCensus) -> bool:
    """Whether the controller should also read the uncached backlog hint this cycle.

    Only when a task could be waiting unseen: the (cached) stats show no backlog and no worker
    of the group is polling. With a worker polling, a new task is taken at once; with a backlog
    in the stats already, the hint adds nothing. So an idle group at zero pays the extra reads
    and a busy group none.
    """
    if any(stats.backlog_count for stats in by_type.values()):
        return False
    polling = census.ready if census.ready is not None else census.running
    return polling == 0


@dataclass(frozen=True)
class Observation:
    """One look at a scaling group.

    Attributes:
        census: the provider's census of the group's workers (always read).
        metrics: the queue stats with that census, or ``None`` when they could not be read.
        metrics_error: why the metrics could not be read (``None`` when they were).
        wall_time: epoch seconds of the observation, stamped on the status it yields.
        fresh_backlog: tasks waiting now per task-queue type, from the signals that bypass the
            server's stats cache (:mod:`workerplane.temporal.fresh`); empty when not read.
        upcoming_runs: the runs Temporal Schedules will start on the group's queues
            (:mod:`workerplane.temporal.schedules`); empty unless the group pre-warms.
    """

    census: WorkerCensus
    metrics: GroupMetrics | None
    metrics_error: str | None = None
    wall_time: float = 0.0
    fresh_backlog: Mapping[str, int] = field(default_factory=dict)
    upcoming_runs: tuple[UpcomingRun, ...] = ()

    def poller_census(self, deployment: str, previous: PollerCensus) -> PollerCensus:
        """The queues' pollers split into ``deployment``'s own workers and the others, after
        ``previous`` (which holds when the stats could not be read)."""
        if self.metrics is None:
            return previous
        return census_pollers(
            self.metrics.stats.poller_identities, deployment, previous=previous, now=self.wall_time
        )

    def with_fresh_backlog(self) -> Observation:
        """This observation with each type's cached backlog raised to what the fresh signals
        see waiting now.

        The server caches ``report_stats`` for ``matching.TaskQueueInfoByBuildIdTTL`` (5 s by
        default): a task landing on an idle queue can stay invisible in them that long, while
        the per-partition backlog hint shows it within a tenth of a second. The hint only ever
        raises the backlog: it knows nothing of ages, rates or pollers, which still come from
        the stats.
        """
        metrics = self.metrics
        if metrics is None or not self.fresh_backlog:
            return self
        if not metrics.by_type:
            waiting = sum(self.fresh_backlog.values())
            if waiting <= metrics.stats.backlog_count:
                return self
            stats = dataclasses.replace(metrics.stats, backlog_count=waiting)
            return dataclasses.replace(self, metrics=dataclasses.replace(metrics, stats=stats))
        by_type = dict(metrics.by_type)
        for kind, waiting in self.fresh_backlog.items():
            cached = by_type.get(kind, QueueStats())
            if waiting > cached.backlog_count:
                by_type[kind] = dataclasses.replace(cached, backlog_count=waiting)
        if by_type == metrics.by_type:
            return self
        stats = sum(by_type.values(), QueueStats())
        return dataclasses.replace(
            self, metrics=dataclasses.replace(metrics, stats=stats, by_type=by_type)
        )
