"""The reads groups share: one Temporal call answers every group that needs the same thing at
about the same time, and every call is paid for in the :class:`CallBudget` first.

Wraps a :class:`MetricsConnector` and gives sources that, for each group's read:

* split an unversioned target into its (queue, type) pairs, the unit the server answers, so two
  groups (or two versions) serving one queue share the read;
* widen a versioned target to every type the version's groups read, so the version's groups
  share one ``DescribeWorkerDeploymentVersion`` per cycle instead of one each;
* join a read of the same thing in flight, or reuse one finished less than ``window_s`` ago (the
  server caches stats for 5 s anyway), and never one older than the asking cycle accepts
  (:data:`read_max_age_s`): a group must not get back the answer its own last cycle had;
* take the read's tokens from the budget (:func:`stats_calls`, :func:`fresh_calls`) before
  making it, at the priority of the calling group.

A read showing backlog on a queue is reported through ``on_backlog``, so idle groups serving the
same queue are woken early at no extra cost.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from workerplane.config.model import TASK_QUEUE_TYPES
from workerplane.controller.budget import CallBudget
from workerplane.controller.interfaces import MetricsConnector, MetricsSource
from workerplane.planning.worker_beats import WorkerBeat, newest_beats
from workerplane.scaling.types import QueueStats
from workerplane.temporal.connection import ResolvedConnection
from workerplane.temporal.fresh import fresh_calls
from workerplane.temporal.metrics import MetricsUnavailable, QueueTarget, stats_calls
from workerplane.temporal.pollers import newest_polls, poller_calls

_T = TypeVar("_T")

#: The oldest finished read the current task accepts, in seconds (a group cycle sets half its
#: poll interval). A group whose poll interval is no longer than the shared window would
#: otherwise be answered every other cycle by its own previous read, and so read half as often
#: as it asked: with a 1 s poll and a 1 s window, a task landing on an idle queue waited up to
#: 2 s to be seen.
read_max_age_s: contextvars.ContextVar[float] = contextvars.ContextVar(
    "read_max_age_s", default=math.inf
)

#: A version's reads are shared by groups with this (namespace, deployment, build, queues).
_VersionKey = tuple[str, str, str, tuple[str, ...]]


def _version_key(target: QueueTarget) -> _VersionKey | None:
    if not (target.deployment_name and target.build_id):
        return None
    return (target.namespace, target.deployment_name, target.build_id, target.task_queues)


@dataclass
class _Read:
    result: asyncio.Future[Any]
    finished_at: float | None = None


class SharedReads:
    """A :class:`MetricsConnector` whose sources share reads and spend the budget.

    Args:
        connector: the real (or stand-in) connector.
        budget: the token bucket every read pays into.
        window_s: how long a finished read answers later requests for the same thing.
        on_backlog: told ``(namespace, queue)`` when a read sees tasks waiting on a queue.
    """

    def __init__(
        self,
        connector: MetricsConnector,
        budget: CallBudget,
        *,
        window_s: float = 1.0,
        on_backlog: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connector = connector
        self.budget = budget
        self._window = window_s
        self._on_backlog = on_backlog
        self._clock = clock
        self._sources: dict[int, tuple[MetricsSource, _SharedSource]] = {}
        self._reads: dict[tuple[object, ...], _Read] = {}
        self._prune_at = 256
        self._version_types: dict[_VersionKey, Counter[str]] = {}

    async def __call__(self, connection: ResolvedConnection) -> MetricsSource:
        inner = await self._connector(connection)
        known = self._sources.get(id(inner))
        if known is None or known[0] is not inner:
            known = (inner, _SharedSource(self, inner))
            self._sources[id(inner)] = known
        return known[1]

    def register(self, target: QueueTarget) -> None:
        """A group reading ``target`` started: its types join its version's shared read."""
        key = _version_key(target)
        if key is not None:
            self._version_types.setdefault(key, Counter()).update(target.task_queue_types)

    def unregister(self, target: QueueTarget) -> None:
        """A group reading ``target`` stopped."""
        key = _version_key(target)
        types = self._version_types.get(key) if key is not None else None
        if key is None or types is None:
            return
        types.subtract(target.task_queue_types)
        if not +types:
            del self._version_types[key]
        else:
            self._version_types[key] = +types

    def widened(self, target: QueueTarget) -> QueueTarget:
        """``target`` with every type its version's groups read (unchanged if unversioned)."""
        key = _version_key(target)
        types = self._version_types.get(key) if key is not None else None
        if not types:
            return target
        wanted = set(types) | set(target.task_queue_types)
        # One order for every group of the version, so they all ask the same read.
        return replace(target, task_queue_types=tuple(t for t in TASK_QUEUE_TYPES if t in wanted))

    def saw_backlog(self, namespace: str, queue: str) -> None:
        if self._on_backlog is not None:
            self._on_backlog(namespace, queue)

    async def shared(
        self, key: tuple[object, ...], cost: int, read: Callable[[], Awaitable[_T]]
    ) -> _T:
        """The result of ``read`` for ``key``: joined if in flight, reused if it finished within
        the window and :data:`read_max_age_s`, otherwise made after taking ``cost`` tokens."""
        now = self._clock()
        known = self._reads.get(key)
        max_age = min(self._window, read_max_age_s.get())
        if known is not None and (known.finished_at is None or now - known.finished_at <= max_age):
            result: _T = await asyncio.shield(known.result)
            return result
        entry = _Read(asyncio.get_running_loop().create_future())
        entry.result.add_done_callback(_consume)
        self._reads[key] = entry
        self._prune(now)
        try:
            await self.budget.acquire(cost)
            value = await read()
        except asyncio.CancelledError:
            self._reads.pop(key, None)
            entry.result.set_exception(MetricsUnavailable("the shared read was cancelled"))
            raise
        except BaseException as err:
            self._reads.pop(key, None)
            entry.result.set_exception(err)
            raise
        entry.finished_at = self._clock()
        entry.result.set_result(value)
        return value

    def _prune(self, now: float) -> None:
        if len(self._reads) < self._prune_at:
            return
        self._reads = {
            k: r
            for k, r in self._reads.items()
            if r.finished_at is None or now - r.finished_at <= self._window
        }
        self._prune_at = max(256, 2 * len(self._reads))


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a shared read's error as seen: the caller that made the read raised it already."""
    if not future.cancelled():
        future.exception()


