"""Named leases with fencing tokens: of several ``serve`` processes on one database, only the
holder of the ``controller`` lease runs a controller, and only its writes are accepted.

Each time the lease changes hands its fencing token grows. The controller's writes carry the
token they were made under (:class:`Fence`); :func:`check_fence` refuses them, inside the same
transaction, once another process holds a newer token. So a leader that stalled past its TTL (a
long pause, a network partition) cannot overwrite what its successor decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from workerplane.store.db import Database, describe_db_error
from workerplane.store.models import Lease

logger = logging.getLogger("workerplane.store")

CONTROLLER_LEASE = "controller"

#: Shard leases are ``leases`` rows named with this prefix (:mod:`workerplane.store.shards`).
SHARD_LEASE_PREFIX = "shard:"


class Fencing(Protocol):
    """What the controller's reads and writes are made under: which versions it may act on, and
    the check (inside the write's transaction) that it still may."""

    def covers(self, version_key: str) -> bool:
        """Whether the version ``version_key`` is this fencing's to act on."""
        ...

    def check(self, session: Session) -> None:
        """Raise :class:`LeaseLost` unless the leases behind this fencing are still held."""
        ...


@dataclass(frozen=True)
class Fence:
    """The lease a write is made under: refused unless ``holder`` still holds ``token``."""

    name: str
    holder: str
    token: int

    def covers(self, version_key: str) -> bool:
        """The controller lease covers every version."""
        return True

    def check(self, session: Session) -> None:
        check_fence(session, self)


class LeaseLost(Exception):
    """A write carried a fence that is no longer the lease's: another process took over."""


def check_fence(session: Session, fence: Fence) -> None:
    """Refuse the transaction of ``session`` unless ``fence`` still holds its lease.

    The lease row is locked (shared) until the transaction ends, so a takeover cannot commit
    between this check and the caller's writes.

    Raises:
        LeaseLost: another holder (or a newer token) owns the lease now.
    """
    row = session.scalar(select(Lease).where(Lease.name == fence.name).with_for_update(read=True))
    if row is None or row.holder != fence.holder or row.fencing_token != fence.token:
        raise LeaseLost(
            f"the {fence.name} lease moved on (fencing token {fence.token} is stale); write refused"
        )


def _held_under(fence: Fence) -> tuple[ColumnElement[bool], ...]:
    """The lease row as long as ``fence`` still holds it."""
    return (
        Lease.name == fence.name,
        Lease.holder == fence.holder,
        Lease.fencing_token == fence.token,
    )


def _shards_held(session: Session, now: float) -> bool:
    """Whether any shard lease is live (sharded replicas are acting)."""
    live = session.scalar(
        select(Lease.name)
        .where(Lease.name.startswith(SHARD_LEASE_PREFIX), Lease.expires_at > now)
        .limit(1)
    )
    return live is not None


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def acquire(self, name: str, holder: str, ttl_s: float) -> Fence | None:
        """Take the lease ``name`` if it is free, expired or already ``holder``'s.

        Returns the fence to write under (a new, higher token when the lease changes hands or
        had expired), or ``None`` while another holder's lease runs.
        """
        now = time.time()
        try:
            with self._db.write_session() as s:
                row = s.scalar(select(Lease).where(Lease.name == name).with_for_update())
                if row is not None and row.expires_at > now and row.holder != holder:
                    return None
                if name == CONTROLLER_LEASE and _shards_held(s, now):
                    return None  # sharded replicas run the controllers now
                if row is None:
                    s.add(
                        Lease(name=name, holder=holder, expires_at=now + ttl_s, acquired_at=now,
                              fencing_token=1)
                    )  # fmt: skip
                    return Fence(name, holder, 1)
                if row.expires_at <= now or row.holder != holder:
                    row.fencing_token += 1
                    row.acquired_at = now
                row.holder = holder
                row.expires_at = now + ttl_s
                return Fence(name, holder, row.fencing_token)
        except IntegrityError:  # another process inserted the row first
            return None

    def renew(self, fence: Fence, ttl_s: float) -> bool:
        """Extend the lease if ``fence`` still holds it (True); False once it moved on."""
        with self._db.write_session() as s:
            result = s.execute(
                update(Lease).where(*_held_under(fence)).values(expires_at=time.time() + ttl_s)
            )
            return bool(getattr(result, "rowcount", 0))

    def release(self, fence: Fence) -> None:
        """Let the lease expire now. The row (and its token) stays, so tokens never go back."""
        with self._db.write_session() as s:
            s.execute(update(Lease).where(*_held_under(fence)).values(expires_at=0.0))


class Backoff:
    """Capped exponential delays with full jitter (so processes that failed together do not
    retry together)."""

    def __init__(self, base_s: float, cap_s: float) -> None:
        self._base_s = base_s
        self._cap_s = cap_s
        self._failures = 0

    def next_delay(self) -> float:
        ceiling = min(self._cap_s, self._base_s * 2**self._failures)
        self._failures = min(self._failures + 1, 30)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._failures = 0


async def sleep_unless(stop: asyncio.Event, delay_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, delay_s))


