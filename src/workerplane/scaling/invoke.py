"""How an invoke group (``Strategy.INVOKE``: workers that leave by themselves) grows.

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

A census that counts the tasks in flight (Lambda handlers that send worker heartbeats) needs
neither assumption, and ``desired`` stands while tasks wait. While none waits, no such group
starts a worker either: it would return idle. ``slo``'s sparse-load rule keeps one worker warm
when the next task is due within a startup, which for a worker-set group costs nothing more than
not retiring it; an invoke worker started for it runs nothing and returns, again and again while
the rate decays after a wave.
"""

from __future__ import annotations

import math

from workerplane.scaling.types import GroupMetrics


def invoke_target(
    desired: int, metrics: GroupMetrics, min_count: int, slots: float
) -> tuple[int, str]:
    """The size an invoke group starts workers towards, and why it is below ``desired`` (empty
    when it is not): while nothing waits, what runs (or ``min_count``); else ``desired``, capped
    at what runs and a worker of ``slots`` for every ``slots`` waiting tasks when the census
    cannot count the tasks in flight."""
    census = metrics.workers
    running = census.running
    if desired <= running:
        return desired, ""
    waiting = metrics.stats.backlog_count
    if waiting == 0:
        # A worker started now would find nothing to do and return idle: keeping one warm, as
        # the sparse-load rule would, means starting it again after every return (a wave done,
        # the rate still decaying: a handler invoked every few seconds to run nothing).
        target = max(running, min(desired, min_count))
        why = "nothing waits: an invoke worker started now would return idle"
    elif census.in_flight is None:
        target = max(running + math.ceil(waiting / max(slots, 1.0)), min(desired, min_count))
        why = f"the tasks in flight are unknown: a slot for each of the {waiting} waiting at most"
    else:
        return desired, ""
    if target >= desired:
        return desired, ""
    return target, f"; {why} ({desired} -> {target})"
