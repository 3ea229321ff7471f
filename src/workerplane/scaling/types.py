"""Inputs and outputs of a scaling decision.

Everything here is a plain, immutable value so that scalers stay pure functions of
``(config, state, metrics, now)`` and can be driven by the controller and the simulator alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from workerplane.scaling.latency import LatencySketch


class Strategy(enum.StrEnum):
    """How a provider adds capacity.

    ``INVOKE`` providers (Lambda, subprocess) start one more worker per call and workers leave
    by themselves. ``WORKER_SET`` providers (Kubernetes, ECS, Cloud Run) hold a set of workers
    at a size.
    """

    INVOKE = "invoke"
    WORKER_SET = "worker-set"


#: Rates at or below this (tasks/s) are "no activity".
IDLE_RATE_EPSILON = 0.01


@dataclass(frozen=True)
class QueueStats:
    """Task-queue statistics as Temporal reports them (summed over the queues a group serves).

    Attributes:
        backlog_count: ``approximate_backlog_count``: tasks waiting for a poller.
        backlog_age_s: ``approximate_backlog_age`` in seconds: how long the oldest task has waited.
        add_rate: ``tasks_add_rate``, tasks/s, a decaying average kept by the server.
        dispatch_rate: ``tasks_dispatch_rate``, tasks/s, a decaying average kept by the server.
        pollers: pollers the server has seen recently (they linger for ``PollerHistoryTTL``).
        poller_identities: the identities of those pollers, where the source lists them (the
            census tells workerplane's own workers from others by them:
            :mod:`workerplane.planning.pollers`); empty when unknown.

    The server caches the backlog, its age and the rates (``matching.TaskQueueInfoByBuildIdTTL``,
    5 s by default) but lists the pollers live: :meth:`cached_part` tells two copies of one
    cached reply apart from two replies.
    """

    backlog_count: int = 0
    backlog_age_s: float = 0.0
    add_rate: float = 0.0
    dispatch_rate: float = 0.0
    pollers: int = 0
    poller_identities: frozenset[str] = frozenset()

    def cached_part(self) -> QueueStats:
        """These stats without the pollers: the part the server's stats cache holds.

        Two readings whose cached parts are equal are one cached reply read twice, however their
        pollers differ (on Lambda, handlers coming up changed the pollers every cycle, and a
        backlog seen 3 s earlier was counted as waiting anew each time: 15 invokes, 9 of them
        handlers that ran nothing, for 40 one-second tasks).
        """
        return replace(self, pollers=0, poller_identities=frozenset())

    def same_reply(self, other: QueueStats | None) -> bool:
        """Whether ``other`` is the same reply of the server's stats cache (pollers aside)."""
        return other is not None and self.cached_part() == other.cached_part()

    def shows_activity(self) -> bool:
        """Whether tasks wait or were dispatched lately (the rate decays for tens of seconds
        after the last task)."""
        return self.backlog_count > 0 or self.dispatch_rate > IDLE_RATE_EPSILON

    def __add__(self, other: QueueStats) -> QueueStats:
        return QueueStats(
            backlog_count=self.backlog_count + other.backlog_count,
            backlog_age_s=max(self.backlog_age_s, other.backlog_age_s),
            add_rate=self.add_rate + other.add_rate,
            dispatch_rate=self.dispatch_rate + other.dispatch_rate,
            pollers=max(self.pollers, other.pollers),
            poller_identities=self.poller_identities | other.poller_identities,
        )


@dataclass(frozen=True)
class WorkerLoad:
    """One polling worker's tasks in flight, as it reports them.

    Attributes:
        in_flight: the tasks it runs now.
        running_s: how long they have run so far, summed (0 for an idle worker).
    """

    in_flight: int = 0
    running_s: float = 0.0


