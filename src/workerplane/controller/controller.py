"""The reconciler: observe each scaling group, plan its cycle, execute the plan via its provider.

A supervisor loop keeps the set of groups in line with the :class:`SpecSource`, so spec changes
apply live; one scheduler runs every group's cycles (:mod:`~workerplane.controller.runner`), their
reads shared and paid for in one budget (:mod:`~workerplane.controller.shared_reads`), and one
publisher sends what changed once a second (:mod:`~workerplane.controller.publisher`).
workerplane is never in the task path: workers talk to Temporal directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from workerplane.config.model import DeploymentSpec
from workerplane.controller.budget import CallBudget
from workerplane.controller.cycle import CycleReport, GroupRuntime, TemporalMetrics
from workerplane.controller.groups import GroupParts, StartFailure, spec_signature, start_failure
from workerplane.controller.interfaces import (
    CycleObserver,
    MetricsConnector,
    ProviderFactory,
    SpecSource,
    StatusSink,
)
from workerplane.controller.publisher import StatusPublisher
from workerplane.controller.retirement import Retirements
from workerplane.controller.runner import GroupRunner
from workerplane.controller.settings import ControllerSettings
from workerplane.controller.shared_reads import SharedReads
from workerplane.controller.sunset import DrainageSource, SunsetInputs, SunsetKeeper
from workerplane.controller.worker_reads import GroupWorkerReads
from workerplane.planning.actions import GroupState
from workerplane.planning.status import ControllerStatus, GroupStatus, ManagedVersion
from workerplane.planning.worker_beats import MarkedWorkersCensus
from workerplane.providers.base import Provider
from workerplane.providers.factory import build_provider
from workerplane.providers.nexus.caller import NexusRoute
from workerplane.providers.registry import provider_type
from workerplane.temporal.drainage import DrainageReader
from workerplane.temporal.schedules import ScheduleReader

logger = logging.getLogger("workerplane.controller")

#: Groups whose providers start at once (a provider's start may adopt workers, call an API, ...).
START_CONCURRENCY = 32


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
        clock: Callable[[], float] = time.monotonic,
        drainage: DrainageSource | None = None,
    ) -> None:
        """``providers`` builds each group's provider, ``metrics`` reads its queue stats and
        ``drainage`` the versions' drainage; all default to the real ones (tests pass fakes).
        ``observers`` hear of every finished group cycle; ``on_cycle`` gets every group's
        status on each publish."""
        self._source = source
        self._settings = settings
        self._clock = clock
        self._groups: dict[tuple[str, str], GroupRuntime] = {}
        self._signatures: dict[tuple[str, str], tuple[DeploymentSpec, int, str]] = {}
        self._providers = providers
        self._versions: list[ManagedVersion] = []
        self._failures: dict[tuple[str, str], StartFailure] = {}
        self._observers = tuple(observers)
        self._schedules = ScheduleReader(refresh_s=settings.schedule_refresh_s)
        self._budget = CallBudget(settings.rps_budget, clock=clock)
        self._reads = SharedReads(
            metrics or TemporalMetrics(fresh_signals=settings.fresh_signals),
            self._budget,
            window_s=settings.shared_read_window_s,
            on_backlog=self._wake_queue,
            clock=clock,
        )
        self._runner = GroupRunner(
            self._reads, settings, self._notify, clock, schedules=self._schedules
        )
        self._retirements = Retirements(self._runner, settings.drain_timeout_s)
        self._publisher = StatusPublisher(sink, on_publish=on_cycle)
        self._sunset = SunsetKeeper(
            drainage or DrainageReader(),
            self._budget,
            read_interval_s=settings.drainage_read_interval_s,
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- public ------------------------------------------------------------------------------

    def statuses(self) -> list[GroupStatus]:
        """The latest status of every group (safe to call from another thread, e.g. a metrics
        scrape: the group table is copied in one step)."""
        by_key = {k: g.status for k, g in list(self._groups.items()) if g.status is not None}
        # A spec change whose provider cannot start is what the group reports, even while the
        # group's previous provider still runs.
        by_key.update({k: f.status for k, f in list(self._failures.items())})
        return list(by_key.values())

    def controller_status(self) -> ControllerStatus:
        """The controller's load on Temporal: the budget, its use, the idle read interval."""
        usage = self._budget.usage()
        active, idle = self._runner.counts()
        return ControllerStatus(
            rps_budget=usage.rps_budget,
            rps_used=round(usage.rps_used, 2),
            idle_read_interval_s=round(self._runner.idle_plan.interval_s, 2),
            active_groups=active,
            idle_groups=idle,
            calls_waiting=usage.waiting,
            updated_at=time.time(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set (the cycles and the publisher run on until
        :meth:`shutdown`, so removed groups still drain)."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._runner.run()),
                asyncio.create_task(self._publish_forever()),
                asyncio.create_task(
                    self._sunset.keep(self._sunset_inputs, self._settings.refresh_s)
                ),
            ]
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
        await asyncio.gather(*(self._retirements.stop(g, drain=drain) for g in groups))
        await self._retirements.wait()
        await self._schedules.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._publish()

    # -- reconciliation of the managed set ---------------------------------------------------

    async def _sync(self, versions: list[ManagedVersion]) -> None:
        self._versions = list(versions)
        # A version whose sunset is over stays listed until its source forgets it (the store
        # deletes its record on the next publish); its groups go now.
        over = {v.key for v in versions if v.draining and v.key in self._sunset.over}
        wanted: dict[tuple[str, str], tuple[ManagedVersion, str]] = {}
        for version in versions:
            if version.key in over:
                continue
            for group_id in version.spec.compute.scaling_groups:
                wanted[(version.key, group_id)] = (version, group_id)
        for key in [k for k in self._failures if k not in wanted]:
            del self._failures[key]
        for key in [k for k in self._groups if k not in wanted]:
            group = self._groups.pop(key)
            self._signatures.pop(key, None)
            if key[0] in over:
                logger.info("%s/%s sunset: deleting its resources", *key)
                self._retirements.retire_in_background(group, remove=True)
            else:
                logger.info("%s/%s removed: draining its workers", *key)
                self._retirements.retire_in_background(group)
        builds = []
        for key, (version, group_id) in wanted.items():
            signature = self._signature(version, group_id)
            current = self._groups.get(key)
            known = self._signatures.get(key)
            if current is not None and known is not None and known[2] == signature:
                current.version = version
                continue
            if not self._backing_off(key, signature):
                builds.append(self._start_group(version, group_id, signature, current))
        if builds:
            limit = asyncio.Semaphore(START_CONCURRENCY)

            async def bounded(start: Awaitable[None]) -> None:
                async with limit:
                    await start

            await asyncio.gather(*(bounded(b) for b in builds))

    def _signature(self, version: ManagedVersion, group_id: str) -> str:
        """The group's spec signature, recomputed only when its version's spec changed (the
        same spec object, or the same non-zero generation)."""
        key = (version.key, group_id)
        known = self._signatures.get(key)
        if known is not None:
            spec, generation, signature = known
            if spec is version.spec or (generation and generation == version.generation):
                return signature
        return spec_signature(version, group_id)

    async def _start_group(
        self,
        version: ManagedVersion,
        group_id: str,
        signature: str,
        current: GroupRuntime | None,
    ) -> None:
        key = (version.key, group_id)
        try:
            replacement = await self._build_group(version, group_id, current)
        except Exception as err:
            self._record_start_failure(version, group_id, signature, err)
            return
        if self._failures.pop(key, None) is not None:
            logger.info("%s/%s started", version.key, group_id)
        self._groups[key] = replacement
        self._signatures[key] = (version.spec, version.generation, signature)
        self._runner.add(replacement)

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
        key = (version.key, group_id)
        self._failures[key] = start_failure(
            version, group_id, signature, err, self._failures.get(key)
        )

    async def _build_group(
        self, version: ManagedVersion, group_id: str, current: GroupRuntime | None
    ) -> GroupRuntime:
        parts = GroupParts.of(version, group_id, self._settings.address, self._settings.namespace)
        group, scaler = parts.group, parts.scaler
        worker_env = parts.worker_env()
        now = time.monotonic()
        if (
            current is not None
            and current.group.provider == group.provider
            and current.worker_env == worker_env
            and current.target == parts.target
        ):
            # Only the scaler (or the version's metadata) changed: keep the workers, swap the
            # brain. A new connection or queue is not "only": the provider starts its workers
            # with them (and reads by them), so it is built anew below.
            await self._runner.remove(current)
            current.version, current.group, current.scaler = version, group, scaler
            current.state = dataclasses.replace(
                current.state, scaler_state=scaler.initial_state(now)
            )
            current.connection, current.target = parts.connection, parts.target
            logger.info("%s/%s scaler updated live", version.key, group_id)
            return current
        endpoint = group.provider.nexus_endpoint
        # Only a group behind a Nexus endpoint passes its route, and only a group whose census
        # reads its workers passes the reads (factories may not know them).
        extras: dict[str, Any] = (
            {"nexus": NexusRoute(endpoint, parts.connection)} if endpoint else {}
        )
        if provider_type(group.provider.type).reads_workers and not endpoint:
            # Its census reads its workers through the controller's shared, budgeted reads.
            extras["worker_reads"] = GroupWorkerReads(self._reads, parts.connection, parts.target)
        provider = self._providers(
            group.provider.type,
            group.provider.details,
            deployment=version.key,
            group_id=group_id,
            worker_env=worker_env,
            state_dir=self._settings.state_dir,
            **extras,
        )
        # The new provider may hold the very workers of the old one (the same Deployment, the
        # same state directory): then the old one stops sizing them before the new one starts.
        reclaimed = await self._retirements.reclaim(provider.claim)
        if reclaimed is not None:
            provider.take_over(reclaimed.provider)
        taken_from = current if current and _same_claim(current.provider, provider) else None
        if taken_from is not None:
            await self._runner.remove(taken_from)
            provider.take_over(taken_from.provider)
        try:
            await provider.start()
            check = await provider.validate()
        except BaseException:
            with contextlib.suppress(Exception):
                await provider.close()
            if taken_from is not None:
                self._runner.add(taken_from)  # it keeps its group until a start succeeds
            raise
        runtime = GroupRuntime(
            version=version,
            group_id=group_id,
            group=group,
            connection=parts.connection,
            provider=provider,
            scaler=scaler,
            strategy=parts.strategy,
            target=parts.target,
            state=GroupState(
                scaler_state=scaler.initial_state(now),
                validation_error=None if check.ok else check.message,
            ),
            beats=self._heartbeat_census(parts),
            worker_env=worker_env,
        )
        if taken_from is not None:
            logger.info(
                "%s/%s provider changed: the new one took its workers over", version.key, group_id
            )
            await self._retirements.hand_over(taken_from)
        elif current is not None:
            logger.info("%s/%s provider changed: retiring the old workers", version.key, group_id)
            self._retirements.retire_in_background(current)
        return runtime

    def _heartbeat_census(self, parts: GroupParts) -> MarkedWorkersCensus | None:
        """A census of the group's workers from their heartbeats, when its provider cannot count
        their tasks itself (:mod:`workerplane.planning.worker_beats`)."""
        if not self._settings.worker_heartbeats:
            return None
        if provider_type(parts.group.provider.type).counts_in_flight:
            return None
        return MarkedWorkersCensus(parts.marker, clock=self._clock)

    # -- cycles and status -------------------------------------------------------------------

    def _notify(self, report: CycleReport) -> None:
        for observer in self._observers:
            try:
                observer.on_cycle(report)
            except Exception:
                logger.exception("cycle observer %r failed", observer)

    def _wake_queue(self, namespace: str, queue: str) -> None:
        self._runner.wake_queue(namespace, queue)

    def _sunset_inputs(self) -> SunsetInputs:
        return SunsetInputs(self._versions, list(self._groups.values()), self.statuses())

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.publish_interval_s)
            await self._publish()

    async def _publish(self) -> None:
        await self._publisher.publish(
            self.statuses(),
            self._versions,
            self._clock(),
            self.controller_status(),
            sunsets=self._sunset.sunsets,
        )


def _same_claim(old: Provider, new: Provider) -> bool:
    """Whether ``new`` manages the workers ``old`` manages (:attr:`Provider.claim`)."""
    return old.claim is not None and old.claim == new.claim
