"""How far ``slo`` lets a group shrink: pure rules of :mod:`workerplane.scaling.slo_plan`.

A worker let go saves its cost only once its tasks end, and a worker asked back costs a startup,
so each rule here says which workers are not spare yet.
"""

from __future__ import annotations

import math

from workerplane.scaling.slo_model import (
    CUT_MIN_SHARE,
    DOWN_HYSTERESIS,
    STANDING_QUEUE_TASK_STARTUPS,
)


def busy_worker_floor(in_flight: float, slots: float, rising: bool) -> int:
    """The fewest workers a shrink keeps for the tasks in flight: those the tasks fill (a
    retired worker whose slots are all busy saves nothing until its tasks end), and, while more
    tasks start than the load says (``rising``: the load average lags a burst), also the one
    they fill in part."""
    busy = in_flight / slots
    return math.ceil(busy - 1e-9) if rising else math.floor(busy)


def load_worker_floor(load_workers: float) -> int:
    """The fewest workers a shrink keeps for the load: those it fills, and the one it fills in
    part unless at most ``DOWN_HYSTERESIS`` of it is used (as a rounded size shrinks only when
    that much of a worker would still be spare). A group cut below its load relies on a top-up
    once its queue grows, and on a partitioned server a standing queue is not served first-in,
    first-out: a real run cut 3 -> 1 workers with 1.9 workers of load (8 tasks/s of 1 s tasks),
    and tasks on the starved partitions waited over 5 s where the queue's mean wait was 2 s."""
    return max(0, math.ceil(load_workers - DOWN_HYSTERESIS - 1e-9))


def standing_queue_spare(current: int, load_workers: float, dur_s: float, startup_s: float) -> bool:
    """Whether a group of ``current`` workers has one worker more than the load needs (and no
    more), whose tasks are short enough that letting it go with tasks still waiting saves its
    cost: a worker retired while it holds a task longer than ``STANDING_QUEUE_TASK_STARTUPS``
    startups keeps billing until the task ends, and a queue behind a group further above the
    load drains soon anyway."""
    spare = current - load_workers
    return 1.0 <= spare < 2.0 and dur_s <= STANDING_QUEUE_TASK_STARTUPS * startup_s


def starting_not_needed(
    planned: int, current: int, ready: int, starting: int, busy_workers: float
) -> int:
    """The size once the starting workers that ``planned`` does not need are let go: never below
    the workers that poll nor the ``busy_workers`` the tasks in flight fill, and only when at
    least ``CUT_MIN_SHARE`` of the group (one worker at least) goes, so that an estimate's noise
    does not retire a worker the next cycle starts again."""
    floor = max(planned, ready, math.ceil(busy_workers - 1e-9), current - starting)
    if current - floor < max(1.0, CUT_MIN_SHARE * current):
        return current
    return floor
