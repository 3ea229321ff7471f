"""Schedule-to-start as every task really got it: a small mergeable sketch of latencies.

Workers measure each task (the activity's start minus its attempt's scheduled time) and keep a
:class:`LatencySketch` that only grows. The controller subtracts two of a group's sketches to
learn what happened in between (:meth:`LatencySketch.since`), and any window is the sum of those
deltas (:meth:`LatencySketch.merge`). Nothing is ever inferred from queue statistics here.

The sketch has logarithmic buckets with a relative accuracy of :data:`RELATIVE_ACCURACY`: a value
``v`` above :data:`FLOOR_S` lands in bucket ``ceil(log(v) / log(GAMMA))``, whose representative
value is within 2 % of every value in it (the DDSketch construction). Values under 1 ms count
in one bucket of their own. A sketch of a whole day of tasks stays a few hundred numbers.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The largest relative error of a quantile read from a sketch.
RELATIVE_ACCURACY = 0.02
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
#: Latencies below this are counted together: no scaling decision depends on them.
FLOOR_S = 0.001
_LOG_GAMMA = math.log(GAMMA)


def bucket_of(seconds: float) -> int | None:
    """The bucket a latency falls in; ``None`` for the under-a-millisecond bucket."""
    if seconds < FLOOR_S:
        return None
    return math.ceil(math.log(seconds) / _LOG_GAMMA)


def bucket_value(index: int) -> float:
    """The value a bucket stands for: within :data:`RELATIVE_ACCURACY` of all it holds."""
    return 2 * GAMMA**index / (GAMMA + 1)


@dataclass(frozen=True)
class LatencySketch:
    """Counts of latencies by logarithmic bucket.

    Attributes:
        buckets: ``(bucket index, count)`` pairs, sorted by index, counts above zero.
        under_floor: latencies under :data:`FLOOR_S`.
        sum_s: the sum of every latency counted (for a mean, and a Prometheus histogram's sum).
    """

    buckets: tuple[tuple[int, int], ...] = ()
    under_floor: int = 0
    sum_s: float = 0.0

    @property
    def count(self) -> int:
        return self.under_floor + sum(n for _, n in self.buckets)

    @classmethod
    def of(cls, latencies: Iterable[float]) -> LatencySketch:
        """The sketch of some latencies (seconds; negative ones, from clock skew, count as 0)."""
        counts: dict[int, int] = {}
        under, total = 0, 0.0
        for value in latencies:
            value = max(0.0, value)
            total += value
            index = bucket_of(value)
            if index is None:
                under += 1
            else:
                counts[index] = counts.get(index, 0) + 1
        return cls(tuple(sorted(counts.items())), under, total)

    def merge(self, other: LatencySketch) -> LatencySketch:
        """Both sketches' latencies together."""
        counts = dict(self.buckets)
        for index, n in other.buckets:
            counts[index] = counts.get(index, 0) + n
        return LatencySketch(
            tuple(sorted(counts.items())),
            self.under_floor + other.under_floor,
            self.sum_s + other.sum_s,
        )

    def since(self, earlier: LatencySketch) -> LatencySketch:
        """The latencies counted after ``earlier`` was taken, when both come from the same
        growing source. If ``earlier`` holds counts this one lacks, the source restarted (a
        worker was replaced): then all of this sketch is new."""
        previous = dict(earlier.buckets)
        counts: dict[int, int] = {}
        for index, n in self.buckets:
            delta = n - previous.pop(index, 0)
            if delta < 0:
                return self
            if delta:
                counts[index] = delta
        under = self.under_floor - earlier.under_floor
        if previous or under < 0:
            return self
        total = max(0.0, self.sum_s - earlier.sum_s)
        return LatencySketch(tuple(sorted(counts.items())), under, total)

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1) of the latencies, ``None`` for an empty sketch."""
        total = self.count
        if total == 0:
            return None
        rank = min(total - 1, max(0, math.ceil(q * total) - 1))
        if rank < self.under_floor:
            return 0.0
        seen = self.under_floor
        for index, n in self.buckets:
            seen += n
            if rank < seen:
                return bucket_value(index)
        return bucket_value(self.buckets[-1][0])  # pragma: no cover - rank < total always

    def cumulative_counts(self, bounds: Iterable[float]) -> list[int]:
        """How many latencies are at most each bound (by their bucket's value): the cumulative
        buckets of a Prometheus histogram."""
        result = []
        for bound in bounds:
            n = self.under_floor if bound >= 0 else 0
            n += sum(c for index, c in self.buckets if bucket_value(index) <= bound)
            result.append(n)
        return result

    def to_wire(self) -> dict[str, Any]:
        """A compact JSON-able form (what a worker's status file and the store hold)."""
        return {
            "b": {str(index): n for index, n in self.buckets},
            "u": self.under_floor,
            "s": round(self.sum_s, 6),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> LatencySketch:
        """Read :meth:`to_wire`'s form; ``ValueError`` when it is not one."""
        try:
            buckets = tuple(sorted((int(k), int(v)) for k, v in dict(data.get("b", {})).items()))
            under = int(data.get("u", 0))
            total = float(data.get("s", 0.0))
        except (TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"not a latency sketch: {err}") from err
        if under < 0 or any(n <= 0 for _, n in buckets):
            raise ValueError("not a latency sketch: counts must be positive")
        return cls(buckets, under, total)


@dataclass
class LatencyRecorder:
    """A worker's running sketch, recorded one task at a time (cheap: a dict update)."""

    _counts: dict[int, int] = field(default_factory=dict)
    _under_floor: int = 0
    _sum_s: float = 0.0

    def record(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self._sum_s += seconds
        index = bucket_of(seconds)
        if index is None:
            self._under_floor += 1
        else:
            self._counts[index] = self._counts.get(index, 0) + 1

    def snapshot(self) -> LatencySketch:
        return LatencySketch(tuple(sorted(self._counts.items())), self._under_floor, self._sum_s)


@dataclass(frozen=True)
class AchievedLatency:
    """The schedule-to-start a group's tasks really got over a window, against its SLO.

    Attributes:
        window_s: how far back the figures reach.
        count: tasks measured in the window.
        p50_s, p95_s, p99_s: their quantiles (``None`` with no task).
        slo_s: the group's SLO (``None`` when its scaler has none).
        missing_slo: p95 is above the SLO.
        reason: why the controller believes it missed (``None`` when it did not).
        target_wait_fraction: the share of the SLO the ``slo`` scaler now plans waiting tasks
            to start within (``None`` for other scalers).
        configured_wait_fraction: the share the group's spec sets, so a reader can tell a
            target the feedback tightened or relaxed from the configured one.
        feedback: why that share differs from the configured one: the achieved p95 that moved
            it (:mod:`workerplane.scaling.slo_feedback`); ``None`` at the configured share.
    """

    window_s: float
    count: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    slo_s: float | None
    missing_slo: bool
    reason: str | None
    target_wait_fraction: float | None = None
    configured_wait_fraction: float | None = None
    feedback: str | None = None


@dataclass(frozen=True)
class GroupFacts:
    """What the controller knows of a group that explains a missed SLO.

    ``warmed``: workers were warmed ahead of the work (a schedule's run, or a surge that
    recurs): its tasks found them polling, so neither the signal delay nor a startup explains a
    miss, and the size of the warm pool is what more capacity fixes."""

    desired: int | None
    max_count: int | None
    startup_s: float | None
    signal_delay_s: float
    warmed: bool = False


def achieved(
    sketch: LatencySketch, window_s: float, slo_s: float | None, facts: GroupFacts
) -> AchievedLatency:
    """Summarise ``sketch`` against the SLO, with the likeliest reason for a miss."""
    p95 = sketch.quantile(0.95)
    missing = slo_s is not None and p95 is not None and p95 > slo_s
    return AchievedLatency(
        window_s=window_s,
        count=sketch.count,
        p50_s=sketch.quantile(0.5),
        p95_s=p95,
        p99_s=sketch.quantile(0.99),
        slo_s=slo_s,
        missing_slo=missing,
        reason=miss_reason(slo_s, facts) if missing and slo_s is not None else None,
    )


class MissCause(enum.StrEnum):
    """Why tasks waited longer than the SLO (see :func:`miss_cause`)."""

    MAX_COUNT = "max_count reached"
    STARTUP = "startup too slow"
    SIGNAL = "signal delay"
    CAPACITY = "too few workers"


def miss_cause(slo_s: float, facts: GroupFacts) -> MissCause:
    """Why tasks waited longer than the SLO, in the order the causes dominate: a capped group
    cannot add capacity at all; a start slower than the SLO cannot help the first tasks of a
    burst; a task that finds no worker waits the signal delay and a startup, and when those
    alone exceed the SLO that is what is left. Otherwise a task could have started in time had
    a worker been there: the capacity held was short, which more workers fix (the ``slo``
    scaler's feedback tightens only then: :mod:`workerplane.scaling.slo_feedback`)."""
    desired, ceiling = facts.desired, facts.max_count
    if ceiling is not None and desired is not None and desired >= ceiling:
        return MissCause.MAX_COUNT
    if facts.warmed:
        return MissCause.CAPACITY
    if facts.startup_s is not None and facts.startup_s >= slo_s:
        return MissCause.STARTUP
    if facts.signal_delay_s + (facts.startup_s or 0.0) >= slo_s:
        return MissCause.SIGNAL
    return MissCause.CAPACITY


def miss_reason(slo_s: float, facts: GroupFacts) -> str:
    """:func:`miss_cause` in a sentence."""
    cause = miss_cause(slo_s, facts)
    if cause is MissCause.MAX_COUNT:
        return f"max_count reached: the group holds its maximum of {facts.max_count} workers"
    if cause is MissCause.STARTUP:
        return (
            f"startup too slow: workers take {facts.startup_s or 0.0:.1f} s to poll, "
            f"more than the {slo_s:g} s SLO"
        )
    if cause is MissCause.SIGNAL:
        return (
            f"signal delay: a task can wait about {facts.signal_delay_s:.1f} s before the "
            "controller sees it (the server's stats cache and the poll interval)"
        )
    if facts.warmed:
        return "too few workers: the pool warmed ahead of the work was short"
    return (
        f"too few workers: a task that finds no worker starts within "
        f"{facts.signal_delay_s + (facts.startup_s or 0.0):.1f} s, inside the {slo_s:g} s SLO, "
        "so the capacity held was short"
    )
