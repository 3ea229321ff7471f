"""The partitioned backlog: one partition is first-in, first-out; more serve out of order."""

from __future__ import annotations

import numpy as np
import pytest

from workerplane.sim.partitions import PartitionedBacklog


def test_one_partition_is_fifo_and_draws_nothing() -> None:
    rng = np.random.default_rng(0)
    backlog = PartitionedBacklog(1, rng)
    for task in range(5):
        backlog.append(task)
    assert len(backlog) == 5 and backlog.oldest() == 0
    assert [backlog.popleft() for _ in range(5)] == [0, 1, 2, 3, 4]
    assert rng.integers(1000) == np.random.default_rng(0).integers(1000)


def test_partitions_keep_every_task_and_serve_out_of_order() -> None:
    backlog = PartitionedBacklog(4, np.random.default_rng(1))
    for task in range(40):
        backlog.append(task)
    assert sorted(backlog) == list(range(40)) and backlog.oldest() == 0
    served = [backlog.popleft() for _ in range(40)]
    assert sorted(served) == list(range(40)) and served != list(range(40))
    assert len(backlog) == 0
    with pytest.raises(IndexError):
        backlog.popleft()


def test_at_least_one_partition() -> None:
    with pytest.raises(ValueError):
        PartitionedBacklog(0, np.random.default_rng(0))


def test_a_poll_on_an_empty_partition_waits_there_while_tasks_wait_elsewhere() -> None:
    backlog = PartitionedBacklog(4, np.random.default_rng(3))
    backlog.append(7, partition=2)
    polls = [backlog.poll(slot) for slot in range(20)]
    took = [p for p in polls if p.task is not None]
    parked = [p for p in polls if p.task is None]
    # Only a poll that lands on partition 2 takes the task; the others wait on their partition.
    assert [p.task for p in took] == [7] and took[0].partition == 2
    on_2 = sum(p.partition == 2 for p in polls)
    assert sum(p.partition == 2 for p in parked) == on_2 - 1 and len(parked) == 19
    # A task written to a partition where a poll waits goes to that poll, oldest poll first.
    first_on_0 = next(p for p in parked if p.partition == 0)
    assert backlog.take_parked(0) == polls.index(first_on_0)
    # A forwarded poll leaves its partition once; a poll already matched cannot be forwarded.
    other = next(p for p in parked if p.partition == 1)
    assert backlog.forward(1, other.token) == polls.index(other)
    assert backlog.forward(1, other.token) is None
    assert backlog.forward(0, first_on_0.token) is None
    # Once nothing waits, every poll still parked is released, once.
    released = backlog.release_parked()
    assert len(released) == len(parked) - 2 and backlog.release_parked() == []


def test_one_partition_never_parks_a_poll() -> None:
    backlog = PartitionedBacklog(1, np.random.default_rng(0))
    backlog.append(1)
    assert backlog.poll(0).task == 1
    backlog.append(2)
    assert backlog.poll(1).task == 2 and backlog.release_parked() == []
