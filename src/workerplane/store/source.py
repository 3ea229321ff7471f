"""The controller's edges under ``workerplane serve``: specs from the store, status into it.

The controller polls :meth:`StoreSpecSource.snapshot` every ``refresh_s``; a change made through
the API (a new version, new min/max, a removal) is therefore applied live, without a restart.
:class:`ControllerLease` makes sure that of several ``serve`` processes on one database only one
runs a controller at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence

from workerplane.planning.status import GroupStatus, ManagedVersion, VersionStatus
from workerplane.store.repository import Store

logger = logging.getLogger("workerplane.store")

CONTROLLER_LEASE = "controller"


class StoreSpecSource:
    """:class:`~workerplane.controller.interfaces.SpecSource` backed by the store."""

    def __init__(self, store: Store, default_namespace: str | None = None) -> None:
        self._store = store
        self._default_namespace = default_namespace

    async def snapshot(self) -> list[ManagedVersion]:
        return await asyncio.to_thread(self._store.snapshot, self._default_namespace)


class StoreStatusSink:
    """:class:`~workerplane.controller.interfaces.StatusSink` backed by the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = asyncio.Lock()

    async def publish(
        self, statuses: list[GroupStatus], versions: Sequence[VersionStatus] = ()
    ) -> None:
        # ``versions`` carries the controller's readiness; the store still derives its own.
        # Group loops publish independently; serialising them avoids pointless write contention.
        async with self._lock:
            await asyncio.to_thread(self._store.publish, statuses)


class ControllerLease:
    """Holds the ``controller`` lease while the embedded controller runs.

    The lease is renewed every ``ttl_s / 3``; if renewal fails (another process took over after
    this one stalled past the TTL), :attr:`lost` is set and the caller stops its controller.
    """

    def __init__(self, store: Store, ttl_s: float = 15.0, holder: str | None = None) -> None:
        self._store = store
        self.ttl_s = ttl_s
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = asyncio.Event()

    async def try_acquire(self) -> bool:
        return await asyncio.to_thread(
            self._store.acquire_lease, CONTROLLER_LEASE, self.holder, self.ttl_s
        )

    async def wait_acquire(self, stop: asyncio.Event) -> bool:
        """Block until the lease is ours (True) or ``stop`` is set (False)."""
        announced = False
        while not stop.is_set():
            if await self.try_acquire():
                return True
            if not announced:
                logger.info("another process holds the controller lease; standing by")
                announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl_s / 3)
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew until ``stop``; set :attr:`lost` if the lease slips away."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.ttl_s / 3)
            if stop.is_set():
                break
            try:
                ok = await self.try_acquire()
            except Exception as err:  # the database is unreachable: we cannot prove we hold it
                logger.warning("cannot renew the controller lease: %s", err)
                ok = False
            if not ok:
                logger.error("lost the controller lease; stopping the embedded controller")
                self.lost.set()
                return

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._store.release_lease, CONTROLLER_LEASE, self.holder)
