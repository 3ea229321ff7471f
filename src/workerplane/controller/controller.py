"""The reconciler: observe each scaling group, plan its cycle, execute the plan via its provider.

One asyncio task per scaling group runs at the scaler's poll interval; a supervisor task keeps the
set of groups in line with the :class:`SpecSource`, so spec changes apply live. workerplane is never
in the task path: workers talk to Temporal directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workerplane.config.model import DeploymentSpec, effective_task_queue_types
from workerplane.controller.cycle import (
    CycleReport,
    GroupRuntime,
    TemporalMetrics,
    record_crash,
    run_cycle,
)
from workerplane.controller.interfaces import (
    CycleObserver,
    MetricsConnector,
    ProviderFactory,
    SpecSource,
    StatusSink,
)
from workerplane.planning.actions import GroupState
from workerplane.planning.plan import open_work_done, unstarted_status
from workerplane.planning.readiness import version_statuses
from workerplane.planning.status import GroupStatus, ManagedVersion
from workerplane.providers.base import WorkerEnvironment
from workerplane.providers.factory import build_provider
from workerplane.providers.registry import provider_strategy
from workerplane.scaling.registry import DEFAULT_SCALER, build_scaler
from workerplane.temporal.connection import ResolvedConnection, resolve_connection
from workerplane.temporal.metrics import QueueTarget
from workerplane.temporal.schedules import ScheduleReader

logger = logging.getLogger("workerplane.controller")

#: Retrying a group whose provider cannot start: 1 s, 2 s, 4 s, ... at most this long apart.
START_RETRY_CAP_S = 60.0


@dataclass
class StartFailure:
    """A group whose provider could not be built or started, reported until it starts."""

    signature: str
    status: GroupStatus
    attempts: int
    retry_at: float


@dataclass(frozen=True)
class ControllerSettings:
    """Knobs of the controller itself (not of any deployment).

    Attributes:
        state_dir: where providers keep local state (e.g. the subprocess provider's pid records).
        address, namespace: override every spec's Temporal connection (``--address``).
        refresh_s: how often the spec source is re-read.
        drain_timeout_s: how long ``--drain`` waits for workers to finish in-flight work.
        fresh_signals: read the uncached backlog hint for groups with no polling worker, so a
            task on an idle queue starts one without waiting for the server's stats cache
            (docs/temporal-signals.md); off, such a task waits up to 5 s on a default server.
        schedule_refresh_s: how often the schedules of a namespace with a pre-warming group are
            listed (docs/prewarming.md).
    """

    state_dir: Path
    address: str | None = None
    namespace: str | None = None
    refresh_s: float = 1.0
    drain_timeout_s: float = 60.0
    fresh_signals: bool = True
    schedule_refresh_s: float = 30.0


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
        providers: ProviderFactory = build_provider,
        metrics: MetricsConnector | None = None,
        observers: Sequence[CycleObserver] = (),
    ) -> None:
        """``providers`` builds each group's provider and ``metrics`` reads its queue stats;
        both default to the real ones (tests pass in-memory fakes). ``observers`` hear of every
        finished group cycle."""
        self._source = source
        self._sink = sink
        self._settings = settings
        self._on_cycle = on_cycle
        self._groups: dict[tuple[str, str], GroupRuntime] = {}
        self._signatures: dict[tuple[str, str], str] = {}
        self._providers = providers
        self._metrics = metrics or TemporalMetrics(fresh_signals=settings.fresh_signals)
        self._versions: list[ManagedVersion] = []
        self._retiring: set[asyncio.Task[None]] = set()
        self._failures: dict[tuple[str, str], StartFailure] = {}
        self._observers = tuple(observers)
        self._schedules = ScheduleReader(refresh_s=settings.schedule_refresh_s)

    # -- public ------------------------------------------------------------------------------

    def statuses(self) -> list[GroupStatus]:
        """The latest status of every group (safe to call from another thread, e.g. a metrics
        scrape: the group table is copied in one step)."""
        by_key = {k: g.status for k, g in list(self._groups.items()) if g.status is not None}
        # A spec change whose provider cannot start is what the group reports, even while the
        # group's previous provider still runs.
        by_key.update({k: f.status for k, f in list(self._failures.items())})
        return list(by_key.values())

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
        await self._schedules.close()
        await self._publish()

    # -- reconciliation of the managed set ---------------------------------------------------

    async def _sync(self, versions: list[ManagedVersion]) -> None:
        self._versions = list(versions)
        wanted: dict[tuple[str, str], tuple[ManagedVersion, str]] = {}
        for version in versions:
            for group_id in version.spec.compute.scaling_groups:
                wanted[(version.key, group_id)] = (version, group_id)
        gone = [k for k in self._failures if k not in wanted]
        for key in gone:
            del self._failures[key]
        failures_changed = bool(gone)
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
            if self._backing_off(key, signature):
                continue
            try:
                replacement = await self._build_group(version, group_id, current)
            except Exception as err:
                self._record_start_failure(version, group_id, signature, err)
                failures_changed = True
                continue
            if self._failures.pop(key, None) is not None:
                failures_changed = True
                logger.info("%s/%s started", version.key, group_id)
            self._groups[key] = replacement
            self._signatures[key] = signature
            replacement.task = asyncio.create_task(self._group_loop(replacement))
        if failures_changed:
            await self._publish()  # no group loop publishes for a group that never started

    def _backing_off(self, key: tuple[str, str], signature: str) -> bool:
        """Whether the group failed to start with this very spec and its retry is not due."""
        failure = self._failures.get(key)
        return (
            failure is not None
            and failure.signature == signature
            and time.monotonic() < failure.retry_at
        )

    def _record_start_failure(
        self, version: ManagedVersion, group_id: str, signature: str, err: Exception
    ) -> None:
        """Report a group whose provider cannot start (its version fails with the reason), and
        retry it with a capped backoff, logging it once per spec and error."""
        key = (version.key, group_id)
        error = f"cannot start: {err}"
        previous = self._failures.get(key)
        same = previous is not None and previous.signature == signature
        attempts = previous.attempts + 1 if previous is not None and same else 1
        if previous is None or not same or previous.status.last_error != error:
            logger.error("%s/%s %s (retrying with backoff)", version.key, group_id, error)
        else:
            logger.debug("%s/%s still %s", version.key, group_id, error)
        group = version.spec.compute.scaling_groups[group_id]
        try:
            strategy = provider_strategy(group.provider.type, group.provider.details).value
        except ValueError:
            strategy = "unknown"
        status = unstarted_status(
            version.key,
            group_id,
            group.provider.type,
            group.scaler.type or DEFAULT_SCALER,
            strategy,
            error=error,
            wall_time=time.time(),
        )
        delay = min(START_RETRY_CAP_S, 2.0 ** (attempts - 1))
        self._failures[key] = StartFailure(signature, status, attempts, time.monotonic() + delay)

    async def _build_group(
        self, version: ManagedVersion, group_id: str, current: GroupRuntime | None
    ) -> GroupRuntime:
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
            current.state = dataclasses.replace(
                current.state, scaler_state=scaler.initial_state(now)
            )
            current.connection, current.target = connection, target
            logger.info("%s/%s scaler updated live", version.key, group_id)
            return current
        provider = self._providers(
            group.provider.type,
            group.provider.details,
            deployment=version.key,
            group_id=group_id,
            worker_env=_worker_env(connection, spec, task_queue_types),
            state_dir=self._settings.state_dir,
        )
        try:
            await provider.start()
            check = await provider.validate()
        except BaseException:
            with contextlib.suppress(Exception):
                await provider.close()
            raise
        runtime = GroupRuntime(
            version=version,
            group_id=group_id,
            group=group,
            connection=connection,
            provider=provider,
            scaler=scaler,
            strategy=strategy,
            target=target,
            state=GroupState(
                scaler_state=scaler.initial_state(now),
                validation_error=None if check.ok else check.message,
            ),
        )
        if current is not None:
            logger.info("%s/%s provider changed: retiring the old workers", version.key, group_id)
            self._retire_in_background(current)
        return runtime

    def _retire_in_background(self, group: GroupRuntime) -> None:
        task = asyncio.create_task(self._retire_when_idle(group))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire_when_idle(self, group: GroupRuntime) -> None:
        """Let a removed group finish its open work (e.g. the last workflow task after an
        activity), then retire its workers; give up waiting after ``drain_timeout_s``."""
        group.retiring = True
        deadline = time.monotonic() + self._settings.drain_timeout_s
        while time.monotonic() < deadline:
            if open_work_done(group.status):
                break
            if group.task is None or group.task.done():
                break
            await asyncio.sleep(group.scaler.poll_interval_s)
        await self._stop_group(group, drain=True)

    async def _cancel_loop(self, group: GroupRuntime) -> None:
        if group.task is not None:
            group.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await group.task
            group.task = None

    async def _stop_group(self, group: GroupRuntime, *, drain: bool) -> None:
        await self._cancel_loop(group)
        try:
            if drain:
                await group.provider.drain(self._settings.drain_timeout_s)
        except Exception as err:
            logger.error("%s/%s drain failed: %s", group.version.key, group.group_id, err)
        finally:
            await group.provider.close()

    # -- one group's cycle -------------------------------------------------------------------

    async def _group_loop(self, group: GroupRuntime) -> None:
        while True:
            started = time.monotonic()
            try:
                report = await run_cycle(group, self._metrics, schedules=self._schedules)
                self._notify(report)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug or an unexpected provider failure: keep going
                record_crash(group, err)
                logger.exception("%s cycle failed", group.name)
            await self._publish()
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, group.scaler.poll_interval_s - elapsed))

    def _notify(self, report: CycleReport) -> None:
        for observer in self._observers:
            try:
                observer.on_cycle(report)
            except Exception:
                logger.exception("cycle observer %r failed", observer)

    async def _publish(self) -> None:
        statuses = self.statuses()
        if self._on_cycle is not None:
            self._on_cycle(statuses)
        try:
            await self._sink.publish(statuses, versions=version_statuses(self._versions, statuses))
        except Exception as err:
            logger.warning("could not publish status: %s", err)


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