class _SharedSource:
    """One connection's :class:`MetricsSource`, reading through :class:`SharedReads`."""

    def __init__(self, reads: SharedReads, inner: MetricsSource) -> None:
        self._reads = reads
        self._inner = inner

    async def read(self, target: QueueTarget) -> dict[str, QueueStats]:
        if _version_key(target) is not None:
            wide = self._reads.widened(target)
            by_type = await self._reads.shared(
                ("version", id(self._inner), wide),
                stats_calls(wide),
                lambda: self._inner.read(wide),
            )
            result = {t: by_type.get(t, QueueStats()) for t in target.task_queue_types}
        else:
            parts = await asyncio.gather(
                *(self._pair(target, queue, queue_type) for queue, queue_type in _pairs(target))
            )
            result = {t: QueueStats() for t in target.task_queue_types}
            for (_queue, queue_type), stats in zip(_pairs(target), parts, strict=True):
                result[queue_type] = result[queue_type] + stats
        if any(stats.backlog_count for stats in result.values()):
            for queue in target.task_queues:
                self._reads.saw_backlog(target.namespace, queue)
        return result

    async def _pair(self, target: QueueTarget, queue: str, queue_type: str) -> QueueStats:
        one = QueueTarget(target.namespace, (queue,), (queue_type,))
        by_type = await self._reads.shared(
            ("stats", id(self._inner), one), stats_calls(one), lambda: self._inner.read(one)
        )
        return by_type.get(queue_type, QueueStats())

    async def read_fresh(self, target: QueueTarget) -> Mapping[str, int]:
        if _version_key(target) is not None:
            return await self._inner.read_fresh(target)  # the hint sees no versioned queue
        counts = await asyncio.gather(
            *(self._fresh_pair(target, queue, queue_type) for queue, queue_type in _pairs(target))
        )
        result = dict.fromkeys(target.task_queue_types, 0)
        for (queue, queue_type), count in zip(_pairs(target), counts, strict=True):
            result[queue_type] += count
            if count:
                self._reads.saw_backlog(target.namespace, queue)
        return result

    async def _fresh_pair(self, target: QueueTarget, queue: str, queue_type: str) -> int:
        one = QueueTarget(target.namespace, (queue,), (queue_type,))
        by_type = await self._reads.shared(
            ("fresh", id(self._inner), one), fresh_calls(one), lambda: self._inner.read_fresh(one)
        )
        return int(by_type.get(queue_type, 0))

    async def read_beats(self, target: QueueTarget) -> Mapping[str, WorkerBeat]:
        """The workers' heartbeats, one shared ``ListWorkers`` per queue (a worker that serves
        several of the queues is listed once per queue: its newest heartbeat wins)."""
        parts = await asyncio.gather(*(self._beats(target, queue) for queue in target.task_queues))
        return newest_beats(beats.values() for beats in parts)

    async def _beats(self, target: QueueTarget, queue: str) -> Mapping[str, WorkerBeat]:
        one = QueueTarget(target.namespace, (queue,))
        return await self._reads.shared(
            ("beats", id(self._inner), target.namespace, queue),
            1,
            lambda: self._inner.read_beats(one),
        )

    async def read_pollers(self, target: QueueTarget) -> Mapping[str, float]:
        """The pollers' newest polls, one shared read per (queue, type): a poller of several
        of them keeps its newest poll."""
        pairs = _pairs(target)
        return newest_polls(await asyncio.gather(*(self._pollers(target, q, t) for q, t in pairs)))

    async def _pollers(
        self, target: QueueTarget, queue: str, queue_type: str
    ) -> Mapping[str, float]:
        one = QueueTarget(target.namespace, (queue,), (queue_type,))
        return await self._reads.shared(
            ("pollers", id(self._inner), one),
            poller_calls(one.task_queues, one.task_queue_types),
            lambda: self._inner.read_pollers(one),
        )


def _pairs(target: QueueTarget) -> list[tuple[str, str]]:
    return [(q, t) for q in target.task_queues for t in target.task_queue_types]
