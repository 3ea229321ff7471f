"""Whether the Temporal a controller is pointed at can work at all: the address answers and the
namespace exists. ``workerplane run`` checks it at start, says what is wrong, retries with a
capped backoff, and gives up after a bound, so a typo in ``--address`` or ``--namespace`` is an
error, not a controller that idles for ever.

Once running, an outage is survived instead (sizes hold until Temporal is back).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.service import RPCError, RPCStatusCode

from workerplane.temporal.connection import (
    ResolvedConnection,
    TemporalConnectionError,
    connect,
)

RETRY_CAP_S = 30.0


async def temporal_problem(connection: ResolvedConnection) -> str | None:
    """What keeps ``connection`` from working, or ``None`` when it works (or cannot be told:
    a key that may not describe its namespace is not judged here)."""
    try:
        client = await connect(connection)
    except TemporalConnectionError as err:
        return str(err)
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=connection.namespace)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return f"namespace '{connection.namespace}' was not found at {connection.address}"
        if err.status == RPCStatusCode.UNAVAILABLE:
            return f"Temporal at {connection.address} is unavailable: {err.message}"
    return None


async def wait_for_temporal(
    connection: ResolvedConnection,
    *,
    give_up_after_s: float | None,
    say: Callable[[str], None],
) -> str | None:
    """Wait until ``connection`` works; ``None`` then, else the last problem once
    ``give_up_after_s`` has passed (``None``: never give up). Each new problem is said once."""
    deadline = None if give_up_after_s is None else time.monotonic() + give_up_after_s
    delay = 1.0
    said: str | None = None
    while True:
        problem = await temporal_problem(connection)
        if problem is None:
            if said is not None:
                say(f"reached Temporal at {connection.address}")
            return None
        if problem != said:
            bound = "" if give_up_after_s is None else f"; giving up after {give_up_after_s:g}s"
            say(f"{problem} (retrying with backoff{bound})")
            said = problem
        if deadline is not None and time.monotonic() >= deadline:
            return problem
        wait = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(wait)
        delay = min(RETRY_CAP_S, delay * 2)
