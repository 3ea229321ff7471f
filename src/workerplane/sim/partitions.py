"""A task queue's backlog split over Temporal's task-queue partitions, matched as Temporal 1.32's
matching service does (read from its source; docs/policy-lab.md, "Partitions").

Temporal splits every task queue into partitions (``matching.numTaskqueueRead/WritePartitions``,
4 by default); partition 0 is the root, the others its children. What the model keeps:

* **Writes are random.** A task that finds no waiting poll is written to a uniformly random
  partition's backlog, and each partition serves its backlog first-in, first-out.
* **Polls are balanced.** A poll goes to the partition with the fewest polls outstanding (the
  first such from a random start): polls waiting on an empty partition hold its count up, so the
  next polls go where tasks wait.
* **A waiting poll waits for its own partition.** A poll on an empty child takes the next task
  written there; tasks never move between siblings. One poll per child at a time is forwarded
  to the root and waits there instead; when it is matched, the child's next waiting poll is.
* **The root gathers.** A poll waiting at the root takes a new task written to any child (a
  forwarded sync match), and each child forwards it its oldest backlogged task at most once per
  ``forward_interval_s`` (``matching.forwarderMaxRatePerSecond``, 10 a second), while that task
  is younger than ``matching.backlogNegligibleAge`` (5 s) or no poll has reached the child for
  ``matching.maxWaitForPollerBeforeFwd`` (0.2 s): :meth:`PartitionedBacklog.forward_round`.

So backlogged tasks are not served first-in, first-out across the queue: a partition whose polls
take its tasks as they come stays empty while an older backlog waits on another, and a slot can
idle while tasks wait. With one partition this is a single first-in, first-out queue, and no
random number is drawn.

Left out: a waiting poll expires after about a minute and polls again (the balancer may then
send it elsewhere); tasks added a few milliseconds out of order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

ROOT = 0
#: ``matching.backlogNegligibleAge``: a child forwards its backlog while its oldest task is
#: younger than this...
BACKLOG_NEGLIGIBLE_AGE_S = 5.0
#: ...or once no poll has reached it for this long (``matching.maxWaitForPollerBeforeFwd``).
NO_POLL_FORWARD_S = 0.2
#: ``1 / matching.forwarderMaxRatePerSecond``: the least time between two tasks a child forwards.
FORWARD_INTERVAL_S = 0.1


class Poll(NamedTuple):
    """What a poll found: a ``task``, or none (``None``): it waits on ``partition`` (the root, for
    a poll a child forwarded) until a task is written there or forwarded to it."""

    task: int | None
    partition: int


class PartitionedBacklog:
    """Tasks waiting on ``partitions`` partitions, and the polls waiting on them.

    Args:
        partitions: how many partitions the queue has (1 is one first-in, first-out queue).
        rng: draws the partition each task is written to and breaks ties between polls.
        arrived: a task's arrival time (whether a child's oldest task may still be forwarded).
        forward_interval_s: the least time between two tasks one child forwards.
    """

    def __init__(
        self,
        partitions: int,
        rng: np.random.Generator,
        arrived: Callable[[int], float] = lambda task: 0.0,
        forward_interval_s: float = FORWARD_INTERVAL_S,
    ) -> None:
        if partitions < 1:
            raise ValueError("a task queue has at least one partition")
        n = partitions
        self._queues: list[deque[int]] = [deque() for _ in range(n)]
        # Waiting polls, oldest first, as slots; a child's forwarded poll waits at the root as
        # (slot, child) and still counts as that child's.
        self._waiting: list[deque[int]] = [deque() for _ in range(n)]
        self._at_root: deque[tuple[int, int]] = deque()
        self._forwarding = [False] * n
        self._last_poll = [0.0] * n
        self._last_forward = [-forward_interval_s] * n
        self._forward_interval_s = forward_interval_s
        self._rng = rng
        self._arrived = arrived
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        for queue in self._queues:
            yield from queue

    @property
    def polls_at_root(self) -> int:
        """Polls waiting at the root (forwarding may hand them a child's task)."""
        return len(self._at_root)

    def pick(self) -> int:
        """A uniformly random partition: where a task is written."""
        n = len(self._queues)
        return int(self._rng.integers(n)) if n > 1 else 0

    def _outstanding(self, partition: int) -> int:
        if partition == ROOT:
            # Every forwarding child has exactly one poll at the root; the rest are the root's.
            return len(self._at_root) - sum(self._forwarding)
        return len(self._waiting[partition]) + self._forwarding[partition]

    def append(self, task: int, partition: int | None = None) -> None:
        """Write ``task`` to ``partition`` (a random one if not given)."""
        self._queues[self.pick() if partition is None else partition].append(task)
        self._size += 1

    def _pop(self, partition: int) -> int:
        self._size -= 1
        return self._queues[partition].popleft()

    def poll(self, slot: int, now: float = 0.0) -> Poll:
        """A free ``slot`` polls the partition with the fewest polls outstanding (the first such
        from a random start, as Temporal's read balancer walks them): its oldest task, else the
        poll waits there, or at the root if no other poll of that child is forwarded."""
        n = len(self._queues)
        if n == 1:
            return Poll(self._pop(0) if self._queues[0] else None, 0)
        start = int(self._rng.integers(n))
        partition = min(((start + i) % n for i in range(n)), key=self._outstanding)
        self._last_poll[partition] = now
        if self._queues[partition]:
            return Poll(self._pop(partition), partition)
        if partition == ROOT or self._forwarding[partition]:
            if partition == ROOT:
                self._at_root.append((slot, ROOT))
            else:
                self._waiting[partition].append(slot)
            return Poll(None, partition)
        if self._queues[ROOT]:
            return Poll(self._pop(ROOT), ROOT)
        self._forwarding[partition] = True
        self._at_root.append((slot, partition))
        return Poll(None, ROOT)

    def _take_at_root(self) -> int | None:
        if not self._at_root:
            return None
        slot, child = self._at_root.popleft()
        if child != ROOT:
            # The child forwards its next waiting poll in its place.
            self._forwarding[child] = bool(self._waiting[child])
            if self._waiting[child]:
                self._at_root.append((self._waiting[child].popleft(), child))
        return slot

    def take_waiting(self, partition: int) -> int | None:
        """The slot of the poll a task written to ``partition`` now is matched to: the oldest poll
        waiting there, else (for a child) the oldest waiting at the root; or ``None``."""
        if partition != ROOT and self._waiting[partition]:
            return self._waiting[partition].popleft()
        return self._take_at_root()

    def forward_round(self, now: float, is_ready: Callable[[int], bool]) -> list[tuple[int, int]]:
        """Each child that may forward now hands its oldest task to the oldest poll waiting at
        the root whose slot ``is_ready`` (the others are dropped): the ``(slot, task)`` pairs."""
        matched: list[tuple[int, int]] = []
        children = list(range(1, len(self._queues)))
        self._rng.shuffle(children)
        for child in children:
            queue = self._queues[child]
            if not queue or now - self._last_forward[child] < self._forward_interval_s - 1e-9:
                continue
            young = now - self._arrived(queue[0]) < BACKLOG_NEGLIGIBLE_AGE_S
            if not young and now - self._last_poll[child] < NO_POLL_FORWARD_S:
                continue
            while (slot := self._take_at_root()) is not None and not is_ready(slot):
                pass
            if slot is None:
                break
            self._last_forward[child] = now
            matched.append((slot, self._pop(child)))
        return matched

    def release_waiting(self) -> list[int]:
        """Every waiting poll's slot, oldest first at each partition: called once no task waits."""
        slots = [slot for slot, _ in self._at_root]
        for waiting in self._waiting:
            slots.extend(waiting)
            waiting.clear()
        self._at_root.clear()
        self._forwarding = [False] * len(self._queues)
        return slots

    def oldest(self) -> int:
        """The task that has waited longest (tasks are numbered in arrival order)."""
        return min(queue[0] for queue in self._queues if queue)
