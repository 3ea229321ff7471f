"""Which Lambda invocations still run a worker, from what the workers themselves report.

Lambda cannot list running invocations, and an asynchronous invoke (``InvocationType=Event``)
drops the handler's result. What the workers do report is their polls: Temporal keeps, per task
queue, the identity of each poller and when it last started a poll (``DescribeTaskQueue``
``pollers[].last_access_time``). The handler (:mod:`workerplane.worker.aws_lambda`) names its
worker :func:`worker_identity` of its invocation ID, so each poller maps back to one invocation.

An invocation is counted as running while:

* it has not polled yet, for at most ``start_grace_s`` after the invoke (a cold start: the sandbox
  boots, imports and connects; by default the whole TTL); or
* it has polled, and its newest poll started less than ``poll_gap_s`` ago. A live handler polls
  again whenever a slot frees, and returns once idle for its ``idle_exit_s``; so a worker that has
  started no poll for longer than that has returned (or, with every slot held by an activity
  longer than ``poll_gap_s``, is full: it serves no backlog, and counting it as gone only lets
  the scaler add capacity that the waiting tasks need);

and never beyond ``ttl_s`` (the function's timeout). A returned invocation is therefore no longer
counted ``poll_gap_s`` after its last poll, instead of until its TTL. When the poller list cannot
be read, the count falls back to every invocation within its TTL (an upper bound, as before).

**Heartbeats.** The handler's worker also sends Temporal a heartbeat every second
(:mod:`workerplane.temporal.worker_heartbeats`): its status, its activity slots in use and the
activities it has processed. From them the census knows what polls cannot tell it:

* a worker whose heartbeat says it shut down has returned, at once;
* a worker that sends heartbeats is up, even with every slot held longer than ``poll_gap_s``;
* the activities in flight (the slots in use of the workers counted as running) and how long
  they have run, the activities completed (a running total over every invocation, returned ones
  included) and their mean run time: Little's law on each worker's own history, the slots it
  held between heartbeats over the activities it finished.

Once the census's workers beat, their heartbeats also stand in for the poller lists, which cost
a call per partition of every queue and type where ``ListWorkers`` costs one per queue: the
lists are read only while some invocation has not beaten yet
(:meth:`InvocationCensus.needs_pollers`).

Until some invocation of this census has sent a heartbeat (an older server, or a handler that
sends none), those three stay unknown (``None``) and the scalers assume every polling worker
full, as before.

Pure: the clock is injected, pollers come in as ``identity -> last poll (epoch seconds)`` and
heartbeats as ``identity -> WorkerBeat``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from workerplane.planning.identity import parse_identity
from workerplane.planning.worker_beats import BeatTotals, BeatTrack, WorkerBeat, beat_lag_s

#: The prefix of the worker identity the handler sets: ``workerplane-lambda:<invocation id>``.
IDENTITY_PREFIX = "workerplane-lambda:"


def worker_identity(invocation_id: str) -> str:
    """The Temporal worker identity of the worker run by invocation ``invocation_id``."""
    return f"{IDENTITY_PREFIX}{invocation_id}"


def invocation_of(identity: str) -> str | None:
    """The invocation ID in a worker identity set by :func:`worker_identity` (marked with its
    deployment or not: :mod:`workerplane.planning.identity`), else ``None``."""
    base = parse_identity(identity).base
    return base[len(IDENTITY_PREFIX) :] if base.startswith(IDENTITY_PREFIX) else None


@dataclass
class _Invocation:
    invoked_at: float
    last_poll: float | None = None
    """The newest ``last_access_time`` seen for its worker (server's epoch seconds)."""
    poll_seen_at: float | None = None
    """Our clock when ``last_poll`` last moved forward."""
    beats: BeatTrack = field(default_factory=BeatTrack)
    """Its worker's heartbeats."""


class InvocationCensus:
    """The invocations a Lambda provider started, and which of them still run a worker."""

    def __init__(
        self,
        *,
        ttl_s: float,
        start_grace_s: float | None,
        poll_gap_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.start_grace_s = start_grace_s
        self.poll_gap_s = poll_gap_s
        self._clock = clock
        self._invocations: dict[str, _Invocation] = {}
        self._pollers_known = False
        self._beats_known = False
        self._ever_beat = False
        #: The activities and slot-seconds of invocations past their TTL.
        self._totals = BeatTotals()

    def add(self, invocation_ids: Iterable[str]) -> None:
        now = self._clock()
        for invocation_id in invocation_ids:
            self._invocations[invocation_id] = _Invocation(invoked_at=now)

    def _forget_expired(self, now: float) -> None:
        kept: dict[str, _Invocation] = {}
        for key, inv in self._invocations.items():
            if now - inv.invoked_at < self.ttl_s:
                kept[key] = inv
            else:
                self._totals.forget(inv.beats)
        self._invocations = kept

    def pending(self) -> bool:
        """Whether any invocation is within its TTL (else there is nothing to look up)."""
        self._forget_expired(self._clock())
        return bool(self._invocations)

    def _ours(self, identities: Iterable[str]) -> Iterable[tuple[str, _Invocation]]:
        """``(identity, invocation)`` for the identities that name one of our invocations."""
        for identity in identities:
            invocation = self._invocations.get(invocation_of(identity) or "")
            if invocation is not None:
                yield identity, invocation

    def observe_pollers(self, last_polls: Mapping[str, float] | None) -> None:
        """Take in the queue's pollers (``identity -> last poll``), or ``None``: unreadable."""
        self._pollers_known = last_polls is not None
        if last_polls is None:
            return
        now = self._clock()
        for identity, invocation in self._ours(last_polls):
            last_poll = last_polls[identity]
            if invocation.last_poll is None or last_poll > invocation.last_poll:
                invocation.last_poll = last_poll
                invocation.poll_seen_at = now

    def observe_beats(self, beats: Mapping[str, WorkerBeat] | None) -> None:
        """Take in the workers' heartbeats (``identity -> WorkerBeat``), or ``None``: unreadable."""
        self._beats_known = beats is not None
        if beats is None:
            return
        now = self._clock()
        for identity, invocation in self._ours(beats):
            if invocation.beats.take(beats[identity], now):
                self._ever_beat = True

    def needs_pollers(self) -> bool:
        """Whether the poller lists can tell this cycle what the heartbeats do not.

        Heartbeats say as much as polls (a worker that beats is up) and more, at one call per
        queue where the poller lists take one per partition of every queue and type (8 for one
        queue). So once the census's workers beat and their heartbeats were read this cycle, the
        lists are read only while some invocation has not beaten yet: a handler still starting
        (it polls about a second before its first heartbeat, and counts as ready from then), or
        one that sends no heartbeats.
        """
        if not self._counts():
            return True
        return any(inv.beats.beat is None for inv in self._invocations.values())

    def _alive_known(self) -> bool:
        """Whether the census can tell which invocations run: from their polls or heartbeats."""
        return self._pollers_known or self._counts()

    def _polling(self, invocation: _Invocation, now: float) -> bool:
        if invocation.beats.shut_down:
            return False
        return invocation.beats.beating(now, self.poll_gap_s) or (
            invocation.poll_seen_at is not None and now - invocation.poll_seen_at < self.poll_gap_s
        )

    def _starting(self, invocation: _Invocation, now: float) -> bool:
        grace_s = self.ttl_s if self.start_grace_s is None else self.start_grace_s
        return (
            invocation.poll_seen_at is None
            and invocation.beats.beat is None
            and now - invocation.invoked_at < grace_s
        )

    def running(self) -> int:
        """Invocations counted as running (see the module doc)."""
        now = self._clock()
        self._forget_expired(now)
        if not self._alive_known():
            return len(self._invocations)
        return sum(
            1
            for inv in self._invocations.values()
            if self._polling(inv, now) or self._starting(inv, now)
        )

    def ready(self) -> int | None:
        """Invocations whose worker polls (or beats) now; ``None`` while neither is known."""
        if not self._alive_known():
            return None
        now = self._clock()
        return sum(1 for inv in self._invocations.values() if self._polling(inv, now))

    def _counts(self) -> bool:
        """Whether the heartbeats can count tasks: read now, and sent by this census's workers."""
        return self._beats_known and self._ever_beat

    def in_flight(self) -> int | None:
        """Activities running on the invocations counted as running; ``None`` when unknown."""
        if not self._counts():
            return None
        now = self._clock()
        self._forget_expired(now)
        return sum(
            inv.beats.beat.activities_in_flight
            for inv in self._invocations.values()
            if inv.beats.beat is not None and self._polling(inv, now)
        )

    def in_flight_s(self) -> float | None:
        """How long the activities of :meth:`in_flight` had run at their workers' last
        heartbeats, summed (:func:`~workerplane.planning.worker_beats.aged_in_flight_s`);
        ``None`` when unknown."""
        if not self._counts():
            return None
        now = self._clock()
        return sum(
            inv.beats.in_flight_s
            for inv in self._invocations.values()
            if inv.beats.beat is not None and self._polling(inv, now)
        )

    def in_flight_lag_s(self) -> float:
        """How old :meth:`in_flight` may be: the longest heartbeat interval of the invocations
        counted (0 when it is unknown)."""
        if not self._counts():
            return 0.0
        return beat_lag_s(inv.beats.beat for inv in self._invocations.values() if inv.beats.beat)

    def tasks_completed(self) -> int | None:
        """Activities every invocation has finished (a running total); ``None`` when unknown."""
        if not self._counts():
            return None
        return self._totals.completed(inv.beats for inv in self._invocations.values())

    def mean_task_s(self) -> float | None:
        """Mean activity run time: slots held over activities finished; ``None`` when unknown
        or before any finished."""
        if not self._counts():
            return None
        return self._totals.mean_task_s(inv.beats for inv in self._invocations.values())
