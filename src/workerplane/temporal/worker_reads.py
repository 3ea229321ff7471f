"""A provider's reads of its group's pollers and heartbeats over a Temporal client of its own.

Under the controller a provider gets the controller's reads instead
(:class:`workerplane.controller.worker_reads.GroupWorkerReads`): one call answers every group of a
queue, and each is paid for in the call budget. This is the fallback for a provider built
anywhere else: a Nexus handler serving a remote controller, a benchmark, a test. It connects on
first use, with the workers' own connection settings, so it reads what they poll.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.client import Client

from workerplane.planning.worker_beats import WorkerBeat
from workerplane.temporal.connection import connect, resolve_connection
from workerplane.temporal.pollers import last_polls
from workerplane.temporal.worker_heartbeats import worker_beats


class ClientWorkerReads:
    """:class:`~workerplane.providers.base.WorkerReads` over a client of its own.

    Args:
        env: the workers' environment (``TEMPORAL_ADDRESS``, TLS, API key...): the connection.
        namespace: the group's namespace.
        task_queues: the group's queues.
        queue_types: the task types whose pollers are read.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        namespace: str,
        task_queues: tuple[str, ...],
        queue_types: tuple[str, ...],
    ) -> None:
        self._env = dict(env)
        self._namespace = namespace
        self._task_queues = task_queues
        self._queue_types = queue_types
        self._client: Client | None = None

    async def _connected(self) -> Client:
        if self._client is None:
            self._client = await connect(resolve_connection(env=self._env))
        return self._client

    async def last_polls(self) -> Mapping[str, float]:
        client = await self._connected()
        return await last_polls(client, self._namespace, self._task_queues, self._queue_types)

    async def beats(self) -> Mapping[str, WorkerBeat]:
        client = await self._connected()
        return await worker_beats(client, self._namespace, self._task_queues)
