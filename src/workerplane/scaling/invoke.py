"""How an invoke group (``Strategy.INVOKE``: workers that leave by themselves) grows when its
provider cannot count the tasks in flight.

An invoke provider starts a worker per call, and its workers return on their own once idle (a
Lambda handler after its ``idle_exit_s``). Without the census's ``in_flight`` the scalers assume
every polling worker is full while the queue's rates show activity, and the server's rates are
decaying averages that show activity for tens of seconds after the last task ran. So after a
wave, ``slo`` (whose load average remembers the assumed in-flight) counted the workers that
went idle and returned as gone from a busy group, and started them again, to sit idle until
they returned once more: two waves of 40 one-second tasks on Lambda got 31 invokes where 10 a
wave ran every task, 16 of them handlers that ran none. (``backlog`` sizes on the workers that
poll now, so it never asks above them while nothing waits.)

A worker that left by itself is evidence the group had more than it needed. So while nothing
waits, such a group is not brought back up to a size those assumptions gave: it starts no
worker beyond ``min_count``. The first waiting task shows in the backlog (read uncached while
no worker polls), and starts workers as before. While tasks wait, it starts at most a slot for
each of them beyond what runs: the arrival rate that would project more is a decaying average
too (at the end of a wave of 200, 2 waiting tasks and no handler got 6 handlers on the 21
tasks/s the rate still showed).
"""

from __future__ import annotations

import math

from workerplane.scaling.types import GroupMetrics


def invoke_target(
    desired: int, metrics: GroupMetrics, min_count: int, slots: float
) -> tuple[int, str]:
    """The size an invoke group starts workers towards, and why it is below ``desired`` (empty
    when it is not): ``desired`` unless the census cannot count the tasks in flight; then at
    most what runs and a worker of ``slots`` for every ``slots`` waiting tasks (what runs, or
    ``min_count``, when none waits)."""
    census = metrics.workers
    running = census.running
    if census.in_flight is not None or desired <= running:
        return desired, ""
    waiting = metrics.stats.backlog_count
    target = max(running + math.ceil(waiting / max(slots, 1.0)), min(desired, min_count))
    if target >= desired:
        return desired, ""
    if waiting == 0:
        why = "nothing waits and the tasks in flight are unknown: workers that returned idle are "
        why += "not started again"
    else:
        why = f"the tasks in flight are unknown: a slot for each of the {waiting} waiting at most"
    return target, f"; {why} ({desired} -> {target})"