def default_holder() -> str:
    """This process's name as a lease holder: host, pid and a random suffix (a restarted
    process with a reused pid is another holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ControllerLease:
    """Takes, holds and renews the ``controller`` lease for the embedded controller.

    No database error ends the loops: they retry with capped, jittered backoff and log once per
    change of state. The holder renews every ``ttl_s / 3``; when renewals keep failing it gives
    the lease up (sets :attr:`lost`) half a TTL after the last successful renewal began, so its
    controller stops before any other process can take the lease over.
    """

    def __init__(
        self,
        leases: LeaseStore,
        ttl_s: float = 15.0,
        holder: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases = leases
        self.ttl_s = ttl_s
        self.holder = holder or default_holder()
        self.lost = asyncio.Event()
        #: The fence the controller writes under while this process holds the lease.
        self.fence: Fence | None = None
        self._clock = clock
        self._renewed_at = 0.0
        self._state = ""

    @property
    def held(self) -> bool:
        return self.fence is not None

    def _enter(self, state: str, level: int, message: str, *args: object) -> None:
        """Log ``message`` only when the state changes (not on every retry)."""
        if state != self._state:
            self._state = state
            logger.log(level, message, *args)

    async def wait_acquire(self, stop: asyncio.Event) -> Fence | None:
        """Block until the lease is ours (its fence) or ``stop`` is set (``None``)."""
        backoff = Backoff(base_s=0.5, cap_s=max(1.0, self.ttl_s / 3))
        while not stop.is_set():
            started = self._clock()
            try:
                fence = await asyncio.to_thread(
                    self._leases.acquire, CONTROLLER_LEASE, self.holder, self.ttl_s
                )
            except Exception as err:
                self._enter(
                    "no-database", logging.WARNING,
                    "cannot reach the database to take the controller lease (%s); retrying",
                    describe_db_error(err),
                )  # fmt: skip
                await sleep_unless(stop, backoff.next_delay())
                continue
            backoff.reset()
            if fence is not None:
                self.fence = fence
                self.lost.clear()
                self._renewed_at = started
                self._enter(
                    "holding", logging.INFO,
                    "holding the controller lease (%s, fencing token %d)", self.holder, fence.token,
                )  # fmt: skip
                return fence
            self._enter(
                "standby", logging.INFO,
                "another process holds the controller lease; standing by",
            )  # fmt: skip
            await sleep_unless(stop, self.ttl_s / 5)
        return None

    async def keep(self, stop: asyncio.Event) -> None:
        """Renew until ``stop``; on losing the lease clear :attr:`fence` and set :attr:`lost`."""
        fence = self.fence
        assert fence is not None, "keep() needs the lease: call wait_acquire() first"
        backoff = Backoff(base_s=0.2, cap_s=1.0)
        next_attempt = self._renewed_at + self.ttl_s / 3
        while not stop.is_set():
            await sleep_unless(stop, next_attempt - self._clock())
            if stop.is_set():
                return
            started = self._clock()
            give_up_at = self._renewed_at + self.ttl_s / 2
            try:
                renewed = await asyncio.wait_for(
                    asyncio.to_thread(self._leases.renew, fence, self.ttl_s),
                    timeout=max(0.1, give_up_at - started),
                )
            except Exception as err:  # the database is unreachable, or too slow to answer
                if self._clock() >= give_up_at:
                    self._give_up("cannot renew the controller lease in time")
                    return
                self._enter(
                    "renew-failing", logging.WARNING,
                    "cannot renew the controller lease (%s); retrying", describe_db_error(err),
                )  # fmt: skip
                next_attempt = min(give_up_at, self._clock() + backoff.next_delay())
                continue
            if not renewed:
                self._give_up("another process took the controller lease")
                return
            backoff.reset()
            self._renewed_at = started
            self._enter("holding", logging.INFO, "renewing the controller lease again")
            next_attempt = started + self.ttl_s / 3

    def _give_up(self, why: str) -> None:
        self.fence = None
        self._enter(
            "lost", logging.ERROR, "%s: stopping the embedded controller and standing by", why
        )
        self.lost.set()

    def mark_lost(self) -> None:
        """A write was refused by the store's fence: stop acting now."""
        if self.fence is not None:
            self._give_up("the store refused a write under a stale fencing token")

    async def release(self) -> None:
        """Hand the lease over at once (best effort: it expires anyway)."""
        fence, self.fence = self.fence, None
        if fence is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._leases.release, fence)