@dataclass(frozen=True)
class WorkerCensus:
    """What a provider knows about the workers it runs for one scaling group.

    Attributes:
        running: workers that exist (started and not yet exited), as the provider observes them.
        ready: workers confirmed to be polling, or ``None`` if the provider cannot tell.
        in_flight: tasks currently executing across the workers, or ``None`` if unknown.
        desired: the size the provider was last asked to hold (worker-set providers), if any.
        slots: task slots per worker as the ready workers report them (the smallest report), or
            as the provider configures them while none reports; ``None`` when unknown.
            ``in_flight`` counts the tasks these slots hold (activities, for a worker that runs
            them).
        mean_task_s: mean run time of the tasks (of that kind) the live workers finished, as
            they report it; ``None`` when no worker reports one yet.
        tasks_finished: how many tasks that mean is over. While it is small next to
            ``in_flight`` the mean is biased low (the first tasks to finish are the short ones).
        in_flight_s: how long the tasks in flight have run so far, summed over the same live
            workers, or ``None`` when they do not report it. With ``mean_task_s`` it bounds the
            mean duration from below while long tasks still run (see ``slo``).
        tasks_completed: tasks (of that kind) the group's workers have finished since the
            provider started, exited workers included: a count that only grows, so the
            difference between two observations is exactly the completions in between;
            ``None`` when the provider cannot count them.
        last_worker_exit: how the last worker that failed exited (exit code, the last lines of
            its output), while its group has not run a healthy worker since; ``None`` otherwise
            or when the provider cannot tell.
        schedule_to_start: the schedule-to-start every task of the group's workers got, as they
            measured it, since the provider started (exited workers included: it only grows);
            ``None`` when the provider cannot collect it.
        in_flight_lag_s: how old ``in_flight`` may be: the workers' heartbeat interval when it is
            counted from their heartbeats to Temporal, 0 when it is read as it is (status
            files). Tasks may leave the queue that much before the count shows them started.
        loads: each polling worker's tasks in flight, in the order a shrink retires them
            (:func:`workerplane.scaling.retire.retire_order`), or ``None`` when the provider
            cannot tell them apart.
        size_unknown: the provider cannot read the workers it may hold (a webhook receiver
            without a list API) and has not asked for a size since it started: ``running``
            counts none that an earlier controller run left.
    """

    running: int = 0
    ready: int | None = None
    in_flight: int | None = None
    desired: int | None = None
    slots: int | None = None
    mean_task_s: float | None = None
    tasks_finished: int = 0
    in_flight_s: float | None = None
    tasks_completed: int | None = None
    last_worker_exit: str | None = None
    schedule_to_start: LatencySketch | None = None
    in_flight_lag_s: float = 0.0
    loads: tuple[WorkerLoad, ...] | None = None
    size_unknown: bool = False

    @property
    def polling(self) -> int:
        """The workers that poll: ``ready``, or ``running`` when the provider cannot tell."""
        return self.ready if self.ready is not None else self.running


#: ``GroupMetrics.backlog_read_now`` of metrics without per-type stats: their summed backlog.
ALL_TYPES = "*"


@dataclass(frozen=True)
class GroupMetrics:
    """One observation of a scaling group, taken by the controller at ``observed_at``.

    Attributes:
        stats: the group's task-queue stats, summed over its queues and task types.
        workers: the provider's census of the group's workers.
        observed_at: monotonic seconds at which the observation was taken.
        by_type: per task-queue type stats (``"WORKFLOW"``, ``"ACTIVITY"``, ``"NEXUS"``).
        backlog_read_now: the task-queue types (keys of ``by_type``; ``ALL_TYPES`` for the
            summed ``stats`` of metrics without them) whose backlog was read uncached this cycle
            (the backlog hint, :meth:`workerplane.planning.observe.Observation.with_fresh_backlog`):
            current, even where the rest of the stats is the server's cached copy.
    """

    stats: QueueStats
    workers: WorkerCensus
    observed_at: float
    by_type: dict[str, QueueStats] = field(default_factory=dict)
    backlog_read_now: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StartWorkers:
    """Invoke strategy: start ``count`` more workers (``count`` >= 1)."""

    count: int
    reason: str


@dataclass(frozen=True)
class SetSize:
    """Worker-set strategy: hold exactly ``size`` workers."""

    size: int
    reason: str


@dataclass(frozen=True)
class Hold:
    """Change nothing this cycle."""

    reason: str


Decision = StartWorkers | SetSize | Hold
