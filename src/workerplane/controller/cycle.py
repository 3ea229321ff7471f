"""One cycle of one scaling group: observe, plan (:func:`~workerplane.planning.plan.plan_cycle`),
execute the plan through the provider, and keep the resulting state and status.

Nothing here decides: the plan does. This module only does the I/O around it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from workerplane.config.model import ScalingGroup
from workerplane.controller.interfaces import MetricsConnector, MetricsSource
from workerplane.planning.actions import (
    Action,
    ExecutionFailure,
    GroupState,
    Invoke,
    NoAction,
    Plan,
    Reconcile,
    Resize,
)
from workerplane.planning.observe import Observation, needs_fresh_backlog
from workerplane.planning.plan import GroupIntent, plan_cycle, record_failure
from workerplane.planning.prewarm import prewarm_enabled
from workerplane.planning.status import GroupStatus, ManagedVersion
from workerplane.planning.sunset import SunsetStatus
from workerplane.planning.worker_beats import (
    MAX_COUNTING_INTERVAL_S,
    MarkedWorkersCensus,
    WorkerBeat,
)
from workerplane.providers.base import Provider, ProviderError, WorkerEnvironment
from workerplane.scaling.base import Scaler
from workerplane.scaling.registry import DEFAULT_SCALER
from workerplane.scaling.types import GroupMetrics, QueueStats, Strategy, WorkerCensus
from workerplane.temporal.connection import ResolvedConnection, connect
from workerplane.temporal.fresh import FreshSignalReader
from workerplane.temporal.metrics import (
    MetricsUnavailable,
    QueueTarget,
    TemporalMetricsSource,
    total,
)
from workerplane.temporal.pollers import last_polls
from workerplane.temporal.schedules import ScheduleReader
from workerplane.temporal.worker_heartbeats import worker_beats

logger = logging.getLogger("workerplane.controller")
decision_log = logging.getLogger("workerplane.decisions")


@dataclass
class GroupRuntime:
    """Everything one scaling group needs between cycles."""

    version: ManagedVersion
    group_id: str
    group: ScalingGroup
    connection: ResolvedConnection
    provider: Provider
    scaler: Scaler[Any]
    strategy: Strategy
    target: QueueTarget
    state: GroupState
    status: GroupStatus | None = None
    #: The group's cycle while one runs.
    task: asyncio.Task[None] | None = None
    #: Set when the group left the spec: it serves what is left, then goes to zero.
    retiring: bool = False
    #: Whether this cycle may read the uncached backlog hint (the controller turns it off for
    #: idle groups read less often than the server's stats cache refreshes: it buys nothing).
    fresh_reads: bool = True
    #: Its version's sunset, kept up to date by the controller (``None``: not draining).
    sunset: SunsetStatus | None = None
    #: Its workers counted from their heartbeats, for a provider that cannot count their tasks
    #: itself (``None``: it can, or the controller reads no heartbeats).
    beats: MarkedWorkersCensus | None = None
    #: Whether the census last said some of its workers beat too seldom to count by (logged once).
    slow_beats_logged: bool = False
    #: What its provider starts workers with (a change rebuilds the provider).
    worker_env: WorkerEnvironment | None = None

    @property
    def name(self) -> str:
        return f"{self.version.key}/{self.group_id}"

    def intent(self) -> GroupIntent:
        """What the spec asks of the group now."""
        return GroupIntent(
            version_key=self.version.key,
            group_id=self.group_id,
            provider_type=self.group.provider.type,
            scaler_type=self.group.scaler.type or DEFAULT_SCALER,
            strategy=self.strategy,
            scaler=self.scaler,
            draining=self.version.draining,
            retiring=self.retiring,
            sunset=self.sunset,
            idle_cooldown_s=self.version.sunset_policy.idle_cooldown,
            deployment=self.version.spec.name,
            count_unmanaged=self.version.spec.unmanaged_pollers == "count",
        )


class TemporalSignals:
    """The default :class:`MetricsSource`: cached stats for sizing, the per-partition backlog
    hint to see a task the moment it lands."""

    def __init__(self, client: Client, *, fresh_signals: bool = True) -> None:
        self._client = client
        self._stats = TemporalMetricsSource(client)
        self._fresh = FreshSignalReader(client) if fresh_signals else None

    async def read(self, target: QueueTarget) -> dict[str, QueueStats]:
        return await self._stats.read(target)

    async def read_fresh(self, target: QueueTarget) -> Mapping[str, int]:
        if self._fresh is None or target.build_id is not None:
            # The hint counts the unversioned backlog only; a versioned group waits for stats.
            return {}
        return (await self._fresh.read(target)).backlog_hint

    async def read_beats(self, target: QueueTarget) -> Mapping[str, WorkerBeat]:
        return await worker_beats(self._client, target.namespace, target.task_queues)

    async def read_pollers(self, target: QueueTarget) -> Mapping[str, float]:
        return await last_polls(
            self._client, target.namespace, target.task_queues, target.task_queue_types
        )


class TemporalMetrics:
    """The default :class:`MetricsConnector`: one Temporal client per connection, reused."""

    def __init__(self, *, fresh_signals: bool = True) -> None:
        self._fresh_signals = fresh_signals
        self._sources: dict[tuple[str, str, str | None], TemporalSignals] = {}

    async def __call__(self, connection: ResolvedConnection) -> MetricsSource:
        key = (connection.address, connection.namespace, connection.api_key)
        source = self._sources.get(key)
        if source is None:
            source = TemporalSignals(await connect(connection), fresh_signals=self._fresh_signals)
            self._sources[key] = source
        return source


@dataclass(frozen=True)
class CycleReport:
    """What one cycle of one group saw, planned and did, for the controller's
    :class:`~workerplane.controller.interfaces.CycleObserver` s (Prometheus counters, the
    telemetry the console charts, ...).

    Attributes:
        version_key, group_id: the group.
        observation: what the cycle observed (stats, census, fresh signals, errors).
        plan: what the planner decided and the action it asked for.
        failure: the provider call of the plan that failed, if one did.
        previous: the group's status before this cycle (``None`` on its first cycle).
        status: the group's status after this cycle.
        started_at: monotonic time the cycle began.
        duration_s: how long the whole cycle took, I/O included.
    """

    version_key: str
    group_id: str
    observation: Observation
    plan: Plan
    failure: ExecutionFailure | None
    previous: GroupStatus | None
    status: GroupStatus
    started_at: float
    duration_s: float


async def run_cycle(
    group: GroupRuntime,
    metrics: MetricsConnector,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    schedules: ScheduleReader | None = None,
) -> CycleReport:
    """Observe ``group``, plan, execute, log the decision and keep the new state and status.
    A group that pre-warms also sees the runs its queues' schedules will start."""
    started = monotonic()
    observed, now = await observe(group, metrics, monotonic=monotonic, wall_clock=wall_clock)
    if schedules is not None and prewarm_enabled(group.scaler):
        runs = schedules.upcoming(group.connection, group.target.task_queues)
        observed = dataclasses.replace(observed, upcoming_runs=runs)
    plan, status = plan_cycle(observed, group.intent(), group.state, now)
    group.state = plan.state
    failure = await execute(plan.action, group.provider, group.name)
    if failure is not None:
        group.state, status = record_failure(plan, status, failure)
    if plan.notice is not None:
        logger.log(plan.notice.level, plan.notice.message)
    decision_log.log(
        plan.log.level,
        plan.log.message,
        extra={
            "version": group.version.key,
            "group": group.group_id,
            "decision": plan.state.last_decision,
            "reason": plan.decision.reason,
        },
    )
    previous, group.status = group.status, status
    return CycleReport(
        version_key=group.version.key,
        group_id=group.group_id,
        observation=observed,
        plan=plan,
        failure=failure,
        previous=previous,
        status=status,
        started_at=started,
        duration_s=max(0.0, monotonic() - started),
    )


