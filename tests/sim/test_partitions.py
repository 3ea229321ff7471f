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
