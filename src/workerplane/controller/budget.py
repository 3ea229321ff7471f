"""A token bucket on the controller's Temporal calls: the namespace's RPS budget, shared by all
groups, with groups that have work or workers served first.

A Temporal namespace has a frontend rate limit (``frontend.namespaceRPS``, or what a Temporal
Cloud plan allows) shared by every client of the namespace: workers, starters and this
controller. Thousands of groups read at their poll interval would spend it all on queue stats
(issue 14 measured a third of the calls rejected at 100 groups). Every read the controller makes
therefore takes tokens here first; when the bucket is empty, calls wait, and calls of *active*
groups (work or workers) are granted before those of idle groups at zero.

The caller's priority travels in a context variable set by the controller around each group
cycle, so the reads below the :class:`~workerplane.controller.interfaces.MetricsSource` seam
need no extra argument.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: How long a window the "in use" figure averages over.
USAGE_WINDOW_S = 10.0
#: Token arithmetic is in floats: a bucket this close to the cost holds it.
_EPSILON = 1e-9
#: The shortest wait for tokens (no busy loop on a rounding error).
_MIN_WAIT_S = 0.001


class Priority(enum.IntEnum):
    """Who waits for tokens: active groups are served before idle ones."""

    ACTIVE = 0
    IDLE = 1


#: The priority of the Temporal calls made by the current task (a group cycle sets it).
call_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "call_priority", default=Priority.ACTIVE
)


@dataclass(frozen=True)
class BudgetUsage:
    """What the bucket granted lately.

    Attributes:
        rps_budget: the configured calls per second.
        rps_used: calls granted per second over the last :data:`USAGE_WINDOW_S`.
        waiting: calls waiting for tokens now (active and idle).
    """

    rps_budget: float
    rps_used: float
    waiting: int


@dataclass
class _Waiter:
    cost: float
    granted: asyncio.Future[None]


class CallBudget:
    """A token bucket of ``rps`` tokens a second holding at most ``burst`` (one second's worth
    by default), one token per Temporal call.

    ``clock`` and ``sleep`` are injectable so tests drive it with a fake clock.
    """

    def __init__(
        self,
        rps: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rps <= 0:
            raise ValueError("the RPS budget must be positive")
        self.rps = rps
        self._burst = burst if burst is not None else max(1.0, rps)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._burst
        self._refilled_at = clock()
        self._queues: dict[Priority, deque[_Waiter]] = {p: deque() for p in Priority}
        self._dispatcher: asyncio.Task[None] | None = None
        self._granted: deque[tuple[float, float]] = deque()

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` calls may be made, at the current task's :data:`call_priority`."""
        priority = call_priority.get()
        ahead = any(self._queues[p] for p in Priority if p <= priority)
        if not ahead and self._take(cost):
            return
        waiter = _Waiter(cost, asyncio.get_running_loop().create_future())
        self._queues[priority].append(waiter)
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        await waiter.granted

    def usage(self) -> BudgetUsage:
        """The budget, what was granted per second lately, and how many calls wait."""
        self._forget_old(self._clock())
        used = sum(cost for _at, cost in self._granted) / USAGE_WINDOW_S
        waiting = sum(len(q) for q in self._queues.values())
        return BudgetUsage(rps_budget=self.rps, rps_used=used, waiting=waiting)

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled_at) * self.rps)
        self._refilled_at = now
        return now

    def _take(self, cost: float) -> bool:
        """Take ``cost`` tokens if there are enough (a call costing more than the burst may
        go once the bucket is full, leaving it in debt)."""
        now = self._refill()
        if self._tokens + _EPSILON < min(cost, self._burst):
            return False
        self._tokens -= cost
        self._granted.append((now, cost))
        self._forget_old(now)
        return True

    def _forget_old(self, now: float) -> None:
        while self._granted and self._granted[0][0] < now - USAGE_WINDOW_S:
            self._granted.popleft()

    def _head(self) -> _Waiter | None:
        for priority in Priority:
            queue = self._queues[priority]
            while queue and queue[0].granted.done():  # its caller was cancelled
                queue.popleft()
            if queue:
                return queue[0]
        return None

    async def _dispatch(self) -> None:
        """Grant waiting calls in priority order, sleeping until the bucket holds enough."""
        while (waiter := self._head()) is not None:
            if self._take(waiter.cost):
                for queue in self._queues.values():
                    if queue and queue[0] is waiter:
                        queue.popleft()
                waiter.granted.set_result(None)
                continue
            short = min(waiter.cost, self._burst) - self._tokens
            await self._sleep(max(short / self.rps, _MIN_WAIT_S))
