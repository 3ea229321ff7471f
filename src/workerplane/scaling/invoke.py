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
no worker polls), and starts workers as before.
"""

from __future__ import annotations

from workerplane.scaling.types import GroupMetrics


def invoke_target(desired: int, metrics: GroupMetrics, min_count: int) -> tuple[int, str]:
    """The size an invoke group starts workers towards, and why it is below ``desired`` (empty
    when it is not): ``desired`` unless the census cannot count the tasks in flight and no task
    of any type waits, then at most what runs (or ``min_count``)."""
    census = metrics.workers
    running = census.running
    if census.in_flight is not None or metrics.stats.backlog_count > 0 or desired <= running:
        return desired, ""
    target = max(running, min(desired, min_count))
    if target >= desired:
        return desired, ""
    return target, (
        f"; nothing waits and the tasks in flight are unknown: workers that returned idle are "
        f"not started again ({desired} -> {target})"
    )
