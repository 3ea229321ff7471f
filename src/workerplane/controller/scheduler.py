"""When each group's next cycle runs: one heap of due times for every group, instead of one
sleeping task (and one timer) per group.

The controller pops the cycles that are due, runs them with bounded concurrency, and puts each
group back at its next due time: its scaler's poll interval while it has work or workers, the
(longer) idle read interval at zero. Each due time is jittered, so groups started together, or
sharing an interval, do not fire together for ever. Waking a group (e.g. a shared read saw
backlog on its queue) moves its due time to now.

Nothing here reads a clock: the caller passes ``now``, so tests drive it with a fake one.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass

from workerplane.planning.status import GroupStatus

#: Default jitter: a due time lands within ±10% of the interval.
DEFAULT_JITTER = 0.1


class CycleScheduler:
    """A heap of (due time, group handle), with lazy removal.

    Args:
        jitter: each interval is stretched or shrunk by up to this fraction (0 to 0.5).
        rng: the random source for the jitter (seed it in tests).
    """

    def __init__(self, *, jitter: float = DEFAULT_JITTER, rng: random.Random | None = None) -> None:
        if not 0.0 <= jitter <= 0.5:
            raise ValueError("jitter is a fraction of the interval between 0 and 0.5")
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._heap: list[tuple[float, int, int]] = []
        self._due: dict[int, tuple[float, int]] = {}
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, handle: int) -> bool:
        return handle in self._due

    def jittered(self, interval: float) -> float:
        """``interval`` stretched or shrunk by a random fraction within the jitter."""
        return interval * (1.0 + self._rng.uniform(-self._jitter, self._jitter))

    def after(self, handle: int, now: float, interval: float) -> float:
        """Schedule ``handle`` one jittered ``interval`` after ``now``; returns its due time."""
        return self.at(handle, now + self.jittered(interval))

    def within(self, handle: int, now: float, interval: float) -> float:
        """Schedule ``handle`` at most ``interval`` after ``now`` (jittered shorter only): for a
        bound the user set, such as the idle read interval."""
        return self.at(handle, now + interval * (1.0 - self._rng.uniform(0.0, self._jitter)))

    def first(self, handle: int, now: float, interval: float) -> float:
        """Schedule a new group's first cycle within the first jitter fraction of its
        interval: at once, nearly, but groups started together are spread a little."""
        return self.at(handle, now + interval * self._rng.uniform(0.0, self._jitter))

    def at(self, handle: int, due: float) -> float:
        """Schedule ``handle`` at ``due`` (replacing any due time it had)."""
        entry = (due, next(self._sequence))
        self._due[handle] = entry
        heapq.heappush(self._heap, (*entry, handle))
        return due

    def wake(self, handle: int, now: float) -> bool:
        """Move a scheduled ``handle`` to ``now`` if it was due later; returns whether it moved."""
        current = self._due.get(handle)
        if current is None or current[0] <= now:
            return False
        self.at(handle, now)
        return True

    def remove(self, handle: int) -> None:
        """Forget ``handle`` (its heap entry is skipped when it surfaces)."""
        self._due.pop(handle, None)

    def pop_due(self, now: float) -> list[int]:
        """Every handle due at ``now``, earliest first; they are no longer scheduled."""
        ready: list[int] = []
        while self._heap and self._heap[0][0] <= now:
            due, sequence, handle = heapq.heappop(self._heap)
            if self._due.get(handle) == (due, sequence):
                del self._due[handle]
                ready.append(handle)
        return ready

    def next_due(self) -> float | None:
        """The earliest due time, or ``None`` when nothing is scheduled."""
        while self._heap:
            due, sequence, handle = self._heap[0]
            if self._due.get(handle) == (due, sequence):
                return due
            heapq.heappop(self._heap)
        return None


def has_activity(status: GroupStatus | None) -> bool:
    """Whether a group's last status shows work or workers: it then cycles at its poll
    interval and its reads go first in the budget."""
    if status is None:
        return False
    return bool(
        status.workers_running
        or status.pollers
        or status.backlog
        or status.in_flight
        or status.desired
    )


@dataclass(frozen=True)
class IdleReadPlan:
    """How often idle groups at zero can be read within the budget.

    Attributes:
        interval_s: the effective idle read interval: the user's bound, or longer when the
            budget left by active groups cannot read every idle group that often.
        active_rps: calls per second the active groups need at their poll intervals.
        idle_calls: calls one round of reading every idle group costs (shared reads once).
    """

    interval_s: float
    active_rps: float
    idle_calls: float


def plan_idle_reads(
    *,
    rps_budget: float,
    active_rps: float,
    idle_calls: float,
    idle_bound_s: float,
    idle_share_floor: float = 0.1,
    headroom: float = 0.9,
) -> IdleReadPlan:
    """The effective idle read interval: ``idle_bound_s`` unless reading ``idle_calls`` calls
    in that time would exceed what is left of ``rps_budget`` (times ``headroom``) after the
    active groups; idle groups always keep at least ``idle_share_floor`` of the budget."""
    left = max(rps_budget * headroom - active_rps, rps_budget * idle_share_floor)
    interval = max(idle_bound_s, idle_calls / left) if idle_calls else idle_bound_s
    return IdleReadPlan(interval_s=interval, active_rps=active_rps, idle_calls=idle_calls)
