"""Where a controller's Nexus operations go out from: a Temporal client and a worker that runs
the caller workflow (:mod:`~workerplane.providers.nexus.workflow`), one per connection, shared by
every Nexus group of the process and stopped with the last of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from workerplane.providers.nexus.workflow import CALLER_TASK_QUEUE, NexusProviderCall, ProviderCall
from workerplane.temporal.connection import ResolvedConnection, connect

logger = logging.getLogger("workerplane.providers.nexus")

#: A caller workflow may outlive its operation's timeout by this much (its worker picks it up,
#: records the failure).
WORKFLOW_MARGIN_S = 10.0


@dataclass(frozen=True)
class NexusRoute:
    """How a scaling group's provider is reached: the Nexus endpoint's name, and the controller's
    connection its caller workflows run on."""

    endpoint: str
    connection: ResolvedConnection


class CallerHost:
    """A client and a running caller worker for one connection."""

    def __init__(self, client: Client, worker: Worker) -> None:
        self.client = client
        self._worker = worker
        self._task = asyncio.create_task(worker.run())
        self.users = 0

    async def call(self, call: ProviderCall) -> Any:
        """Run ``call``'s caller workflow and return the operation's output (JSON).

        Raises:
            WorkflowFailureError: the operation failed or timed out (see its cause).
            RPCError: Temporal itself could not be reached.
        """
        return await self.client.execute_workflow(
            NexusProviderCall.run,
            call,
            id=f"workerplane-nexus-{call.operation}-{uuid.uuid4().hex}",
            task_queue=CALLER_TASK_QUEUE,
            execution_timeout=timedelta(seconds=call.timeout_s + WORKFLOW_MARGIN_S),
        )

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._worker.shutdown()
        with contextlib.suppress(BaseException):
            await self._task


_hosts: dict[tuple[int, str, str], CallerHost] = {}
_hosts_lock: dict[int, asyncio.Lock] = {}


def _key(connection: ResolvedConnection) -> tuple[int, str, str]:
    # Per event loop: a client is bound to the loop it was made on (tests run one loop each).
    return (id(asyncio.get_running_loop()), connection.address, connection.namespace)


async def acquire(connection: ResolvedConnection) -> CallerHost:
    """The caller host of ``connection``, started on first use; :func:`release` it when done."""
    key = _key(connection)
    async with _hosts_lock.setdefault(key[0], asyncio.Lock()):
        host = _hosts.get(key)
        if host is None:
            client = await connect(connection)
            worker = Worker(client, task_queue=CALLER_TASK_QUEUE, workflows=[NexusProviderCall])
            host = _hosts[key] = CallerHost(client, worker)
            logger.info("Nexus caller worker started on %s", connection.describe())
        host.users += 1
        return host


async def release(connection: ResolvedConnection, host: CallerHost) -> None:
    """Stop using ``host``; the last user stops its worker."""
    key = _key(connection)
    async with _hosts_lock.setdefault(key[0], asyncio.Lock()):
        host.users -= 1
        if host.users > 0 or _hosts.get(key) is not host:
            return
        del _hosts[key]
    await host.stop()
