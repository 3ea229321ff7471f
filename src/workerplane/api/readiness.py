"""What ``/readyz`` reports: the database, the controller lease of this process, and Temporal.

The database is checked on each call (one ``SELECT 1``); Temporal by a background watcher (a
gRPC health check every few seconds), so a readiness probe never waits on Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from workerplane.store.leases import ControllerLease
from workerplane.store.shard_keeper import ShardKeeper
from workerplane.temporal.connection import connect, resolve_connection

logger = logging.getLogger("workerplane.serve")

#: Seconds between two checks of the Temporal frontend.
TEMPORAL_CHECK_EVERY_S = 5.0
#: Seconds one check (connect + health check) may take before Temporal counts as unreachable.
TEMPORAL_CHECK_TIMEOUT_S = 5.0


@dataclass
class TemporalHealth:
    """The last result of the background check of the Temporal frontend."""

    address: str
    namespace: str
    reachable: bool | None = None  # None: not checked yet
    error: str | None = None


@dataclass
class ServeRuntime:
    """The process-level state ``/readyz`` shows (set on ``app.state.runtime`` by ``serve``)."""

    controller_mode: str
    lease: ControllerLease | None = None
    shards: ShardKeeper | None = None
    temporal: TemporalHealth | None = None


async def watch_temporal(health: TemporalHealth, stop: asyncio.Event) -> None:
    """Check the Temporal frontend until ``stop``, recording each result in ``health``."""
    client: Any = None
    while not stop.is_set():
        try:
            if client is None:
                client = await asyncio.wait_for(
                    connect(resolve_connection(address=health.address, namespace=health.namespace)),
                    TEMPORAL_CHECK_TIMEOUT_S,
                )
            ok = await client.service_client.check_health(
                timeout=timedelta(seconds=TEMPORAL_CHECK_TIMEOUT_S)
            )
            error = None if ok else "the frontend reports it is not serving"
        except Exception as err:  # unreachable, refused, TLS or auth failure: all "not reachable"
            client, ok = None, False
            error = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if ok != health.reachable:
            log = logger.info if ok else logger.warning
            log("Temporal at %s %s", health.address, "reachable" if ok else f"unreachable: {error}")
        health.reachable, health.error = bool(ok), error
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TEMPORAL_CHECK_EVERY_S)
