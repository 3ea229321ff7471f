"""How long a started worker takes to poll: from the cycle that decided to start it to the first
cycle whose census counts it ready.

Measured from the :class:`~workerplane.controller.cycle.CycleReport` s alone, per group, so it
needs no hook in a provider. A decision that starts ``k`` workers while ``r`` are ready (or were
promised by earlier starts still pending) expects the ready count to reach ``r+1`` ... ``r+k``;
each expectation is met, and its wait measured, at the first cycle that sees that many ready. The
resolution is the group's poll interval: the census is read once a cycle.

Robust to what happens meanwhile: a scale-down forgets the starts above the new size, a call that
failed promises nothing, a group rebuilt (its first report again) starts afresh, and a start
never seen polling is given up after ``give_up_after_s`` (counted, not measured). Groups whose
provider cannot tell readiness (``ready`` is ``None``, e.g. Lambda) are not measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workerplane.controller.cycle import CycleReport
from workerplane.controller.cycle_facts import started_workers
from workerplane.planning.actions import Resize

#: A start not seen polling after this long is given up (a crash loop, an image that never pulls).
GIVE_UP_AFTER_S = 900.0


@dataclass
class _Pending:
    """Starts of one group not yet seen polling: the ready count each waits for, and when."""

    expected: list[tuple[int, float]] = field(default_factory=list)

    @property
    def highest(self) -> int | None:
        return self.expected[-1][0] if self.expected else None


class PollingLatency:
    """Turns a stream of cycle reports into "decided to start" to "seen polling" waits."""

    def __init__(self, give_up_after_s: float = GIVE_UP_AFTER_S) -> None:
        self._give_up_after_s = give_up_after_s
        self._pending: dict[tuple[str, str], _Pending] = {}
        #: Starts given up (never seen polling in time) since this tracker began.
        self.given_up = 0

    def observe(self, report: CycleReport) -> list[float]:
        """The waits (seconds) this report completes; records the starts it makes."""
        key = (report.version_key, report.group_id)
        ready = report.observation.census.ready
        if report.previous is None or ready is None:
            self._pending.pop(key, None)  # a rebuilt group, or one that cannot tell readiness
            if ready is None:
                return []
        pending = self._pending.setdefault(key, _Pending())
        now = report.started_at
        waits: list[float] = []
        waiting: list[tuple[int, float]] = []
        for target, decided_at in pending.expected:
            if target <= ready:
                waits.append(max(0.0, now - decided_at))
            elif now - decided_at > self._give_up_after_s:
                self.given_up += 1
            else:
                waiting.append((target, decided_at))
        pending.expected = waiting
        action = report.plan.action
        if isinstance(action, Resize) and report.failure is None:
            # A smaller size: the starts above it will never poll.
            pending.expected = [(t, at) for t, at in pending.expected if t <= action.size]
        started = started_workers(report)
        base = max(ready, pending.highest or 0)
        pending.expected.extend((base + i, now) for i in range(1, started + 1))
        if not pending.expected:
            del self._pending[key]
        return waits

    def pending(self) -> int:
        """Starts not yet seen polling, over every group."""
        return sum(len(p.expected) for p in self._pending.values())
