"""Which workers a shrink retires, and when one holding long tasks may go (scaling.retire)."""

from __future__ import annotations

from workerplane.scaling.retire import (
    HELD_DURATIONS,
    MAX_HOLD_S,
    hold_s,
    largest_over,
    pick_retirees,
    remember_size,
    retire_order,
    shrink_to,
)
from workerplane.scaling.types import WorkerLoad

IDLE = WorkerLoad()
YOUNG = WorkerLoad(in_flight=3, running_s=1.2)  # three short tasks, just started
HELD = WorkerLoad(in_flight=1, running_s=120.0)  # one task two minutes in


def test_idle_workers_go_first_then_those_whose_tasks_ran_least() -> None:
    # By count alone the worker with three young tasks would stay and the one with a single
    # two-minute task go: the latter saves nothing until its task ends.
    assert retire_order([HELD, YOUNG, IDLE]) == (IDLE, YOUNG, HELD)


def test_pick_retirees_keeps_the_given_order_among_equals() -> None:
    workers = ["newest", "older", "busy"]
    loads = {"newest": IDLE, "older": IDLE, "busy": YOUNG}
    assert pick_retirees(workers, 2, loads.__getitem__) == ["newest", "older"]
    assert pick_retirees(workers, 0, loads.__getitem__) == []


def test_a_worker_is_held_only_once_its_tasks_ran_past_the_window_and_the_mean() -> None:
    assert hold_s(IDLE, duration_s=2.0, window_s=5.0) == 0.0
    assert hold_s(YOUNG, duration_s=2.0, window_s=5.0) == 0.0
    assert hold_s(HELD, duration_s=None, window_s=5.0) == 0.0  # nothing learned: no opinion
    # Held for as long as its task ran past what a mean-length task would have.
    assert hold_s(HELD, duration_s=2.0, window_s=5.0) == 118.0
    # Tasks that average a minute: two minutes in is not far enough past the mean yet.
    assert hold_s(HELD, duration_s=120.0 / (1 + HELD_DURATIONS), window_s=5.0) == 0.0
    ancient = WorkerLoad(in_flight=2, running_s=10_000.0)
    assert hold_s(ancient, duration_s=2.0, window_s=5.0) == MAX_HOLD_S


def test_a_worker_with_many_slots_of_short_tasks_is_not_held() -> None:
    # 100 slots of 1 s tasks: their ages sum to about 50 s, which is no long task.
    busy = WorkerLoad(in_flight=100, running_s=50.0)
    assert hold_s(busy, duration_s=1.0, window_s=2.0) == 0.0
    # One task ten minutes in among 99 young ones is.
    stuck = WorkerLoad(in_flight=100, running_s=600.0 + 49.5)
    assert hold_s(stuck, duration_s=1.0, window_s=2.0) == 549.5


def test_the_window_keeps_only_sizes_above_every_later_one() -> None:
    window = remember_size((), 0, 12, keep_ms=600_000)
    window = remember_size(window, 1_000, 10, keep_ms=600_000)
    window = remember_size(window, 2_000, 11, keep_ms=600_000)
    assert window == ((0, 12), (2_000, 11))
    assert largest_over(window, 2_000, 5.0) == 12
    assert largest_over(window, 2_000, 1.0) == 11
    assert largest_over(window, 2_000, 0.0) == 11
    # Entries older than what is kept are dropped.
    assert remember_size(window, 700_000, 3, keep_ms=600_000) == ((700_000, 3),)


def test_starting_and_idle_workers_go_at_once_a_held_one_waits_for_its_span() -> None:
    # 5 asked for, 4 polling (so one still starts), 10 wanted a minute ago and 1 since: the
    # starting, the idle and the young workers go; of the two held ones, neither yet.
    window = ((0, 10), (60_000, 1))
    longer = WorkerLoad(in_flight=2, running_s=150.0)
    loads = retire_order([IDLE, HELD, YOUNG, longer])
    assert shrink_to(1, 5, loads, window, 60_000, duration_s=2.0, window_s=5.0) == 2
    # Two minutes of wanting 1 (the held worker's span): it goes too, and the one that has run
    # 150 s is the one the size keeps.
    later = remember_size(window, 180_001, 1, keep_ms=600_000)
    assert shrink_to(1, 5, loads, later, 180_001, duration_s=2.0, window_s=5.0) == 1
    # Shrinking to none, that one waits for its own 150 s.
    assert shrink_to(0, 5, loads, later, 180_001, duration_s=2.0, window_s=5.0) == 1
    # Nothing learned about task lengths: no worker is held.
    assert shrink_to(1, 5, loads, window, 60_000, duration_s=None, window_s=5.0) == 1


def test_without_per_worker_loads_the_shrink_is_the_windows() -> None:
    assert shrink_to(1, 4, None, ((0, 1),), 0, duration_s=2.0, window_s=5.0) == 1
    assert shrink_to(5, 4, [HELD], ((0, 5),), 0, duration_s=2.0, window_s=5.0) == 5