def record_crash(group: GroupRuntime, err: Exception) -> None:
    """Report a cycle that failed unexpectedly (a bug, or a provider's census raising)."""
    if group.status is not None:
        group.status = dataclasses.replace(group.status, last_error=f"{type(err).__name__}: {err}")


async def observe(
    group: GroupRuntime,
    metrics: MetricsConnector,
    *,
    monotonic: Callable[[], float],
    wall_clock: Callable[[], float],
) -> tuple[Observation, float]:
    """Read the queue stats (``None`` with the reason when unavailable), then the census; also
    returns the monotonic time of the observation."""
    by_type = None
    error = None
    source = None
    try:
        # The connection was resolved when the group was built (a change rebuilds it), so the
        # hot path never re-reads temporal.toml or the environment.
        source = await metrics(group.connection)
        by_type = await source.read(group.target)
    except (MetricsUnavailable, OSError, RuntimeError) as err:
        error = f"metrics unavailable: {err}"
        logger.warning("%s metrics unavailable: %s", group.name, err)
    census = await group.provider.census()
    if group.beats is not None and census.in_flight is None:
        census = await _counted_by_heartbeats(group, group.beats, source, census)
    fresh: Mapping[str, int] = {}
    if (
        group.fresh_reads
        and source is not None
        and by_type is not None
        and needs_fresh_backlog(by_type, census)
    ):
        try:
            fresh = await source.read_fresh(group.target)
        except (MetricsUnavailable, OSError, RuntimeError) as err:
            logger.debug("%s fresh signal unavailable: %s", group.name, err)
    now = monotonic()
    observed = None
    if by_type is not None:
        observed = GroupMetrics(
            stats=total(by_type.values()), workers=census, observed_at=now, by_type=by_type
        )
    observation = Observation(
        census=census,
        metrics=observed,
        metrics_error=error,
        wall_time=wall_clock(),
        fresh_backlog=fresh,
    )
    return observation, now


