"""What the controller saw of one scaling group in one cycle: the input of a plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from workerplane.planning.pollers import PollerCensus, census_pollers
from workerplane.planning.warmups import UpcomingRun
from workerplane.scaling.types import ALL_TYPES, GroupMetrics, QueueStats, WorkerCensus


def needs_fresh_backlog(by_type: Mapping[str, QueueStats], census: WorkerCensus) -> bool:
    """Whether the controller should also read the uncached backlog hint this cycle.

    Only when a task could be waiting unseen, because no slot is free to take it:

    * no worker of the group polls: the cached stats may show no backlog, or a backlog as old as
      the cache (a group that started one worker for the first task of a fan-out saw that one
      task for 4 s while 561 more waited: p95 5.9 s at a 5 s SLO);
    * or every slot of the polling workers is busy (as their reports count them): a task that
      lands now waits, and the cached stats hide it for up to their TTL. A fan-out landing on
      three busy workers stayed hidden 5 s (its p95 6 s at a 5 s SLO); a storm's first worker
      polling hid the rest of the storm from the plan (300 sixty-second tasks: p95 5.9 s).

    With a slot free, a new task is taken at once and needs no plan. So a group with no worker
    polling (idle at zero, or its first workers starting) and a saturated group pay the extra
    reads; a group with spare slots pays none.

    A provider that cannot count the tasks in flight (Lambda) cannot tell a free slot either; the
    scalers then take every polling worker as full while the queue shows activity, so the hint is
    read then too. Without it, 40 workflows on Lambda started one handler for the 2 tasks of the
    burst's first reading, and the other 38 waited 4.7 s behind the cached stats.
    """
    polling = census.polling
    if polling == 0:
        return True
    if census.in_flight is None:
        return any(stats.shows_activity() for stats in by_type.values())
    if census.slots is None:
        return False  # the workers do not report their slots: a free one cannot be told
    return census.in_flight >= polling * census.slots


def kept_backlogs(
    read: Mapping[str, tuple[int, int]],
    census: WorkerCensus,
    taken_since: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """The backlog kept per type from its ``(cached, hint)`` pair: the larger of the two (a
    cached backlog above the hint may count partitions the hint does not read), less the tasks
    known to have left it since its copy.

    Those are, where the census cannot count the tasks in flight, the tasks the polling workers
    are taken to hold (their slots, one each when the census does not know them): most of them
    came out of the backlog since the cached copy. Where it can, the tasks started since the
    copy first appeared (``taken_since``, per type; :mod:`workerplane.planning.copies`), a lower
    bound. What the types' cached backlogs hold above their hints is kept only as far as those
    tasks do not account for it. Counted over the types together, since a workflow task a
    worker ran waits on, or runs as, the activity it scheduled.
    """
    kept = {kind: max(cached, hint) for kind, (cached, hint) in read.items()}
    above = [kind for kind, (cached, hint) in read.items() if cached > hint]
    if not above or census.polling == 0:
        return kept  # nothing cached above the hint, or none polls to have taken any
    if census.in_flight is None:
        taken = census.polling * (census.slots or 1)
    elif taken_since is not None:
        # The oldest copy above its hint is the one the fewest starts may be netted from.
        taken = min(taken_since.get(kind, 0) for kind in above)
    else:
        return kept
    cached_total = sum(cached for cached, _ in read.values())
    hint_total = sum(hint for _, hint in read.values())
    allowed = max(0, cached_total - taken - hint_total)
    for kind in above:
        cached, hint = read[kind]
        extra = min(cached - hint, allowed)
        allowed -= extra
        kept[kind] = hint + extra
    return kept


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

    def with_fresh_backlog(self, taken_since: Mapping[str, int] | None = None) -> Observation:
        """This observation with each type's cached backlog raised to what the fresh signals
        see waiting now.

        The server caches ``report_stats`` for ``matching.TaskQueueInfoByBuildIdTTL`` (5 s by
        default): a task landing on an idle queue can stay invisible in them that long, while
        the per-partition backlog hint shows it within a tenth of a second. The hint only ever
        raises the backlog: it knows nothing of ages, rates or pollers, which still come from
        the stats, and a cached backlog above it may count what it cannot see (more partitions,
        a version's own queue).

        The metrics list in ``backlog_read_now`` each type whose backlog is the hint's (or a
        cached one equal to it): current, even where it is lower than the last. A cached
        backlog above the hint is kept, but is as old as its copy.

        Less the tasks that left it since the copy (:func:`kept_backlogs`): where the census
        cannot count the tasks in flight (Lambda without heartbeats), the scalers take every
        polling worker as full, and those tasks left the backlog, most of them since the cached
        copy; else 40 tasks counted as 20 on five handlers plus the 40 of a cached copy, and 15
        handlers were invoked for them. Where it can, ``taken_since`` counts the tasks started
        since each type's copy first appeared.
        """
        metrics = self.metrics
        if metrics is None or not self.fresh_backlog:
            return self
        if not metrics.by_type:
            total = sum(self.fresh_backlog.values())
            summed = metrics.stats.backlog_count
            read_all = {ALL_TYPES: (summed, total)}
            backlog = kept_backlogs(read_all, self.census, taken_since)[ALL_TYPES]
            stats = dataclasses.replace(metrics.stats, backlog_count=backlog)
            current = frozenset({ALL_TYPES}) if total >= summed else frozenset()
            metrics = dataclasses.replace(metrics, stats=stats, backlog_read_now=current)
            return dataclasses.replace(self, metrics=metrics)
        by_type = dict(metrics.by_type)
        read = {
            kind: (by_type.get(kind, QueueStats()).backlog_count, waiting)
            for kind, waiting in self.fresh_backlog.items()
        }
        read_now = {kind for kind, (cached, waiting) in read.items() if waiting >= cached}
        for kind, backlog in kept_backlogs(read, self.census, taken_since).items():
            cached = by_type.get(kind, QueueStats())
            if backlog != cached.backlog_count:
                by_type[kind] = dataclasses.replace(cached, backlog_count=backlog)
        if by_type != metrics.by_type:
            stats = sum(by_type.values(), QueueStats())
            metrics = dataclasses.replace(metrics, stats=stats, by_type=by_type)
        metrics = dataclasses.replace(metrics, backlog_read_now=frozenset(read_now))
        return dataclasses.replace(self, metrics=metrics)
