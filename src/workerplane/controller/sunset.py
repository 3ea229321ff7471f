"""Keeps every draining version's sunset (:mod:`workerplane.planning.sunset`) up to date.

For each versioned version that workerplane drains, it reads Temporal's drainage at most every
``read_interval_s`` (one ``DescribeWorkerDeploymentVersion`` paid for in the controller's
:class:`~workerplane.controller.budget.CallBudget`, at idle priority), and recomputes the sunset
of every such version on each refresh from what it last read, so due times are met without
reading more. Versions that are not draining cost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from workerplane.controller.budget import CallBudget, Priority, call_priority
from workerplane.controller.cycle import GroupRuntime
from workerplane.planning.status import GroupStatus, ManagedVersion
from workerplane.planning.sunset import Drainage, SunsetPhase, SunsetStatus, sunset_status
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.metrics import MetricsUnavailable

logger = logging.getLogger("workerplane.controller")


class DrainageSource(Protocol):
    """Reads a version's drainage (:class:`~workerplane.temporal.drainage.DrainageReader`)."""

    async def read(
        self, connection: ResolvedConnection, deployment_name: str, build_id: str
    ) -> Drainage | None: ...


@dataclass(frozen=True)
class _Read:
    drainage: Drainage | None
    at: float


@dataclass(frozen=True)
class SunsetInputs:
    """What the keeper reads from the controller on each refresh."""

    versions: Sequence[ManagedVersion]
    groups: Sequence[GroupRuntime]
    statuses: Sequence[GroupStatus]


class SunsetKeeper:
    """The sunsets of the draining versions, refreshed by :meth:`refresh`."""

    def __init__(
        self,
        source: DrainageSource,
        budget: CallBudget,
        *,
        read_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._budget = budget
        self._interval = read_interval_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._reads: dict[str, _Read] = {}
        self._sunsets: dict[str, SunsetStatus] = {}
        self._announced: set[str] = set()

    async def refresh(
        self,
        versions: Sequence[ManagedVersion],
        workers: Mapping[str, int],
        connections: Mapping[str, ResolvedConnection],
    ) -> dict[str, SunsetStatus]:
        """The sunset of every draining versioned version of ``versions`` whose drainage has
        been read. ``workers`` are the workers running per version key, ``connections`` a
        connection per version key (a version without one is not read)."""
        tracked = [v for v in versions if v.draining and v.spec.deployment is not None]
        keys = {v.key for v in tracked}
        self._reads = {k: r for k, r in self._reads.items() if k in keys}
        now = self._clock()
        due = [
            v
            for v in tracked
            if v.key in connections
            and (v.key not in self._reads or now - self._reads[v.key].at >= self._interval)
        ]
        await asyncio.gather(*(self._read(v, connections[v.key]) for v in due))
        wall = self._wall_clock()
        return {
            v.key: sunset_status(
                self._reads[v.key].drainage,
                v.sunset_policy,
                draining=True,
                workers_running=workers.get(v.key, 0),
                now=wall,
            )
            for v in tracked
            if v.key in self._reads
        }

    @property
    def sunsets(self) -> dict[str, SunsetStatus]:
        """The latest sunset of each draining version read so far, by version key."""
        return self._sunsets

    @property
    def over(self) -> set[str]:
        """The versions whose sunset is over: their groups go and their resources are deleted."""
        return {k for k, s in self._sunsets.items() if s.phase is SunsetPhase.DELETE}

    async def keep(self, inputs: Callable[[], SunsetInputs], interval_s: float) -> None:
        """Refresh every ``interval_s`` from the controller's ``inputs`` until cancelled; hands
        each running group its version's sunset (its next cycle plans with it)."""
        while True:
            current = inputs()
            workers: dict[str, int] = {}
            for status in current.statuses:
                key = status.version_key
                workers[key] = workers.get(key, 0) + status.workers_running
            connections = {g.version.key: g.connection for g in current.groups}
            try:
                self._sunsets = await self.refresh(current.versions, workers, connections)
            except Exception:
                logger.exception("could not refresh the versions' sunsets")
            for group in current.groups:
                group.sunset = self._sunsets.get(group.version.key)
            for key in self.over - self._announced:
                logger.info("%s sunset: drained and scaled down long enough, deleting it", key)
            self._announced = self.over
            await asyncio.sleep(interval_s)

    async def _read(self, version: ManagedVersion, connection: ResolvedConnection) -> None:
        deployment = version.spec.deployment
        assert deployment is not None
        call_priority.set(Priority.IDLE)
        await self._budget.acquire(1.0)
        try:
            drainage = await self._source.read(connection, deployment.name, deployment.build_id)
        except MetricsUnavailable as err:
            logger.debug("%s drainage unavailable: %s", version.key, err)
            return
        self._reads[version.key] = _Read(drainage, self._clock())
