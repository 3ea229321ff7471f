"""The controller lease loop: no database error ends it, and a holder that cannot renew gives
the lease up (and says so) instead of acting on."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import OperationalError

from workerplane.store.leases import CONTROLLER_LEASE, ControllerLease, Fence, LeaseStore


class FlakyLeases(LeaseStore):
    """A lease store whose database fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.token = 0

    def _check(self) -> None:
        if self.down:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    def acquire(self, name: str, holder: str, ttl_s: float) -> Fence | None:
        self._check()
        self.token += 1
        return Fence(name, holder, self.token)

    def renew(self, fence: Fence, ttl_s: float) -> bool:
        self._check()
        return fence.token == self.token

    def release(self, fence: Fence) -> None:
        self._check()


async def test_lease_loop_survives_database_errors_and_gives_up_when_it_cannot_renew() -> None:
    leases = FlakyLeases()
    lease = ControllerLease(leases, ttl_s=0.6, holder="me")
    stop = asyncio.Event()

    leases.down = True
    waiting = asyncio.create_task(lease.wait_acquire(stop))
    await asyncio.sleep(0.5)  # several failed attempts, none of them fatal
    assert not waiting.done()
    leases.down = False
    fence = await asyncio.wait_for(waiting, 30)
    assert fence == Fence(CONTROLLER_LEASE, "me", 1) and lease.held

    keeper = asyncio.create_task(lease.keep(stop))
    leases.down = True
    await asyncio.wait_for(lease.lost.wait(), 30)
    await asyncio.wait_for(keeper, 30)
    assert lease.fence is None  # stopped acting: no fence to write under

    leases.down = False
    again = await asyncio.wait_for(lease.wait_acquire(stop), 30)
    assert again is not None and again.token > fence.token


async def test_a_newer_holder_ends_the_old_one() -> None:
    leases = FlakyLeases()
    lease = ControllerLease(leases, ttl_s=0.3, holder="me")
    stop = asyncio.Event()
    assert await lease.wait_acquire(stop) is not None
    keeper = asyncio.create_task(lease.keep(stop))
    leases.token += 1  # another process took the lease over
    await asyncio.wait_for(lease.lost.wait(), 30)
    await asyncio.wait_for(keeper, 30)
    assert not lease.held
