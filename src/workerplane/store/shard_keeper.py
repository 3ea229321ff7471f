"""Holds a ``serve --shards K`` replica's shard leases, and tells its controller when to restart.

The controller runs on the shards held when it started (an *epoch*). Shards may be added to a
running controller (the spec source lists their versions from the next snapshot on, and their
providers adopt the workers already running), but never taken away from it: a version missing
from a snapshot would be drained as if deleted. So when shards must go (another replica took
one, a renewal failed for half a TTL, the store refused a stale fence, or the replica holds
more than its fair share) the epoch ends: the spec source and status sink refuse to read or
write under it, :attr:`ShardKeeper.shrunk` is set, the controller stops without draining
(workers live on), surplus shards are released, and a new controller starts on what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from workerplane.store.db import describe_db_error
from workerplane.store.leases import Backoff, Fence, LeaseLost, default_holder
from workerplane.store.shards import Round, ShardScope, ShardStore

logger = logging.getLogger("workerplane.store")


async def wait_any(events: Iterable[asyncio.Event], timeout_s: float | None = None) -> None:
    """Return once one of ``events`` is set (or after ``timeout_s``)."""
    waiters = {asyncio.create_task(event.wait()) for event in events}
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class ShardKeeper:
    """Renews, claims and releases this replica's shards (see the module docstring).

    A round runs every ``ttl_s / 3``; when rounds keep failing, every shard is given up half a
    TTL after the last successful round began, so this replica stops acting before another one
    can take its shards over.
    """

    def __init__(
        self,
        shards: ShardStore,
        count: int,
        ttl_s: float = 15.0,
        holder: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shards = shards
        self.count = count
        self.ttl_s = ttl_s
        self.holder = holder or default_holder()
        #: The shards held now, with their fences.
        self.fences: dict[int, Fence] = {}
        #: Live replicas sharing the shards at the last round (this one included).
        self.members = 0
        #: Why this replica may hold no shards now (``None`` when it may).
        self.blocked: str | None = None
        #: Grows whenever the running controller must restart on fewer shards.
        self.epoch = 0
        self.shrunk = asyncio.Event()
        self._has_shards = asyncio.Event()
        self._wake = asyncio.Event()
        self._round_lock = asyncio.Lock()
        self._surplus: tuple[int, ...] = ()
        self._clock = clock
        self._renewed_at = 0.0
        self._state = ""

    def scope_for(self, epoch: int) -> Callable[[], ShardScope]:
        """The scope the controller of ``epoch`` reads and writes under; once the epoch ended
        it raises :class:`LeaseLost` instead (that controller is stopping)."""

        def current() -> ShardScope:
            if self.epoch != epoch:
                raise LeaseLost("this replica's shards changed; its controller restarts")
            return ShardScope(self.count, dict(self.fences))

        return current

    def begin_epoch(self) -> int:
        """Start a controller's epoch on the shards held now."""
        self.shrunk.clear()
        return self.epoch

    async def wait_for_shards(self, stop: asyncio.Event) -> bool:
        """Block until this replica holds a shard (True) or ``stop`` is set (False)."""
        await wait_any((stop, self._has_shards))
        return not stop.is_set()

    def mark_lost(self) -> None:
        """The store refused a stale shard fence: restart the controller, and find out at once
        (a round now) which shards moved."""
        if self.shrunk.is_set():
            return  # that controller is stopping already
        self._end_epoch("the store refused a write under a stale shard fence")
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop``. No database error ends this loop."""
        backoff = Backoff(base_s=0.2, cap_s=max(1.0, self.ttl_s / 3))
        while not stop.is_set():
            started = self._clock()
            try:
                async with self._round_lock:
                    sent = dict(self.fences)
                    result = await asyncio.wait_for(
                        asyncio.to_thread(
                            self._shards.round, self.holder, self.count, self.ttl_s, sent
                        ),
                        timeout=max(0.1, self._give_up_at(started) - started),
                    )
                    self._apply(result, sent, started)
            except Exception as err:  # the database is unreachable, or too slow to answer
                if self.fences and self._clock() >= self._give_up_at(started):
                    self._drop(list(self.fences), "cannot renew the shard leases in time")
                self._log("no-database", logging.WARNING,
                          "cannot reach the database for the shard leases (%s); retrying",
                          describe_db_error(err))  # fmt: skip
                await self._pause(stop, backoff.next_delay())
                continue
            backoff.reset()
            await self._pause(stop, started + self.ttl_s / 3 - self._clock())

    async def release_surplus(self) -> None:
        """Hand over the shards beyond the fair share (call it once no controller acts)."""
        async with self._round_lock:  # a round in flight would renew them again
            surplus = [self.fences.pop(s) for s in self._surplus if s in self.fences]
            self._surplus = ()
            if not self.fences:
                self._has_shards.clear()
            if surplus:
                logger.info("handing %d shards over to the other replicas", len(surplus))
                with contextlib.suppress(Exception):  # they expire anyway
                    await asyncio.to_thread(self._shards.release, surplus)

    async def leave(self) -> None:
        """Release every shard and stop counting as a member (best effort: both expire)."""
        fences, self.fences = list(self.fences.values()), {}
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._shards.release, fences)
            await asyncio.to_thread(self._shards.leave, self.holder)

    def _give_up_at(self, started: float) -> float:
        """When held shards must be given up if no round succeeds: half a TTL after the last
        successful round began (the leases run a whole TTL from then)."""
        return self._renewed_at + self.ttl_s / 2 if self.fences else started + self.ttl_s / 2

    def _apply(self, result: Round, sent: Mapping[int, Fence], started: float) -> None:
        """Take a round's result in. Shards given up while it ran stay given up."""
        self._renewed_at = started
        self.members, self.blocked = result.members, result.blocked
        lost = result.lost & set(self.fences)
        if lost:
            self._drop(sorted(lost), "other replicas took them over")
        held = {s: f for s, f in result.held.items() if s in self.fences or s not in sent}
        claimed = sorted(set(held) - set(self.fences))
        self.fences.update(held)
        if claimed:
            logger.info("%s claimed shards %s (%d held, %d replicas)",
                        self.holder, claimed, len(self.fences), self.members)  # fmt: skip
        if result.surplus and not self._surplus:
            self._surplus = result.surplus
            self._end_epoch(f"rebalancing: {len(result.surplus)} shards to hand over")
        if self.fences:
            self._has_shards.set()
        if result.blocked is not None:
            self._log("blocked", logging.WARNING, "holding no shards: %s", result.blocked)
        else:
            self._log("holding", logging.INFO, "sharing %d shards with %d replicas",
                      self.count, self.members)  # fmt: skip

    def _drop(self, shards: list[int], why: str) -> None:
        for shard in shards:
            self.fences.pop(shard, None)
        if not self.fences:
            self._has_shards.clear()
        self._end_epoch(f"lost shards {shards}: {why}")

    def _end_epoch(self, why: str) -> None:
        self.epoch += 1
        self.shrunk.set()
        logger.warning("%s: restarting the controller on the shards held", why)

    def _log(self, state: str, level: int, message: str, *args: object) -> None:
        """Log ``message`` only when the state changes (not on every round)."""
        if state != self._state:
            self._state = state
            logger.log(level, message, *args)

    async def _pause(self, stop: asyncio.Event, delay_s: float) -> None:
        """Sleep until the next round (earlier when :meth:`mark_lost` asks for one)."""
        await wait_any((self._wake, stop), timeout_s=max(0.0, delay_s))
        self._wake.clear()
