"""The plan of one cycle: a closed set of frozen actions for the executor, plus a log line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workerplane.planning.achieved import LatencyWindow
from workerplane.planning.copies import CopyStarts
from workerplane.planning.pollers import PollerCensus
from workerplane.scaling.types import Decision


@dataclass(frozen=True)
class Invoke:
    """Invoke strategy: start ``count`` more workers."""

    count: int


@dataclass(frozen=True)
class Resize:
    """Worker-set strategy: hold ``size`` workers from now on."""

    size: int
    reason: str


@dataclass(frozen=True)
class Reconcile:
    """Ask again for the size already held: ``running`` workers exist instead (a worker crashed,
    was evicted, or a launch did not take)."""

    size: int
    running: int

    @property
    def reason(self) -> str:
        return f"{self.running} workers running, holding {self.size}: asking for it again"


@dataclass(frozen=True)
class NoAction:
    """Call no provider this cycle."""


Action = Invoke | Resize | Reconcile | NoAction


@dataclass(frozen=True)
class LogLine:
    """The decision log line of a cycle: a ``logging`` level and the message."""

    level: int
    message: str


@dataclass(frozen=True)
class GroupState:
    """What one group's planning carries from one cycle to the next.

    Attributes:
        scaler_state: the scaler's own state.
        held_size: the size last asked of a worker-set provider (``None`` before any).
        last_decision, last_reason: the previous decision, so an unchanged hold logs quietly.
        validation_error: why the provider cannot work (its own check, or a call refused for a
            reason that retrying will not fix).
        latency: the schedule-to-start the group's tasks achieved, per minute.
        prewarm: what pre-warming has timed of the group's worker startups
            (:class:`~workerplane.planning.prewarm.WarmTiming`; ``None`` before a warm-up).
        recurrence: the surges the group saw and their period, if they recur
            (:class:`~workerplane.planning.recurrence.Recurrence`; ``None``: not inferred).
        pollers: the split of the queues' pollers, which remembers the unmanaged ones for a
            while, and logs a change of them once, not every cycle.
        covered: how many workers of the scaler's size unmanaged pollers cover (``held_size``
            is the rest; :func:`~workerplane.planning.pollers.managed_share`).
        idle_since: since when (monotonic seconds) the group's queues have had no task waiting
            and none running; ``None`` while they have work or before the first reading.
        copy_starts: the tasks started since each cached stats copy first appeared
            (:mod:`workerplane.planning.copies`).
    """

    scaler_state: Any
    held_size: int | None = None
    last_decision: str = "none yet"
    last_reason: str = ""
    validation_error: str | None = None
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    prewarm: Any = None
    recurrence: Any = None
    pollers: PollerCensus = field(default_factory=PollerCensus)
    covered: int = 0
    idle_since: float | None = None
    copy_starts: CopyStarts = field(default_factory=CopyStarts)


@dataclass(frozen=True)
class Plan:
    """What to do this cycle.

    Attributes:
        decision: the decision after the drain and retire rules (what the status reports).
        action: what the executor does with the provider.
        log: the decision log line.
        state: the group's state for the next cycle.
        notice: a warning to log once, when the unmanaged pollers changed (``None`` if not).
    """

    decision: Decision
    action: Action
    log: LogLine
    state: GroupState
    notice: LogLine | None = None


@dataclass(frozen=True)
class ExecutionFailure:
    """A provider call of the plan failed.

    Attributes:
        message: what the status reports as its last error.
        validation_error: set when retrying will not help (access denied, not found, invalid).
        kind: the provider's error kind ("throttled", "access_denied", ...); ``None`` when the
            call failed with something else than a provider error.
    """

    message: str
    validation_error: str | None = None
    kind: str | None = None
