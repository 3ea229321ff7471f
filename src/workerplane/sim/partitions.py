"""A task queue's backlog split over Temporal's task-queue partitions.

Temporal splits every task queue into partitions (``matching.numTaskqueueRead/WritePartitions``,
4 by default). A task that finds no waiting poller is written to a random partition's backlog,
and each poll lands on a random partition. A poll that finds its partition's backlog empty waits
there, while tasks wait on other partitions: it takes the next task written to its partition, or
a task another partition forwards to it (Temporal forwards polls and backlogged tasks between
partitions one at a time, ``matching.forwarderMaxOutstandingTasks`` = 1, at most
``matching.forwarderMaxRatePerSecond`` = 10 a second). So backlogged tasks are not served
first-in, first-out across the queue, a slot can idle while tasks wait, and a new task can start
before older ones: the tail is longer than one queue's. With one partition this is a single
first-in, first-out queue, and no random number is drawn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np


class Poll(NamedTuple):
    """What a poll found: a ``task``, or none (``None``): it waits on ``partition``, known by
    ``token`` until a task lands there or one is forwarded to it."""

    task: int | None
    partition: int
    token: int


class PartitionedBacklog:
    """Tasks waiting on ``partitions`` partitions, and the polls waiting on them.

    Each task lands on a uniformly random partition, and so does each poll. A poll takes the
    oldest task of its partition; on an empty one it waits (is *parked*) until a task is written
    there or :meth:`forward` hands it the oldest task of a random non-empty partition. Polls wait
    only while tasks do: once the backlog is empty, :meth:`release_parked` returns them to the
    free slots (a task that lands then is matched to any waiting poll at once).
    """

    def __init__(self, partitions: int, rng: np.random.Generator) -> None:
        if partitions < 1:
            raise ValueError("a task queue has at least one partition")
        self._queues: list[deque[int]] = [deque() for _ in range(partitions)]
        self._parked: list[dict[int, int]] = [{} for _ in range(partitions)]
        self._tokens = 0
        self._rng = rng
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        for queue in self._queues:
            yield from queue

    def pick(self) -> int:
        """A uniformly random partition: where a task is written, or a poll lands."""
        n = len(self._queues)
        return int(self._rng.integers(n)) if n > 1 else 0

    def append(self, task: int, partition: int | None = None) -> None:
        """Write ``task`` to ``partition`` (a random one if not given)."""
        self._queues[self.pick() if partition is None else partition].append(task)
        self._size += 1

    def poll(self, slot: int) -> Poll:
        """A free ``slot`` polls a random partition: its oldest task, or the poll waits there."""
        partition = self.pick()
        queue = self._queues[partition]
        if queue:
            self._size -= 1
            return Poll(queue.popleft(), partition, 0)
        self._tokens += 1
        self._parked[partition][self._tokens] = slot
        return Poll(None, partition, self._tokens)

    def take_parked(self, partition: int) -> int | None:
        """The slot of the oldest poll waiting on ``partition`` (a task written there now is
        matched to it), or ``None``."""
        parked = self._parked[partition]
        if not parked:
            return None
        return parked.pop(next(iter(parked)))

    def forward(self, partition: int, token: int) -> int | None:
        """The slot of poll ``token`` on ``partition`` if it still waits (it is then no longer
        parked: the caller hands it a forwarded task), else ``None``."""
        return self._parked[partition].pop(token, None)

    def release_parked(self) -> list[int]:
        """Every waiting poll's slot, unparked: called once no task waits."""
        slots = [slot for parked in self._parked for slot in parked.values()]
        for parked in self._parked:
            parked.clear()
        return slots

    def popleft(self) -> int:
        """The oldest task of a random non-empty partition (what a forwarded poll takes)."""
        waiting = [queue for queue in self._queues if queue]
        if not waiting:
            raise IndexError("pop from an empty backlog")
        pick = int(self._rng.integers(len(waiting))) if len(waiting) > 1 else 0
        self._size -= 1
        return waiting[pick].popleft()

    def oldest(self) -> int:
        """The task that has waited longest (tasks are numbered in arrival order)."""
        return min(queue[0] for queue in self._queues if queue)
