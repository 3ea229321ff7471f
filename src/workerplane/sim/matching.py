"""Temporal's matching of tasks to free worker slots, as the simulator models it.

A task that arrives while a slot is free starts at once (a sync match). Otherwise it waits in
the partitioned backlog (:mod:`workerplane.sim.partitions`), and each slot that frees polls it:
free slots take tasks in the order they became free (the longest-waiting poller gets the task).
With several partitions a poll on an empty partition waits there until a task is written there;
polls waiting at the root are also handed the tasks the children forward, in forwarding rounds
(``forward_later`` asks for :meth:`Matcher.forward_round` once one may hand over more).

The matcher knows slots by their worker id and never a worker's state: ``is_ready`` says whether
a slot's worker still polls (a slot of a worker that stopped is dropped when reached), and
``start`` starts a task on a worker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from workerplane.sim.partitions import PartitionedBacklog


class Matcher:
    """Free slots, the backlog, and the polls waiting on its partitions.

    Args:
        backlog: the partitioned backlog the tasks wait in.
        is_ready: whether a worker still polls.
        start: starts ``task`` on worker ``wid`` (``start(task, wid)``).
        forward_later: asks for :meth:`forward_round` to be called one forwarding interval on.
        now: the current time (forwarding depends on how old a child's oldest task is).
    """

    def __init__(
        self,
        backlog: PartitionedBacklog,
        *,
        is_ready: Callable[[int], bool],
        start: Callable[[int, int], None],
        forward_later: Callable[[], None],
        now: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.backlog = backlog
        self._free: deque[int] = deque()  # worker ids, one entry per free slot, FIFO
        self._is_ready = is_ready
        self._start = start
        self._forward_later = forward_later
        self._now = now
        self._round_due = False

    def slots_freed(self, wid: int, count: int = 1) -> None:
        """``count`` slots of worker ``wid`` poll: they take waiting tasks, or wait for new ones."""
        self._free.extend([wid] * count)
        self._dispatch()

    def arrive(self, task: int) -> bool:
        """A new task: started at once on a poll waiting on its partition (or at the root, or,
        with no backlog, on any free slot), else written to its partition. Whether it started
        (a sync match)."""
        partition = self.backlog.pick()
        if self.backlog:
            wid = self._first_ready(lambda: self.backlog.take_waiting(partition))
        else:
            wid = self._first_ready(self._next_free)
        if wid is None:
            self.backlog.append(task, partition)
            self._round_later()
            return False
        self._start(task, wid)
        return True

    def forward_round(self) -> None:
        """The children forward what they may to the polls waiting at the root."""
        self._round_due = False
        for wid, task in self.backlog.forward_round(self._now(), self._is_ready):
            self._start(task, wid)
        self._release_if_drained()
        self._round_later()

    def _round_later(self) -> None:
        if not self._round_due and self.backlog and self.backlog.polls_at_root:
            self._round_due = True
            self._forward_later()

    def _next_free(self) -> int | None:
        return self._free.popleft() if self._free else None

    def _first_ready(self, take: Callable[[], int | None]) -> int | None:
        """The first slot ``take`` hands out whose worker still polls (the others are dropped)."""
        while (wid := take()) is not None:
            if self._is_ready(wid):
                return wid
        return None

    def _dispatch(self) -> None:
        now = self._now()
        while self.backlog and (wid := self._first_ready(self._next_free)) is not None:
            polled = self.backlog.poll(wid, now)
            if polled.task is not None:
                self._start(polled.task, wid)
        self._release_if_drained()
        self._round_later()

    def _release_if_drained(self) -> None:
        """Polls wait on their partitions only while tasks do: once none waits, they are free
        slots again."""
        if not self.backlog:
            self._free.extend(self.backlog.release_waiting())
