"""Shard leases: several ``serve --shards K`` replicas share the controller's work.

A version belongs to shard ``crc32(key) % K`` (stable across processes and releases). Shard
leases are ``leases`` rows named ``shard:0000`` ... with the same fencing tokens as the
controller lease: each time a shard changes hands its token grows, and the controller's reads
and writes for a version carry its shard's fence (:class:`ShardScope`), so a replica that
stalled past the TTL cannot write over its successor.

Each replica heartbeats a ``controller_members`` row. In one transaction per round
(:meth:`ShardStore.round`) it renews the shards it holds, claims free or expired ones up to its
fair share (``ceil(K / live replicas)``) and learns which it holds beyond that share (to release
once its controller stopped acting on them). Rounds serialise on the ``controller`` lease row,
which also keeps a single-lease controller (``serve`` without ``--shards``) and sharded
replicas from ever acting at the same time.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from workerplane.store.db import Database
from workerplane.store.leases import CONTROLLER_LEASE, SHARD_LEASE_PREFIX, Fence, LeaseLost
from workerplane.store.models import ControllerMember, Lease

#: Member rows silent this long (in TTLs) are deleted; until then they only stop counting.
FORGET_MEMBERS_AFTER_TTLS = 20


def shard_of(version_key: str, count: int) -> int:
    """The shard of a version: a stable hash of its key (the same in every process)."""
    return zlib.crc32(version_key.encode()) % count


def shard_lease_name(shard: int) -> str:
    return f"{SHARD_LEASE_PREFIX}{shard:04d}"


class ShardsLost(LeaseLost):
    """A controller's read or write was refused: some of its shards moved to another replica."""

    def __init__(self, shards: Iterable[int]) -> None:
        self.shards = frozenset(shards)
        super().__init__(
            f"shards {sorted(self.shards)} moved on (their fencing tokens are stale); refused"
        )


@dataclass(frozen=True)
class ShardScope:
    """The shards a controller acts on (of ``count``), each with the fence it holds it under."""

    count: int
    fences: Mapping[int, Fence]

    def covers(self, version_key: str) -> bool:
        return shard_of(version_key, self.count) in self.fences

    def check(self, session: Session) -> None:
        """Refuse the transaction unless every shard is still held under its fence.

        The lease rows are locked (shared) until the transaction ends, so no takeover commits
        between this check and the caller's writes.

        Raises:
            ShardsLost: naming the shards that moved.
        """
        if not self.fences:
            return
        names = [fence.name for fence in self.fences.values()]
        current = {
            name: (holder, token)
            for name, holder, token in session.execute(
                select(Lease.name, Lease.holder, Lease.fencing_token)
                .where(Lease.name.in_(names))
                .with_for_update(read=True)
            )
        }
        lost = [s for s, f in self.fences.items() if current.get(f.name) != (f.holder, f.token)]
        if lost:
            raise ShardsLost(lost)


@dataclass
class Round:
    """What one :meth:`ShardStore.round` found and did.

    Attributes:
        held: every shard this replica holds now (renewed and newly claimed), with its fence.
        lost: shards it held before the round that another replica took (or that vanished).
        surplus: held shards beyond the fair share: release them once nothing acts on them.
        members: live replicas sharing the shards (this one included).
        blocked: why this replica may not hold shards now (``None`` when it may).
    """

    held: dict[int, Fence] = field(default_factory=dict)
    lost: frozenset[int] = frozenset()
    surplus: tuple[int, ...] = ()
    members: int = 0
    blocked: str | None = None


