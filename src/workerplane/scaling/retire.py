"""Which workers a shrink retires, and when a busy one may go.

A retired worker stops taking tasks and bills until its last task ends. Retiring one that holds a
long task saves nothing until that task ends, and takes its free slots away now: if the group
grows again before then, it pays twice, for the worker still draining and for the one started
in its place (a load of 2 % five-minute tasks: a group flapping between 10 and 12 workers kept
5-6 retired ones draining, a quarter of its worker-seconds). So:

* the providers and the simulator retire, of the workers that poll, the idle ones first, then
  those whose tasks have run the least (:func:`retire_order`). A worker cannot say when its
  tasks end, only how long they have run; a task far into its duration's tail is expected to run
  on about as long again, and a young one is most likely one of the many short ones;
* the scaler lets a worker whose tasks have run far past the mean task go only once the smaller
  size has been wanted for about as long as they have run past it (:func:`hold_s`): until then,
  keeping it costs what retiring it would (it bills either way) and keeps its free slots
  serving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from workerplane.scaling.types import WorkerLoad

#: A worker whose tasks in flight have run, together, this many mean durations (and a window)
#: longer than tasks of the mean length would have holds a task in the duration's tail:
#: retiring it saves nothing for about as long again.
HELD_DURATIONS = 1.0

#: The longest a held worker is kept for its tasks: beyond this the smaller size is trusted.
MAX_HOLD_S = 600.0

W = TypeVar("W")


def retire_key(in_flight: int, running_s: float) -> tuple[bool, float]:
    """Sort key of the polling workers a shrink retires first: idle, then least run."""
    return (in_flight > 0, running_s)


def _load_key(load: WorkerLoad) -> tuple[bool, float]:
    return retire_key(load.in_flight, load.running_s)


def retire_order(loads: Sequence[WorkerLoad]) -> tuple[WorkerLoad, ...]:
    """``loads`` in the order a shrink retires their workers."""
    return tuple(sorted(loads, key=_load_key))


def pick_retirees(workers: Sequence[W], count: int, load_of: Callable[[W], WorkerLoad]) -> list[W]:
    """The ``count`` workers of ``workers`` (all polling) a shrink retires, in order (a stable
    sort: among equals, the order given)."""
    loads = [load_of(worker) for worker in workers]
    ranked = sorted(range(len(workers)), key=lambda i: _load_key(loads[i]))
    return [workers[i] for i in ranked[: max(0, count)]]


def remember_size(
    window: Sequence[tuple[int, int]], now_ms: int, size: int, keep_ms: float
) -> tuple[tuple[int, int], ...]:
    """The sizes asked for over the last ``keep_ms``, with ``size`` asked for at ``now_ms``: only
    those above every size asked for since, so they fall as they get newer."""
    kept = [(t, v) for t, v in window if t >= now_ms - keep_ms and v > size]
    return (*kept, (now_ms, size))


def largest_over(window: Sequence[tuple[int, int]], now_ms: int, span_s: float) -> int:
    """The largest size asked for over the last ``span_s`` (the window of :func:`remember_size`,
    whose newest entry, asked for at ``now_ms``, is always within)."""
    return next(v for t, v in window if t >= now_ms - 1000.0 * span_s)


def hold_s(load: WorkerLoad, duration_s: float | None, window_s: float) -> float:
    """How long the smaller size must have been wanted before this worker may go, beyond the
    scale-down window: how much longer its tasks in flight have run, together, than tasks of
    the mean length would have by now, once that exceeds the window and ``HELD_DURATIONS``
    mean durations (at most ``MAX_HOLD_S``); else 0."""
    if load.in_flight == 0 or duration_s is None:
        return 0.0
    # Together, not on average: one long task among young short ones is what holds the worker
    # (the mean age hid it: 42,739 worker-s against 39,831, simulated, retiring as real
    # providers do). Less what mean-length tasks would have run, or a worker of 100 slots of
    # 1 s tasks (ages summing to ~50 s) would be held for a minute at every shrink.
    ran = load.running_s - load.in_flight * duration_s
    if ran <= max(window_s, HELD_DURATIONS * duration_s):
        return 0.0
    return min(ran, MAX_HOLD_S)


def shrink_to(
    target: int,
    current: int,
    loads: Sequence[WorkerLoad] | None,
    window: Sequence[tuple[int, int]],
    now_ms: int,
    duration_s: float | None,
    window_s: float,
) -> int:
    """The size a shrink from ``current`` towards ``target`` goes to now.

    The workers not polling yet go first (``current`` minus the polling ones: they hold no
    task), then the polling ones in the census's order (:func:`retire_order`), each only once
    no size above the one without it was asked for (``window``, :func:`remember_size`) over its
    :func:`hold_s`. It stops at the first worker that must stay, as the provider would retire
    that one next.
    """
    if loads is None or target >= current:
        return target
    size = current
    not_polling = max(0, current - len(loads))
    for i in range(current - target):
        if i >= not_polling:
            rank = i - not_polling
            if rank >= len(loads):
                break
            held = hold_s(loads[rank], duration_s, window_s)
            if held > 0 and largest_over(window, now_ms, held) > size - 1:
                break
        size -= 1
    return size
