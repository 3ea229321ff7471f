"""Shard leases on a real PostgreSQL: three replicas share K shards evenly and stay put; a silent
replica's shards go to the others once its TTL ran out; every read and write of a replica that
lost a shard is refused for that shard's versions; a single-lease controller and sharded
replicas never act at once. Time is a fake clock passed to the store (no sleeping)."""

from __future__ import annotations

import pytest

from workerplane.config.model import DeploymentSpec
from workerplane.security.crypto import SecretBox
from workerplane.store.db import Database
from workerplane.store.leases import CONTROLLER_LEASE, Fence, LeaseStore
from workerplane.store.shards import Round, ShardScope, ShardsLost, ShardStore, shard_of
from workerplane.store.store import Store

K = 64
TTL = 15.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Replica:
    """One replica's view: the shards it holds, advanced one round at a time."""

    def __init__(self, shards: ShardStore, holder: str, count: int = K) -> None:
        self.shards, self.holder, self.count = shards, holder, count
        self.held: dict[int, Fence] = {}
        self.last = Round()

    def round(self) -> Round:
        self.last = self.shards.round(self.holder, self.count, TTL, self.held)
        self.held = dict(self.last.held)
        return self.last

    def hand_over_surplus(self) -> None:
        """What the keeper does once its controller stopped: release what is above its share."""
        surplus = [self.held.pop(s) for s in self.last.surplus]
        self.shards.release(surplus)

    def scope(self) -> ShardScope:
        return ShardScope(self.count, dict(self.held))


def _settle(replicas: list[Replica], clock: Clock, rounds: int = 6) -> None:
    for _ in range(rounds):
        for replica in replicas:
            replica.round()
            replica.hand_over_surplus()
        clock.now += TTL / 3


@pytest.fixture
def db(pg_url: str) -> Database:
    database = Database(pg_url)
    database.migrate()
    return database


def test_three_replicas_share_the_shards_evenly_and_stay_put(db: Database) -> None:
    clock = Clock()
    store = ShardStore(db, clock=clock)
    a = Replica(store, "a")
    _settle([a], clock)
    assert len(a.held) == K  # alone, it holds every shard

    replicas = [a, Replica(store, "b"), Replica(store, "c")]
    _settle(replicas, clock)
    sizes = sorted(len(r.held) for r in replicas)
    assert sizes == [20, 22, 22]
    assert set().union(*(r.held for r in replicas)) == set(range(K))
    assert sum(sizes) == K  # disjoint
    before = {r.holder: dict(r.held) for r in replicas}
    _settle(replicas, clock, rounds=10)
    assert {r.holder: r.held for r in replicas} == before  # stable: same shards, same tokens


def test_a_silent_replica_loses_its_shards_after_the_ttl_and_is_fenced_out(db: Database) -> None:
    clock = Clock()
    store = ShardStore(db, clock=clock)
    a, b, c = Replica(store, "a"), Replica(store, "b"), Replica(store, "c")
    _settle([a, b, c], clock)
    dead_shards, dead_scope = set(c.held), c.scope()

    clock.now += TTL * 0.5  # c is silent, but its leases still run: nobody takes them
    for replica in (a, b):
        replica.round()
        assert not set(replica.held) & dead_shards
    clock.now += TTL * 0.6
    _settle([a, b], clock)
    assert set(a.held) | set(b.held) == set(range(K))
    assert sorted([len(a.held), len(b.held)]) == [32, 32]
    newer = {s: f for s, f in {**a.held, **b.held}.items() if s in dead_shards}
    assert all(newer[s].token > dead_scope.fences[s].token for s in dead_shards)

    # c comes back from a long pause: every write under its old fences is refused...
    with db.write_session() as s, pytest.raises(ShardsLost) as refused:
        dead_scope.check(s)
    assert refused.value.shards == dead_shards
    # ...and its next round tells it which shards it lost.
    assert c.round().lost == frozenset(dead_shards)


def _spec(name: str) -> DeploymentSpec:
    return DeploymentSpec.model_validate({
        "name": name, "task_queues": ["q"],
        "compute": {"scaling_groups": {"g": {
            "provider": {"type": "subprocess", "details": {"command": "python"}},
            "scaler": {"type": "backlog", "details": {"max_count": 1}},
        }}},
    })  # fmt: skip


def test_the_controller_sees_and_writes_only_its_shards_versions(db: Database) -> None:
    clock = Clock()
    shards = ShardStore(db, clock=clock)
    store = Store(db, SecretBox(b"\x03" * 32))
    store.deployments.create("d", None, None)
    keys = [f"d/v{i}" for i in range(40)]
    for key in keys:
        store.versions.create("d", key.split("/")[1], _spec(key.replace("/", ".")), None)
    a, b = Replica(shards, "a", count=8), Replica(shards, "b", count=8)
    _settle([a, b], clock)

    seen_a = {v.key for v in store.controller.snapshot("default", a.scope())}
    seen_b = {v.key for v in store.controller.snapshot("default", b.scope())}
    assert seen_a.isdisjoint(seen_b) and seen_a | seen_b == set(keys)
    assert seen_a == {k for k in keys if shard_of(k, 8) in a.held}

    # b leaves, and one of its shards moves to a: b's reads and writes are refused.
    stale = b.scope()
    moved = min(b.held)
    shards.release([b.held.pop(moved)])
    shards.leave("b")
    a.round()
    assert moved in a.held
    with pytest.raises(ShardsLost):
        store.controller.publish([], fence=stale)
    with pytest.raises(ShardsLost):
        store.controller.snapshot("default", stale)
    store.controller.publish([], fence=a.scope())


def test_single_controller_lease_and_shards_exclude_each_other(db: Database) -> None:
    leases = LeaseStore(db)
    single = leases.acquire(CONTROLLER_LEASE, "single", ttl_s=60)
    assert single is not None
    shards = ShardStore(db)
    blocked = shards.round("sharded", K, 60, {})
    assert blocked.held == {} and blocked.blocked is not None
    leases.release(single)

    held = shards.round("sharded", K, 60, {})
    assert len(held.held) == K and held.blocked is None
    assert leases.acquire(CONTROLLER_LEASE, "single", ttl_s=60) is None


def test_replicas_with_another_shard_count_do_not_share(db: Database) -> None:
    clock = Clock()
    store = ShardStore(db, clock=clock)
    a = Replica(store, "a", count=64)
    _settle([a], clock)
    odd = Replica(store, "odd", count=32)
    result = odd.round()
    assert result.held == {} and result.blocked is not None and "32" in result.blocked
