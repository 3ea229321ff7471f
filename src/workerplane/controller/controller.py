"""The reconciler: observe each scaling group, ask its scaler, apply the decision via its provider.

One asyncio task per scaling group runs at the scaler's poll interval; a supervisor task keeps the
set of groups in line with the :class:`SpecSource`, so spec changes apply live. workerplane is never
in the task path: workers talk to Temporal directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from workerplane.config.model import DeploymentSpec, ScalingGroup, effective_task_queue_types
from workerplane.controller.interfaces import SpecSource, StatusSink
from workerplane.planning.status import GroupStatus, ManagedVersion
from workerplane.providers.base import Provider, ProviderError, WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.registry import provider_strategy
from workerplane.scaling.base import Scaler
from workerplane.scaling.registry import DEFAULT_SCALER, build_scaler
from workerplane.scaling.types import (
    Decision,
    GroupMetrics,
    Hold,
    QueueStats,
    SetSize,
    StartWorkers,
    Strategy,
    WorkerCensus,
)
from workerplane.temporal.connection import ResolvedConnection, connect, resolve_connection
from workerplane.temporal.metrics import (
    MetricsUnavailable,
    QueueTarget,
    TemporalMetricsSource,
    total,
)

logger = logging.getLogger("workerplane.controller")
decision_log = logging.getLogger("workerplane.decisions")


@dataclass(frozen=True)
class ControllerSettings:
    """Knobs of the controller itself (not of any deployment).

    Attributes:
        state_dir: where providers keep local state (e.g. the subprocess provider's pid records).
        address, namespace: override every spec's Temporal connection (``--address``).
        refresh_s: how often the spec source is re-read.
        drain_timeout_s: how long ``--drain`` waits for workers to finish in-flight work.
    """

    state_dir: Path
    address: str | None = None
    namespace: str | None = None
    refresh_s: float = 1.0
    drain_timeout_s: float = 60.0


@dataclass
class _GroupRuntime:
    """Everything one scaling group needs between cycles."""

    version: ManagedVersion
    group_id: str
    group: ScalingGroup
    connection: ResolvedConnection
    provider: Provider
    scaler: Scaler[Any]
    scaler_state: Any
    strategy: Strategy
    target: QueueTarget
    held_size: int | None = None
    status: GroupStatus | None = None
    last_decision: str = "none yet"
    last_reason: str = ""
    last_error: str | None = None
    validation_error: str | None = None
    task: asyncio.Task[None] | None = None
    #: Set when the group left the spec: it serves what is left, then goes to zero.
    retiring: bool = False


def _describe(decision: Decision) -> str:
    if isinstance(decision, StartWorkers):
        return f"start {decision.count}"
    if isinstance(decision, SetSize):
        return f"set size {decision.size}"
    return "hold"


class Controller:
    """Runs every scaling group of every managed version.

    Use :meth:`run` until ``stop`` is set; then :meth:`shutdown` (``drain=True`` retires workers,
    otherwise they keep running and a later controller adopts them).
    """

    def __init__(
        self,
        source: SpecSource,
        sink: StatusSink,
        settings: ControllerSettings,
        *,
        on_cycle: Callable[[list[GroupStatus]], None] | None = None,
    ) -> None:
        self._source = source
        self._sink = sink
        self._settings = settings
        self._on_cycle = on_cycle
        self._groups: dict[tuple[str, str], _GroupRuntime] = {}
        self._signatures: dict[tuple[str, str], str] = {}
        self._clients: dict[tuple[str, str, str | None], Client] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    # -- public ------------------------------------------------------------------------------

    def statuses(self) -> list[GroupStatus]:
        """The latest status of every group (safe to call from another thread, e.g. a metrics
        scrape: the group table is copied in one step)."""
        return [g.status for g in list(self._groups.values()) if g.status is not None]

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self._sync(await self._source.snapshot())
            except Exception:
                logger.exception(
                    "could not refresh the managed deployments; keeping the current ones"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.refresh_s)

    async def shutdown(self, *, drain: bool) -> None:
        """Stop every group. With ``drain``, retire their workers gracefully first."""
        groups = list(self._groups.values())
        self._groups.clear()
        await asyncio.gather(*(self._stop_group(g, drain=drain) for g in groups))
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await self._publish()

    # -- reconciliation of the managed set ---------------------------------------------------

    async def _sync(self, versions: list[ManagedVersion]) -> None:
        wanted: dict[tuple[str, str], tuple[ManagedVersion, str]] = {}
        for version in versions:
            for group_id in version.spec.compute.scaling_groups:
                wanted[(version.key, group_id)] = (version, group_id)
        for key in [k for k in self._groups if k not in wanted]:
            group = self._groups.pop(key)
            self._signatures.pop(key, None)
            logger.info("%s/%s removed: draining its workers", *key)
            self._retire_in_background(group)
        for key, (version, group_id) in wanted.items():
            signature = _signature(version, group_id)
            current = self._groups.get(key)
            if current is not None and self._signatures.get(key) == signature:
                current.version = version
                continue
            try:
                replacement = await self._build_group(version, group_id, current)
            except Exception as err:
                logger.error("%s/%s cannot start: %s", version.key, group_id, err)
                continue
            self._groups[key] = replacement
            self._signatures[key] = signature
            replacement.task = asyncio.create_task(self._group_loop(replacement))

    async def _build_group(
        self, version: ManagedVersion, group_id: str, current: _GroupRuntime | None
    ) -> _GroupRuntime:
        spec = version.spec
        group = spec.compute.scaling_groups[group_id]
        connection = resolve_connection(
            spec.temporal, address=self._settings.address, namespace=self._settings.namespace
        )
        task_queue_types = effective_task_queue_types(spec.compute, group_id)
        strategy = provider_strategy(group.provider.type, group.provider.details)
        scaler = build_scaler(group.scaler.type or DEFAULT_SCALER, group.scaler.details, strategy)
        now = time.monotonic()
        target = QueueTarget(
            namespace=connection.namespace,
            task_queues=tuple(spec.task_queues),
            task_queue_types=task_queue_types,
            deployment_name=spec.deployment.name if spec.deployment else None,
            build_id=spec.deployment.build_id if spec.deployment else None,
        )
        if current is not None and current.group.provider == group.provider:
            # Only the scaler (or the version's metadata) changed: keep the workers, swap the brain.
            await self._cancel_loop(current)
            current.version, current.group, current.scaler = version, group, scaler
            current.scaler_state = scaler.initial_state(now)
            current.connection, current.target = connection, target
            logger.info("%s/%s scaler updated live", version.key, group_id)
            return current
        provider = build_provider(
            group.provider.type,
            group.provider.details,
            deployment=version.key,
            group_id=group_id,
            worker_env=_worker_env(connection, spec, task_queue_types),
            state_dir=self._settings.state_dir,
        )
        await provider.start()
        check = await provider.validate()
        runtime = _GroupRuntime(
            version=version,
            group_id=group_id,
            group=group,
            connection=connection,
            provider=provider,
            scaler=scaler,
            scaler_state=scaler.initial_state(now),
            strategy=strategy,
            target=target,
            validation_error=None if check.ok else check.message,
        )
        if current is not None:
            logger.info("%s/%s provider changed: retiring the old workers", version.key, group_id)
            self._retire_in_background(current)
        return runtime

    def _retire_in_background(self, group: _GroupRuntime) -> None:
        task = asyncio.create_task(self._retire_when_idle(group))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire_when_idle(self, group: _GroupRuntime) -> None:
        """Let a removed group finish its open work (e.g. the last workflow task after an
        activity), then retire its workers; give up waiting after ``drain_timeout_s``."""
        group.retiring = True
        deadline = time.monotonic() + self._settings.drain_timeout_s
        while time.monotonic() < deadline:
            status = group.status
            if (
                status is not None
                and status.metrics_ok
                and status.backlog == 0
                and not status.in_flight
            ):
                break
            if group.task is None or group.task.done():
                break
            await asyncio.sleep(group.scaler.poll_interval_s)
        await self._stop_group(group, drain=True)

    async def _cancel_loop(self, group: _GroupRuntime) -> None:
        if group.task is not None:
            group.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await group.task
            group.task = None

    async def _stop_group(self, group: _GroupRuntime, *, drain: bool) -> None:
        await self._cancel_loop(group)
        try:
            if drain:
                await group.provider.drain(self._settings.drain_timeout_s)
        except Exception as err:
            logger.error("%s/%s drain failed: %s", group.version.key, group.group_id, err)
        finally:
            await group.provider.close()

    # -- one group's cycle -------------------------------------------------------------------

    async def _client(self, connection: ResolvedConnection) -> Client:
        key = (connection.address, connection.namespace, connection.api_key)
        client = self._clients.get(key)
        if client is None:
            client = await connect(connection)
            self._clients[key] = client
        return client

    async def _group_loop(self, group: _GroupRuntime) -> None:
        while True:
            started = time.monotonic()
            try:
                await self._cycle(group)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug or an unexpected provider failure: keep going
                group.last_error = f"{type(err).__name__}: {err}"
                logger.exception("%s/%s cycle failed", group.version.key, group.group_id)
            await self._publish()
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, group.scaler.poll_interval_s - elapsed))

    async def _read_metrics(self, group: _GroupRuntime) -> dict[str, QueueStats] | None:
        try:
            # The connection was resolved when the group was built (a change rebuilds it), so
            # the hot path never re-reads temporal.toml or the environment.
            client = await self._client(group.connection)
            return await TemporalMetricsSource(client).read(group.target)
        except (MetricsUnavailable, OSError, RuntimeError) as err:
            group.last_error = f"metrics unavailable: {err}"
            logger.warning("%s/%s metrics unavailable: %s", group.version.key, group.group_id, err)
            return None

    async def _cycle(self, group: _GroupRuntime) -> None:
        by_type = await self._read_metrics(group)
        census = await group.provider.census()
        now = time.monotonic()
        metrics = None
        if by_type is not None:
            metrics = GroupMetrics(
                stats=total(by_type.values()), workers=census, observed_at=now, by_type=by_type
            )
        group.scaler_state, decision = group.scaler.decide(group.scaler_state, metrics, now)
        if group.retiring and metrics is not None:
            # A removed group never grows; it holds until its open work is done.
            held = Hold("group removed from the spec: finishing its open work")
            decision = _drain_decision(held, metrics, group.strategy)
        elif group.version.draining and metrics is not None:
            decision = _drain_decision(decision, metrics, group.strategy)
        applied_error = await self._apply(group, decision, census)
        if by_type is not None and applied_error is None:
            group.last_error = None
        elif applied_error is not None:
            group.last_error = applied_error
        self._log_decision(group, metrics, census, decision)
        group.status = self._status(group, metrics, census, decision)

    async def _apply(
        self, group: _GroupRuntime, decision: Decision, census: WorkerCensus
    ) -> str | None:
        try:
            if isinstance(decision, StartWorkers):
                await group.provider.invoke(decision.count)
            elif isinstance(decision, SetSize):
                group.held_size = decision.size
                await group.provider.set_size(decision.size)
            elif group.held_size is not None and census.running != group.held_size:
                # Reconcile actual capacity with what we hold: workers crash, get evicted, etc.
                await group.provider.set_size(group.held_size)
        except ProviderError as err:
            logger.warning(
                "%s/%s provider call failed (%s): %s",
                group.version.key,
                group.group_id,
                err.kind,
                err,
            )
            if not err.retryable:
                # Access denied, not found, invalid: a config problem, not a passing fault.
                group.validation_error = f"{err.kind}: {err}"
            return f"provider: {err}"
        except Exception as err:
            logger.warning("%s/%s provider call failed: %s", group.version.key, group.group_id, err)
            return f"provider: {err}"
        return None

    def _log_decision(
        self,
        group: _GroupRuntime,
        metrics: GroupMetrics | None,
        census: WorkerCensus,
        decision: Decision,
    ) -> None:
        described = _describe(decision)
        changed = described != group.last_decision or decision.reason != group.last_reason
        group.last_decision, group.last_reason = described, decision.reason
        level = logging.INFO if not isinstance(decision, Hold) or changed else logging.DEBUG
        stats = metrics.stats if metrics is not None else None
        decision_log.log(
            level,
            "%s/%s %s: %s | backlog=%s age=%.1fs add=%.2f/s dispatch=%.2f/s pollers=%s "
            "running=%d ready=%s in_flight=%s",
            group.version.key,
            group.group_id,
            described,
            decision.reason,
            stats.backlog_count if stats else "?",
            stats.backlog_age_s if stats else 0.0,
            stats.add_rate if stats else 0.0,
            stats.dispatch_rate if stats else 0.0,
            stats.pollers if stats else "?",
            census.running,
            census.ready,
            census.in_flight,
        )

    def _status(
        self,
        group: _GroupRuntime,
        metrics: GroupMetrics | None,
        census: WorkerCensus,
        decision: Decision,
    ) -> GroupStatus:
        stats = metrics.stats if metrics is not None else QueueStats()
        desired = group.held_size if group.strategy is Strategy.WORKER_SET else None
        return GroupStatus(
            version_key=group.version.key,
            group_id=group.group_id,
            provider_type=group.group.provider.type,
            scaler_type=group.group.scaler.type or DEFAULT_SCALER,
            strategy=group.strategy.value,
            workers_running=census.running,
            workers_ready=census.ready,
            in_flight=census.in_flight,
            pollers=stats.pollers,
            backlog=stats.backlog_count,
            backlog_age_s=stats.backlog_age_s,
            add_rate=stats.add_rate,
            dispatch_rate=stats.dispatch_rate,
            desired=desired,
            last_decision=group.last_decision,
            last_reason=decision.reason,
            last_error=group.last_error,
            provider_validation_error=group.validation_error,
            metrics_ok=metrics is not None,
            updated_at=time.time(),
        )

    async def _publish(self) -> None:
        statuses = self.statuses()
        if self._on_cycle is not None:
            self._on_cycle(statuses)
        try:
            await self._sink.publish(statuses)
        except Exception as err:
            logger.warning("could not publish status: %s", err)


def _drain_decision(decision: Decision, metrics: GroupMetrics, strategy: Strategy) -> Decision:
    """A draining version keeps serving its pinned work, then goes to zero and starts nothing."""
    idle = metrics.stats.backlog_count == 0 and not metrics.workers.in_flight
    if strategy is Strategy.WORKER_SET and idle:
        return SetSize(0, "version is draining and has no work left")
    if isinstance(decision, StartWorkers) and idle:
        return Hold("version is draining and has no work left")
    return decision


def _worker_env(
    connection: ResolvedConnection, spec: DeploymentSpec, task_queue_types: tuple[str, ...]
) -> WorkerEnvironment:
    plain, secret = connection.worker_env()
    return WorkerEnvironment(
        address=connection.address,
        namespace=connection.namespace,
        task_queues=tuple(spec.task_queues),
        task_queue_types=task_queue_types,
        deployment_name=spec.deployment.name if spec.deployment else None,
        build_id=spec.deployment.build_id if spec.deployment else None,
        secret_env=secret,
        extra_env=plain,
    )


def _signature(version: ManagedVersion, group_id: str) -> str:
    spec = version.spec
    parts = [
        spec.compute.model_dump_json(),
        spec.temporal.model_dump_json(),
        ",".join(spec.task_queues),
        spec.deployment.model_dump_json() if spec.deployment else "",
        group_id,
    ]
    return "|".join(parts)
