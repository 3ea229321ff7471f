"""The partitioned backlog: one partition is first-in, first-out; more are matched as Temporal's
matching service does (balanced polls, polls that wait for their own partition, forwarding to
the root)."""

from __future__ import annotations

import numpy as np
import pytest

from workerplane.sim.partitions import (
    BACKLOG_NEGLIGIBLE_AGE_S,
    FORWARD_INTERVAL_S,
    ROOT,
    PartitionedBacklog,
)


def always(slot: int) -> bool:
    return True


def test_one_partition_is_fifo_and_draws_nothing() -> None:
    rng = np.random.default_rng(0)
    backlog = PartitionedBacklog(1, rng)
    for task in range(5):
        backlog.append(task)
    assert len(backlog) == 5 and backlog.oldest() == 0
    assert [backlog.poll(slot).task for slot in range(5)] == [0, 1, 2, 3, 4]
    assert backlog.poll(9).task is None and backlog.release_waiting() == []
    assert rng.integers(1000) == np.random.default_rng(0).integers(1000)


def test_partitions_keep_every_task_and_serve_out_of_order() -> None:
    backlog = PartitionedBacklog(4, np.random.default_rng(1))
    for task in range(40):
        backlog.append(task)
    assert sorted(backlog) == list(range(40)) and backlog.oldest() == 0
    served: list[int] = []
    slot = 0
    while backlog:
        polled = backlog.poll(slot)
        if polled.task is not None:
            served.append(polled.task)
        else:
            backlog.release_waiting()  # a poll on an emptied partition: send it again
        slot += 1
    assert sorted(served) == list(range(40)) and served != list(range(40))


def test_at_least_one_partition() -> None:
    with pytest.raises(ValueError):
        PartitionedBacklog(0, np.random.default_rng(0))


def test_polls_spread_over_the_partitions_with_fewest_waiting() -> None:
    """On an empty queue, four polls wait one per partition (the children's forwarded to the
    root), and the next four again one per partition: never two where another has none."""
    backlog = PartitionedBacklog(4, np.random.default_rng(5))
    backlog.append(99, partition=ROOT)
    assert backlog.poll(0).task == 99  # a task waiting where the poll is sent is taken
    first = [backlog.poll(slot).partition for slot in range(1, 5)]
    assert first == [ROOT] * 4 and backlog.polls_at_root == 4
    second = [backlog.poll(slot) for slot in range(5, 9)]
    assert sorted(p.partition for p in second) == [0, 1, 2, 3]
    assert backlog.polls_at_root == 5  # the root's own second poll; a child forwards one poll


def test_a_task_goes_to_a_poll_waiting_on_its_partition_else_at_the_root() -> None:
    backlog = PartitionedBacklog(4, np.random.default_rng(2))
    backlog.append(50, partition=1)  # tasks wait: the polls below wait for their partitions
    polls = {slot: backlog.poll(slot) for slot in range(8)}
    waiting_on = {p: [s for s, poll in polls.items() if poll.partition == p] for p in range(4)}
    took = [s for s, poll in polls.items() if poll.task == 50]
    assert len(took) == 1
    child = next(p for p in (2, 3) if waiting_on[p])
    # A task written to a child goes to the poll waiting there...
    assert backlog.take_waiting(child) == waiting_on[child][0]
    # ...and to a child with none waiting, to the oldest poll at the root (forwarded).
    at_root = backlog.polls_at_root
    assert backlog.take_waiting(child) is not None and backlog.polls_at_root == at_root - 1


def test_a_child_forwards_its_young_backlog_to_the_root_one_task_per_interval() -> None:
    arrivals = {10: 0.0, 11: 0.0}
    backlog = PartitionedBacklog(2, np.random.default_rng(0), arrivals.__getitem__)
    assert [backlog.poll(slot).partition for slot in range(2)] == [ROOT, ROOT]
    backlog.append(10, partition=1)
    backlog.append(11, partition=1)
    assert backlog.forward_round(0.05, always) == [(0, 10)]
    assert backlog.forward_round(0.05 + FORWARD_INTERVAL_S / 2, always) == []  # rate limit
    assert backlog.forward_round(0.05 + FORWARD_INTERVAL_S, always) == [(1, 11)]
    assert len(backlog) == 0 and backlog.polls_at_root == 0


def test_an_old_backlog_is_forwarded_only_from_a_child_no_poll_reaches() -> None:
    arrivals = {7: 0.0}
    backlog = PartitionedBacklog(2, np.random.default_rng(0), arrivals.__getitem__)
    polled = BACKLOG_NEGLIGIBLE_AGE_S + 1.0
    # Two polls on an empty queue: one per partition, both waiting at the root (the child's
    # forwarded), and the child was polled at ``polled``.
    assert [backlog.poll(slot, now=polled).partition for slot in range(2)] == [ROOT, ROOT]
    backlog.append(7, partition=1)  # older than the negligible age
    assert backlog.forward_round(polled + 0.1, always) == []
    [(_slot, task)] = backlog.forward_round(polled + 0.3, always)
    assert task == 7 and len(backlog) == 0


def test_a_forwarded_task_skips_the_polls_of_workers_gone() -> None:
    arrivals = {3: 0.0}
    backlog = PartitionedBacklog(2, np.random.default_rng(0), arrivals.__getitem__)
    while backlog.polls_at_root < 2:
        backlog.poll(backlog.polls_at_root, now=0.0)
    backlog.append(3, partition=1)
    assert backlog.forward_round(0.1, lambda slot: slot == 1) == [(1, 3)]


def test_every_waiting_poll_is_released_once() -> None:
    backlog = PartitionedBacklog(4, np.random.default_rng(3))
    for slot in range(10):
        assert backlog.poll(slot).task is None
    assert sorted(backlog.release_waiting()) == list(range(10))
    assert backlog.release_waiting() == [] and backlog.polls_at_root == 0