class ShardStore:
    """The shard leases and member heartbeats in the database (thread-safe, one session per
    call)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def round(self, holder: str, count: int, ttl_s: float, held: Mapping[int, Fence]) -> Round:
        """Heartbeat, renew ``held``, and claim free or expired shards up to the fair share."""
        now = self._clock()
        with self._db.write_session() as s:
            blocked = _serialise_rounds(s, now)
            members = _heartbeat(s, holder, count, ttl_s, now)
            if blocked is None:
                counts = sorted({m.shards for m in members} - {count})
                if counts:
                    blocked = f"live replicas use another shard count ({counts}, here {count})"
            rows = {
                r.name: r
                for r in s.scalars(
                    select(Lease).where(Lease.name.startswith(SHARD_LEASE_PREFIX)).with_for_update()
                )
            }
            result = Round(members=len(members), blocked=blocked)
            for shard, fence in held.items():
                row = rows.get(fence.name)
                if row is None or (row.holder, row.fencing_token) != (fence.holder, fence.token):
                    continue
                row.expires_at = now + ttl_s
                result.held[shard] = fence
            result.lost = frozenset(held) - frozenset(result.held)
            if blocked is not None:
                return result
            fair = -(-count // max(1, len(members)))
            for shard in range(count):
                if len(result.held) >= fair:
                    break
                if shard not in result.held:
                    claimed = _claim(
                        s, rows.get(shard_lease_name(shard)), shard, holder, ttl_s, now
                    )
                    if claimed is not None:
                        result.held[shard] = claimed
            result.surplus = tuple(sorted(result.held)[fair:])
            return result

    def release(self, fences: Iterable[Fence]) -> None:
        """Let these shard leases expire now (their rows and tokens stay: tokens never go back)."""
        with self._db.write_session() as s:
            for fence in fences:
                s.execute(
                    update(Lease)
                    .where(
                        Lease.name == fence.name,
                        Lease.holder == fence.holder,
                        Lease.fencing_token == fence.token,
                    )
                    .values(expires_at=0.0)
                )

    def leave(self, holder: str) -> None:
        """Stop counting as a member (the others' fair share grows at once)."""
        with self._db.write_session() as s:
            s.execute(delete(ControllerMember).where(ControllerMember.holder == holder))


def _serialise_rounds(s: Session, now: float) -> str | None:
    """Lock the ``controller`` lease row (every round and every single-lease acquire takes this
    lock first); the reason to hold no shards when a single controller holds that lease."""
    guard = s.scalar(select(Lease).where(Lease.name == CONTROLLER_LEASE).with_for_update())
    if guard is None:
        s.add(Lease(name=CONTROLLER_LEASE, holder="", expires_at=0.0, acquired_at=now))
        s.flush()
        return None
    if guard.expires_at > now:
        return "a single controller holds the controller lease (a replica without --shards)"
    return None


def _heartbeat(
    s: Session, holder: str, count: int, ttl_s: float, now: float
) -> list[ControllerMember]:
    """Record this replica as live; the live members (this one included)."""
    member = s.get(ControllerMember, holder)
    if member is None:
        s.add(ControllerMember(holder=holder, shards=count, heartbeat_at=now, started_at=now))
    else:
        member.shards, member.heartbeat_at = count, now
    s.flush()
    forget_before = now - FORGET_MEMBERS_AFTER_TTLS * ttl_s
    s.execute(delete(ControllerMember).where(ControllerMember.heartbeat_at < forget_before))
    return list(
        s.scalars(select(ControllerMember).where(ControllerMember.heartbeat_at > now - ttl_s))
    )


def _claim(
    s: Session, row: Lease | None, shard: int, holder: str, ttl_s: float, now: float
) -> Fence | None:
    """Take the shard if it is free or expired: a new, higher fencing token."""
    name = shard_lease_name(shard)
    if row is None:
        s.add(Lease(name=name, holder=holder, expires_at=now + ttl_s, acquired_at=now,
                    fencing_token=1))  # fmt: skip
        return Fence(name, holder, 1)
    if row.expires_at > now:
        return None
    row.fencing_token += 1
    row.holder, row.acquired_at, row.expires_at = holder, now, now + ttl_s
    return Fence(name, holder, row.fencing_token)