async def _counted_by_heartbeats(
    group: GroupRuntime,
    beats: MarkedWorkersCensus,
    source: MetricsSource | None,
    census: WorkerCensus,
) -> WorkerCensus:
    """``census`` filled in from the heartbeats of the group's workers
    (:mod:`workerplane.planning.worker_beats`), read while any of them runs or beats; left as it
    is when they cannot be read (the scalers then take every polling worker as full)."""
    if census.running > 0 or beats.beating():
        read: Mapping[str, WorkerBeat] | None = None
        try:
            if source is not None:
                read = await source.read_beats(group.target)
        except (MetricsUnavailable, OSError, RuntimeError) as err:
            logger.debug("%s worker heartbeats unavailable: %s", group.name, err)
        beats.observe(read)
        slow = beats.slow_workers()
        if slow and not group.slow_beats_logged:
            logger.warning(
                "%s: %d worker(s) heartbeat less often than every %gs (e.g. %s), too seldom to "
                "count their tasks by; run them on workerplane's runtime, or connect their client "
                "with workerplane.worker.heartbeats.heartbeat_runtime()",
                group.name, len(slow), MAX_COUNTING_INTERVAL_S, slow[0],
            )  # fmt: skip
        group.slow_beats_logged = bool(slow)
    return beats.fill_in(census)


async def execute(action: Action, provider: Provider, name: str) -> ExecutionFailure | None:
    """Carry out ``action`` with the provider; a failure is returned, not raised."""
    try:
        if isinstance(action, Invoke):
            await provider.invoke(action.count)
        elif isinstance(action, Resize | Reconcile):
            await provider.set_size(action.size)
        elif not isinstance(action, NoAction):  # pragma: no cover - Action is a closed union
            raise TypeError(f"unknown action {action!r}")
    except ProviderError as err:
        logger.warning("%s provider call failed (%s): %s", name, err.kind, err)
        # Access denied, not found, invalid: a config problem, not a passing fault.
        validation = None if err.retryable else f"{err.kind}: {err}"
        return ExecutionFailure(f"provider: {err}", validation, err.kind)
    except Exception as err:
        logger.warning("%s provider call failed: %s", name, err)
        return ExecutionFailure(f"provider: {err}")
    return None
