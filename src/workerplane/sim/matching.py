"""Temporal's matching of tasks to free worker slots, as the simulator models it.

A task that arrives while a slot is free starts at once (a sync match). Otherwise it waits in
the partitioned backlog (:mod:`workerplane.sim.partitions`), and each slot that frees polls it:
free slots take tasks in the order they became free (the longest-waiting poller gets the task).
With several partitions a poll on an empty partition waits there until a task is written there
or, ``forward_later`` on, one is forwarded to it.

The matcher knows slots by their worker id and never a worker's state: ``is_ready`` says whether
a slot's worker still polls (a slot of a worker that stopped is dropped when reached), and
``start`` starts a task on a worker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from workerplane.sim.partitions import PartitionedBacklog


class Matcher:
    """Free slots, the backlog, and the polls parked on its partitions.

    Args:
        backlog: the partitioned backlog the tasks wait in.
        is_ready: whether a worker still polls.
        start: starts ``task`` on worker ``wid`` (``start(task, wid)``).
        forward_later: asks for :meth:`forwarded` to be called for the poll parked on
            ``partition`` as ``token`` once forwarding hands it a task
            (``forward_later(partition, token)``).
    """

    def __init__(
        self,
        backlog: PartitionedBacklog,
        *,
        is_ready: Callable[[int], bool],
        start: Callable[[int, int], None],
        forward_later: Callable[[int, int], None],
    ) -> None:
        self.backlog = backlog
        self._free: deque[int] = deque()  # worker ids, one entry per free slot, FIFO
        self._is_ready = is_ready
        self._start = start
        self._forward_later = forward_later

    def slots_freed(self, wid: int, count: int = 1) -> None:
        """``count`` slots of worker ``wid`` poll: they take waiting tasks, or wait for new ones."""
        self._free.extend([wid] * count)
        self._dispatch()

    def arrive(self, task: int) -> bool:
        """A new task: started at once on a waiting poll of its partition (or, with no backlog, on
        any free slot), else written to its partition. Whether it started (a sync match)."""
        partition = self.backlog.pick()
        if self.backlog:
            wid = self._first_ready(lambda: self.backlog.take_parked(partition))
        else:
            wid = self._first_ready(self._next_free)
        if wid is None:
            self.backlog.append(task, partition)
            return False
        self._start(task, wid)
        return True

    def forwarded(self, partition: int, token: int) -> None:
        """The poll parked on ``partition`` as ``token`` is handed a task another partition
        forwards (if it still waits, its worker still polls, and a task still waits)."""
        wid = self.backlog.forward(partition, token)
        if wid is not None and self._is_ready(wid) and self.backlog:
            self._start(self.backlog.popleft(), wid)
            self._release_if_drained()

    def _next_free(self) -> int | None:
        return self._free.popleft() if self._free else None

    def _first_ready(self, take: Callable[[], int | None]) -> int | None:
        """The first slot ``take`` hands out whose worker still polls (the others are dropped)."""
        while (wid := take()) is not None:
            if self._is_ready(wid):
                return wid
        return None

    def _dispatch(self) -> None:
        while self.backlog and (wid := self._first_ready(self._next_free)) is not None:
            polled = self.backlog.poll(wid)
            if polled.task is not None:
                self._start(polled.task, wid)
            else:
                self._forward_later(polled.partition, polled.token)
        self._release_if_drained()

    def _release_if_drained(self) -> None:
        """Polls wait on their partitions only while tasks do: once none waits, they are free
        slots again."""
        if not self.backlog:
            self._free.extend(self.backlog.release_parked())
