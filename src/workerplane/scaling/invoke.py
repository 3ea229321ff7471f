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
no assumption: the free slots of what runs (a starting worker's included) take that many of the
waiting tasks, and the rest get a slot each at most. The planner would start more: it projects
the arrivals it counted over the startup ahead, and a wave of 40 tasks landing at once counts
as 40 tasks/s that go on (the second of two such waves got 19 handlers, 13 of all 30 ran
nothing). An invoke group loses nothing by waiting to see more: a worker can be started on any
cycle, and one started early for tasks that never come runs nothing. While none waits, no
invoke group starts a worker: it would return idle. ``slo``'s sparse-load rule keeps one worker warm
when the next task is due within a startup, which for a worker-set group costs nothing more than
not retiring it; an invoke worker started for it runs nothing and returns, again and again while
the rate decays after a wave.
"""

from __future__ import annotations

import math

from workerplane.scaling.types import GroupMetrics


def waiting_for_slots(metrics: GroupMetrics) -> int:
    """The waiting tasks that may each take a worker's slot, each workflow counted once.

    A worker's slots are activity slots, and a waiting workflow task brings its activity (at
    most one, as :func:`~workerplane.scaling.slo_model.activities_per_workflow_task` bounds it)
    only once a worker runs it; until then that activity does not exist, and after, the
    workflow task is gone. The sum of the two backlogs counts a workflow twice while some of
    them have become activities and the rest still wait as workflow tasks: on the fast-stats
    server a cold wave of 40 got a slot each (10 handlers), then two more handlers on backlogs
    of 41 and 42, the waiting workflow tasks and the activities the run ones had scheduled
    together. (A cached copy is netted by the tasks started since
    (:mod:`workerplane.planning.copies`), but a copy that changes every cycle leaves nothing to
    net.) The larger of the two
    counts each workflow once; if both are real, the next cycle shows the rest, and an invoke
    group can start a worker on any cycle. Not the ratio of the rates: at a wave's start the
    workflow tasks dispatch before any activity is added, and it reads 0 activities each.
    """
    by_type = metrics.by_type
    activity = by_type.get("ACTIVITY")
    workflow = by_type.get("WORKFLOW")
    if activity is None or workflow is None:
        return metrics.stats.backlog_count
    others = sum(s.backlog_count for t, s in by_type.items() if t not in ("ACTIVITY", "WORKFLOW"))
    return max(activity.backlog_count, workflow.backlog_count) + others


def invoke_target(
    desired: int, metrics: GroupMetrics, min_count: int, slots: float
) -> tuple[int, str]:
    """The size an invoke group starts workers towards, and why it is below ``desired`` (empty
    when it is not): at most what runs and a worker of ``slots`` for every ``slots`` waiting
    tasks the free slots of what runs do not take (every slot taken as busy when the census
    cannot count the tasks in flight; :func:`waiting_for_slots`); what runs, or ``min_count``,
    when none waits."""
    census = metrics.workers
    running = census.running
    if desired <= running:
        return desired, ""
    waiting = waiting_for_slots(metrics)
    per_worker = max(slots, 1.0)
    if waiting == 0:
        # A worker started now would find nothing to do and return idle: keeping one warm, as
        # the sparse-load rule would, means starting it again after every return (a wave done,
        # the rate still decaying: a handler invoked every few seconds to run nothing).
        target = max(running, min(desired, min_count))
        why = "nothing waits: an invoke worker started now would return idle"
    else:
        if census.in_flight is None:
            free = 0.0
            why = f"the tasks in flight are unknown: a slot for each of the {waiting} waiting"
        else:
            free = max(0.0, running * per_worker - census.in_flight)
            why = f"a slot for each of the {waiting} waiting beyond the {free:g} free"
        uncovered = max(0.0, waiting - free)
        target = max(running + math.ceil(uncovered / per_worker), min(desired, min_count))
        why += " at most"
    if target >= desired:
        return desired, ""
    return target, f"; {why} ({desired} -> {target})"
