"""The controller's reads of a group's pollers and heartbeats, given to its provider's census.

A provider whose census reads Temporal (the Lambda census:
:attr:`~workerplane.providers.registry.ProviderType.reads_workers`) would otherwise open a
client of its own per group and poll the poller lists and ``ListWorkers`` every cycle, outside
the controller's call budget: a thousand Lambda groups, a thousand connections and unmetered
calls. Through :class:`GroupWorkerReads` those reads go through the controller's
:class:`~workerplane.controller.shared_reads.SharedReads`: one call answers every group of the
same queue, and each is paid for in ``rps_budget`` first.
"""

from __future__ import annotations

from collections.abc import Mapping

from workerplane.controller.interfaces import MetricsConnector
from workerplane.planning.worker_beats import WorkerBeat
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.metrics import QueueTarget


class GroupWorkerReads:
    """:class:`~workerplane.providers.base.WorkerReads` of one group, through the controller's
    metrics connector (connecting on first use, as the group's stats reads do)."""

    def __init__(
        self, metrics: MetricsConnector, connection: ResolvedConnection, target: QueueTarget
    ) -> None:
        self._metrics = metrics
        self._connection = connection
        self._target = target

    async def last_polls(self) -> Mapping[str, float]:
        source = await self._metrics(self._connection)
        return await source.read_pollers(self._target)

    async def beats(self) -> Mapping[str, WorkerBeat]:
        source = await self._metrics(self._connection)
        return await source.read_beats(self._target)
