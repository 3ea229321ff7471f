"""A scaling group's workers and their tasks, counted from the heartbeats they send Temporal.

A provider that cannot ask its workers what they run (an ECS service, a Cloud Run worker pool, a
webhook launcher, a Kubernetes Deployment whose pods carry no report) knows how many workers it
holds, at best, and not how many of their slots are busy. The scalers then take every polling
worker as full, and a group sized that way does not shrink while Temporal's rates still show
activity. The workers say it themselves: workerplane's runtime sends Temporal a heartbeat every
second (:mod:`workerplane.worker.heartbeats`) with its status, its activity slots in use and
free, and the activities it has finished; ``ListWorkers`` returns the newest one of each worker
(:mod:`workerplane.temporal.worker_heartbeats`), and the controller reads them for such groups
(:func:`workerplane.controller.cycle.observe`).

:class:`MarkedWorkersCensus` takes those heartbeats in, keeps the workers whose identity carries
the group's marker (:mod:`workerplane.planning.identity`), and fills in what the provider's census
left unknown (:meth:`MarkedWorkersCensus.fill_in`):

* ``ready``: the workers beating now (when the provider cannot tell);
* ``in_flight``: their activity slots in use;
* ``slots``: the fewest activity slots one of them has (in use and free);
* ``tasks_completed``: the activities every worker of the group has finished since the census
  began, workers gone since included (a total that only grows);
* ``mean_task_s``: Little's law on each worker's own history, the slots it held between
  heartbeats over the activities it finished.

A worker counts as beating while its heartbeats move forward: it is gone once one says it shut
down, or once none newer has come for ``gone_after_s`` or three of its own intervals, whichever
is longer (a task killed outright sends no last heartbeat, and the server keeps its last one).

The census is left as the provider gave it, and the scalers work as before (taking every polling
worker as full), until a worker of the group has sent a heartbeat (an older server, heartbeats
off, or workers of your own code on an SDK runtime that sends none), and while any of its
workers beats less often than every ``MAX_COUNTING_INTERVAL_S``: a count a minute old (the SDK's
default interval) would size the group on tasks long finished. Workers that send no heartbeat at
all cannot be seen: a group that mixes them with workers that do is counted short.

:class:`BeatTrack` (one worker's heartbeats) is shared with the Lambda census
(:mod:`workerplane.providers.aws_lambda.census`), which keys its workers by invocation instead.
Pure: the clock is injected and the heartbeats come in as ``identity -> WorkerBeat``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from workerplane.planning.identity import WorkerMarker, parse_identity
from workerplane.scaling.types import WorkerCensus


@dataclass(frozen=True)
class WorkerBeat:
    """The newest heartbeat of one worker, as far as the controller uses it.

    Attributes:
        identity: the worker's identity (what it polls under).
        task_queue: the queue it serves.
        running: its status is ``RUNNING`` (not shutting down or shut down).
        beat_at: when the worker sent it (epoch seconds, the worker's clock).
        activities_in_flight: activity slots in use.
        activities_processed: activities it has finished since it started (a running total).
        activity_slots: its activity slots, in use and free (0 when it did not say).
        interval_s: the time since its heartbeat before (its heartbeat interval; 0 for its
            first).
    """

    identity: str
    task_queue: str
    running: bool
    beat_at: float
    activities_in_flight: int
    activities_processed: int
    activity_slots: int = 0
    interval_s: float = 0.0


#: The heartbeat interval taken for a worker that has sent only one (the runtime's).
DEFAULT_INTERVAL_S = 1.0

#: A worker whose heartbeats have not moved forward for this long is gone: ten missed beats at
#: the runtime's one-second interval, well past a slow ``ListWorkers`` read or a GC pause.
DEFAULT_GONE_AFTER_S = 10.0

#: A worker is gone after this many of its own heartbeat intervals without a newer one (when
#: that is longer than ``gone_after_s``).
GONE_AFTER_BEATS = 3

#: Heartbeats further apart than this cannot count a group's tasks: the census is left unknown.
MAX_COUNTING_INTERVAL_S = 5.0

#: A gone worker is forgotten (its totals kept) once it has been silent this long; until then a
#: worker that beats again after a stall is the same worker, not a new one counted twice.
FORGET_AFTER_S = 600.0

#: How many forgotten workers' identities are remembered (the most recently forgotten).
REMEMBERED_GONE = 10_000


def beat_lag_s(beats: Iterable[WorkerBeat]) -> float:
    """How old a count from ``beats`` may be: their longest interval (a second, the runtime's,
    for workers that have sent only one)."""
    return max(
        (beat.interval_s or DEFAULT_INTERVAL_S for beat in beats), default=DEFAULT_INTERVAL_S
    )


def newest_beats(lists: Iterable[Iterable[WorkerBeat]]) -> dict[str, WorkerBeat]:
    """``identity -> newest heartbeat`` over several reads (a worker that serves several queues
    is listed once per queue)."""
    newest: dict[str, WorkerBeat] = {}
    for beats in lists:
        for beat in beats:
            known = newest.get(beat.identity)
            if known is None or beat.beat_at > known.beat_at:
                newest[beat.identity] = beat
    return newest


@dataclass
class BeatTrack:
    """The heartbeats of one worker, as a census has taken them in.

    Attributes:
        beat: the newest heartbeat taken in (``None`` before the first).
        seen_at: the census's clock when ``beat`` last moved forward.
        slot_seconds: activity slots held between its heartbeats, summed (slots x seconds).
        in_flight_s: how long the activities in flight at ``beat`` had run by then, summed (an
            estimate: heartbeats count tasks, not their ages).
    """

    beat: WorkerBeat | None = None
    seen_at: float | None = None
    slot_seconds: float = 0.0
    in_flight_s: float = 0.0

    def take(self, beat: WorkerBeat, now: float) -> bool:
        """Take in ``beat`` if it is newer than the last one; returns whether it was."""
        last = self.beat
        if last is not None and beat.beat_at <= last.beat_at:
            return False
        if last is None:
            # Started within its interval before, on average half of it.
            self.in_flight_s = beat.activities_in_flight * beat.interval_s / 2.0
        else:
            span = beat.beat_at - last.beat_at
            # The slots the last heartbeat saw held, until this one.
            self.slot_seconds += last.activities_in_flight * span
            self.in_flight_s = aged_in_flight_s(last, beat, self.in_flight_s)
        self.beat = beat
        self.seen_at = now
        return True

    @property
    def shut_down(self) -> bool:
        """Its last heartbeat says the worker stopped."""
        return self.beat is not None and not self.beat.running

    def beating(self, now: float, gone_after_s: float) -> bool:
        """It runs, and a heartbeat newer than the last came within ``gone_after_s`` (or
        ``GONE_AFTER_BEATS`` of its own intervals, if longer)."""
        if self.beat is None or not self.beat.running or self.seen_at is None:
            return False
        return now - self.seen_at < max(gone_after_s, GONE_AFTER_BEATS * self.beat.interval_s)

    @property
    def processed(self) -> int:
        """The activities it has finished (its running total)."""
        return self.beat.activities_processed if self.beat is not None else 0


@dataclass
class BeatTotals:
    """What a census's workers have finished, the forgotten ones included: a running total that
    only grows, and the mean task length from it (Little's law on each worker's own history:
    the slots it held between heartbeats over the activities it finished).

    A census keeps its live workers' :class:`BeatTrack` and folds a track in here once it
    forgets the worker (:meth:`forget`).
    """

    forgotten_processed: int = 0
    forgotten_slot_seconds: float = 0.0

    def forget(self, track: BeatTrack) -> None:
        """Keep a forgotten worker's totals."""
        self.forgotten_processed += track.processed
        self.forgotten_slot_seconds += track.slot_seconds

    def completed(self, live: Iterable[BeatTrack]) -> int:
        """Activities finished by the forgotten workers and by ``live``."""
        return self.forgotten_processed + sum(track.processed for track in live)

    def mean_task_s(self, live: Iterable[BeatTrack]) -> float | None:
        """Slots held over activities finished (``None`` before any finished)."""
        tracks = list(live)
        completed = self.completed(tracks)
        held = self.forgotten_slot_seconds + sum(track.slot_seconds for track in tracks)
        return held / completed if completed and held > 0 else None


def aged_in_flight_s(last: WorkerBeat, beat: WorkerBeat, in_flight_s: float) -> float:
    """How long the tasks in flight at ``beat`` have run, from ``in_flight_s`` at ``last``: the
    tasks that ran then aged by the interval, less those that finished (taken as of the mean
    age), and those that started since, half the interval each."""
    span = beat.beat_at - last.beat_at
    ran = last.activities_in_flight
    finished = min(ran, max(0, beat.activities_processed - last.activities_processed))
    aged = (in_flight_s + ran * span) * ((ran - finished) / ran) if ran else 0.0
    started = max(0, beat.activities_in_flight - (ran - finished))
    return aged + started * span / 2.0


class MarkedWorkersCensus:
    """The workers of one scaling group that send heartbeats, told apart by their marker."""

    def __init__(
        self,
        marker: WorkerMarker,
        *,
        gone_after_s: float = DEFAULT_GONE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.marker = marker
        self.gone_after_s = gone_after_s
        self._clock = clock
        self._workers: dict[str, BeatTrack] = {}
        self._known = False
        self._ever_beat = False
        #: What forgotten workers had finished, and the slot-seconds they held.
        self._totals = BeatTotals()
        #: Forgotten workers: ``identity -> (last heartbeat's time, activities finished)``.
        self._forgotten: dict[str, tuple[float, int]] = {}

    def _ours(self, identity: str) -> bool:
        return parse_identity(identity).marker == self.marker

    def observe(self, beats: Mapping[str, WorkerBeat] | None) -> None:
        """Take in the queue's heartbeats (``identity -> newest``), or ``None``: unreadable now."""
        self._known = beats is not None
        now = self._clock()
        if beats:
            newest = max(beat.beat_at for beat in beats.values())
            for identity, beat in beats.items():
                if self._ours(identity):
                    self._take(identity, beat, now, newest)
        self._forget_silent(now)

    def _take(self, identity: str, beat: WorkerBeat, now: float, newest: float) -> None:
        track = self._workers.get(identity)
        if track is not None:
            track.take(beat, now)
            return
        forgotten = self._forgotten.get(identity)
        if forgotten is not None:
            if beat.beat_at <= forgotten[0]:
                return  # the server still lists the last heartbeat of a worker long gone
            # It beats again after a long stall: the same worker, its total already kept.
            del self._forgotten[identity]
            self._totals.forgotten_processed -= forgotten[1]
        track = self._workers[identity] = BeatTrack()
        track.take(beat, now)
        self._ever_beat = True
        # First seen: it was last heard of as long before the newest heartbeat of the read as its
        # own is old (a worker killed before the controller started is not counted as beating).
        track.seen_at = now - max(0.0, newest - beat.beat_at)

    def _forget_silent(self, now: float) -> None:
        """Forget the workers silent for ``FORGET_AFTER_S`` (shut down or gone): their totals stay,
        and their identities are remembered (at most ``REMEMBERED_GONE``) with their last
        heartbeat, which the server may go on listing."""
        for identity, track in list(self._workers.items()):
            if track.beat is None or track.seen_at is None or now - track.seen_at < FORGET_AFTER_S:
                continue
            self._totals.forget(track)
            self._forgotten[identity] = (track.beat.beat_at, track.processed)
            del self._workers[identity]
        while len(self._forgotten) > REMEMBERED_GONE:
            del self._forgotten[next(iter(self._forgotten))]

    def beating(self) -> bool:
        """Whether any worker of the group is beating now."""
        now = self._clock()
        return any(t.beating(now, self.gone_after_s) for t in self._workers.values())

    def counts(self) -> bool:
        """Whether the heartbeats can count tasks: read this time, a worker of the group has sent
        one, and none of those beating now beats too seldom to count by."""
        return self._known and self._ever_beat and not self.slow_workers()

    def slow_workers(self) -> list[str]:
        """The workers beating now whose heartbeats are further apart than
        ``MAX_COUNTING_INTERVAL_S``."""
        now = self._clock()
        return [
            identity
            for identity, track in self._workers.items()
            if track.beat is not None
            and track.beat.interval_s > MAX_COUNTING_INTERVAL_S
            and track.beating(now, self.gone_after_s)
        ]

    def fill_in(self, census: WorkerCensus) -> WorkerCensus:
        """``census`` with what the heartbeats tell in place of what it left unknown."""
        if census.in_flight is not None or not self.counts():
            return census
        now = self._clock()
        live = [t for t in self._workers.values() if t.beating(now, self.gone_after_s)]
        beats = [t.beat for t in live if t.beat is not None]
        completed = self._totals.completed(self._workers.values())
        ready = census.ready if census.ready is not None else len(beats)
        reported_slots = [beat.activity_slots for beat in beats if beat.activity_slots > 0]
        return dataclasses.replace(
            census,
            running=max(census.running, ready),
            ready=ready,
            in_flight=sum(beat.activities_in_flight for beat in beats),
            in_flight_s=sum(t.in_flight_s for t in live),
            slots=census.slots or (min(reported_slots) if reported_slots else None),
            mean_task_s=self._totals.mean_task_s(self._workers.values()),
            tasks_finished=completed,
            tasks_completed=completed,
            in_flight_lag_s=beat_lag_s(beats),
        )
