"""A provider whose census counts its workers' tasks from their heartbeats to Temporal.

Every provider type that cannot count its workers' tasks in flight itself (ECS, Cloud Run,
webhook, Kubernetes Deployments whose pods carry no report) is built wrapped in
:class:`HeartbeatCountingProvider` (:func:`workerplane.providers.factory.build_provider`). When the
inner census leaves ``in_flight`` unknown, it reads the group's queues' worker heartbeats
(``ListWorkers``, one call per queue) and fills the census in from the workers that carry the
group's marker (:mod:`workerplane.providers.heartbeat_census`). Everything else is the inner
provider's.

I/O edge: the Temporal client, opened with the workers' own connection settings (what they
heartbeat to is what is read), and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from temporalio.client import Client

from workerplane.planning.identity import WorkerMarker
from workerplane.providers.base import DelegatingProvider, Provider, WorkerEnvironment
from workerplane.providers.heartbeat_census import MAX_COUNTING_INTERVAL_S, MarkedWorkersCensus
from workerplane.scaling.types import WorkerCensus
from workerplane.temporal.connection import connect, resolve_connection
from workerplane.temporal.worker_heartbeats import HeartbeatsUnavailable, WorkerBeat, worker_beats

log = logging.getLogger("workerplane.providers")

#: Reads the heartbeats of the group's queues (``identity -> newest``); raises on failure.
BeatReader = Callable[[], Awaitable[Mapping[str, WorkerBeat]]]


class HeartbeatCountingProvider(DelegatingProvider):
    """The inner provider, with its census filled in from its workers' heartbeats."""

    def __init__(
        self,
        inner: Provider,
        worker_env: WorkerEnvironment,
        marker: WorkerMarker,
        *,
        read_beats: BeatReader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inner)
        self._env = worker_env
        self._beats = MarkedWorkersCensus(marker, clock=clock)
        self._read_beats = read_beats or self._list_workers
        self._temporal: Client | None = None
        self._warned = False
        self._slow_warned = False

    async def census(self) -> WorkerCensus:
        census = await self.inner.census()
        if census.in_flight is not None:
            return census  # the provider counts its workers' tasks itself
        if census.running > 0 or self._beats.beating():
            self._beats.observe(await self._read())
            self._warn_if_slow()
        return self._beats.fill_in(census)

    def _warn_if_slow(self) -> None:
        slow = self._beats.slow_workers()
        if slow and not self._slow_warned:
            log.warning(
                "census: %d worker(s) heartbeat less often than every %gs (e.g. %s), too seldom "
                "to count their tasks by; run them on workerplane's runtime, or connect their "
                "client with workerplane.worker.heartbeats.heartbeat_runtime()",
                len(slow), MAX_COUNTING_INTERVAL_S, slow[0],
            )  # fmt: skip
        self._slow_warned = bool(slow)

    async def _read(self) -> Mapping[str, WorkerBeat] | None:
        """The heartbeats, or ``None`` when they cannot be read (the census is then left as the
        provider gave it: the scalers take every polling worker as full)."""
        try:
            beats = await self._read_beats()
        except (HeartbeatsUnavailable, OSError, RuntimeError) as err:  # connect: RuntimeError
            if not self._warned:
                log.warning("census: the workers' heartbeats cannot be read: %s", err)
                self._warned = True
            return None
        self._warned = False
        return beats

    async def _list_workers(self) -> Mapping[str, WorkerBeat]:
        if self._temporal is None:
            self._temporal = await connect(resolve_connection(env=self._env.as_env()))
        return await worker_beats(self._temporal, self._env.namespace, self._env.task_queues)
