"""Named leases: of several ``serve`` processes on one database, only the holder of the
``controller`` lease runs a controller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from workerplane.store.db import Database
from workerplane.store.models import Lease

logger = logging.getLogger("workerplane.store")

CONTROLLER_LEASE = "controller"


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``holder``. True while ``holder`` holds it."""
        now = time.time()
        try:
            with self._db.write_session() as s:
                row = s.scalar(select(Lease).where(Lease.name == name).with_for_update())
                if row is None:
                    s.add(Lease(name=name, holder=holder, expires_at=now + ttl_s, acquired_at=now))
                    return True
                if row.holder != holder and row.expires_at > now:
                    return False
                if row.holder != holder:
                    row.acquired_at = now
                row.holder = holder
                row.expires_at = now + ttl_s
                return True
        except IntegrityError:
            return False

    def release(self, name: str, holder: str) -> None:
        with self._db.write_session() as s:
            s.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


class ControllerLease:
    """Holds the ``controller`` lease while the embedded controller runs.

    The lease is renewed every ``ttl_s / 3``; if renewal fails (another process took over after
    this one stalled past the TTL), :attr:`lost` is set and the caller stops its controller.
    """

    def __init__(self, leases: LeaseStore, ttl_s: float = 15.0, holder: str | None = None) -> None:
        self._leases = leases
        self.ttl_s = ttl_s
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = asyncio.Event()

    async def try_acquire(self) -> bool:
        return await asyncio.to_thread(
            self._leases.acquire, CONTROLLER_LEASE, self.holder, self.ttl_s
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
            await asyncio.to_thread(self._leases.release, CONTROLLER_LEASE, self.holder)
