"""The shard keeper's loop: a running controller never loses a shard under it (the epoch ends
first), surplus shards are handed over only once asked to, and a replica that cannot renew gives
every shard up instead of acting on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

import pytest
from sqlalchemy.exc import OperationalError

from workerplane.store.leases import Fence, LeaseLost
from workerplane.store.shard_keeper import ShardKeeper
from workerplane.store.shards import Round, ShardStore, shard_lease_name, shard_of


class ScriptedShards(ShardStore):
    """Answers rounds from what the test sets: the shards to grant, those taken away, the
    surplus; fails while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.grant: set[int] = set()
        self.taken: set[int] = set()
        self.surplus: tuple[int, ...] = ()
        self.released: list[Fence] = []
        self.rounds = 0

    def round(self, holder: str, count: int, ttl_s: float, held: Mapping[int, Fence]) -> Round:
        self.rounds += 1
        if self.down:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        kept = {s: f for s, f in held.items() if s not in self.taken}
        kept.update({s: Fence(shard_lease_name(s), holder, 1) for s in self.grant - set(held)})
        return Round(held=kept, lost=frozenset(set(held) - set(kept)), surplus=self.surplus,
                     members=1)  # fmt: skip

    def release(self, fences: Iterable[Fence]) -> None:
        self.released += list(fences)

    def leave(self, holder: str) -> None:
        pass


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


async def test_losing_a_shard_ends_the_epoch_before_any_snapshot_shrinks() -> None:
    shards = ScriptedShards()
    shards.grant = {0, 1, 2, 3}
    keeper = ShardKeeper(shards, 4, ttl_s=0.3, holder="me")
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    assert await asyncio.wait_for(keeper.wait_for_shards(stop), 30)
    scope = keeper.scope_for(keeper.begin_epoch())
    assert set(scope().fences) == {0, 1, 2, 3}
    key = next(f"d/v{i}" for i in range(100) if shard_of(f"d/v{i}", 4) == 2)
    assert scope().covers(key)

    shards.taken = {2}
    await asyncio.wait_for(keeper.shrunk.wait(), 30)
    with pytest.raises(LeaseLost):
        scope()  # the old controller reads nothing more: it restarts instead
    fresh = keeper.scope_for(keeper.begin_epoch())()
    assert set(fresh.fences) == {0, 1, 3} and not fresh.covers(key)
    stop.set()
    await task


async def test_surplus_is_handed_over_only_after_the_controller_stopped() -> None:
    shards = ScriptedShards()
    shards.grant = {0, 1, 2, 3}
    keeper = ShardKeeper(shards, 4, ttl_s=0.3, holder="me")
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    await asyncio.wait_for(keeper.wait_for_shards(stop), 30)
    keeper.begin_epoch()
    shards.grant, shards.surplus = {0, 1}, (2, 3)
    await asyncio.wait_for(keeper.shrunk.wait(), 30)
    assert set(keeper.fences) == {0, 1, 2, 3} and shards.released == []  # still acting on them
    shards.surplus = ()
    await keeper.release_surplus()
    assert set(keeper.fences) == {0, 1}
    assert sorted(f.name for f in shards.released) == [shard_lease_name(2), shard_lease_name(3)]
    stop.set()
    await task


async def test_a_replica_that_cannot_renew_gives_every_shard_up() -> None:
    shards = ScriptedShards()
    shards.grant = {0, 1}
    keeper = ShardKeeper(shards, 2, ttl_s=0.3, holder="me")
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    await asyncio.wait_for(keeper.wait_for_shards(stop), 30)
    keeper.begin_epoch()
    shards.down = True
    await asyncio.wait_for(keeper.shrunk.wait(), 30)
    await _until(lambda: not keeper.fences, "every shard given up")
    failed = shards.rounds
    await _until(lambda: shards.rounds > failed + 2, "rounds go on while the database is down")
    assert not task.done()
    shards.down = False
    await asyncio.wait_for(keeper.wait_for_shards(stop), 30)
    stop.set()
    await task
