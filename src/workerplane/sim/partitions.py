"""A task queue's backlog split over Temporal's task-queue partitions.

Temporal splits every task queue into partitions (``matching.numTaskqueueRead/WritePartitions``,
4 by default). A task that finds no waiting poller is written to a random partition's backlog,
and a poller takes from one partition at a time, so backlogged tasks are not served first-in,
first-out across the queue: the mean wait is the same, but the tail is longer. With one partition
this is a single first-in, first-out queue, and no random number is drawn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np


class PartitionedBacklog:
    """Tasks waiting on ``partitions`` partitions: each task lands on a uniformly random one, and
    each free slot takes the oldest task of a uniformly random non-empty one (a poller served by
    its own partition or, through forwarding, by another)."""

    def __init__(self, partitions: int, rng: np.random.Generator) -> None:
        if partitions < 1:
            raise ValueError("a task queue has at least one partition")
        self._queues: list[deque[int]] = [deque() for _ in range(partitions)]
        self._rng = rng
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        for queue in self._queues:
            yield from queue

    def append(self, task: int) -> None:
        """Write ``task`` to a random partition."""
        n = len(self._queues)
        self._queues[int(self._rng.integers(n)) if n > 1 else 0].append(task)
        self._size += 1

    def popleft(self) -> int:
        """The task a free slot takes: the head of a random non-empty partition."""
        waiting = [queue for queue in self._queues if queue]
        if not waiting:
            raise IndexError("pop from an empty backlog")
        pick = int(self._rng.integers(len(waiting))) if len(waiting) > 1 else 0
        self._size -= 1
        return waiting[pick].popleft()

    def oldest(self) -> int:
        """The task that has waited longest (tasks are numbered in arrival order)."""
        return min(queue[0] for queue in self._queues if queue)
