"""What the ``slo`` scaler is configured with and what it remembers: its details (the user's
keys), its state (what it has learned), and the constants both planning and learning share.

The scaler itself (:mod:`workerplane.scaling.slo`) explains how they are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Annotated

from pydantic import model_validator

from workerplane.scaling._fields import ScalerDetails, rule_error, temporal_float, temporal_int
from workerplane.scaling.prewarm import PrewarmDetails
from workerplane.scaling.slo_feedback import MAX_FRACTION, Feedback
from workerplane.scaling.slo_inflight import Cohorts
from workerplane.scaling.types import ALL_TYPES, IDLE_RATE_EPSILON, GroupMetrics, QueueStats

#: Time constant (s) of the in-flight average that sizes the group while nothing waits.
LOAD_TAU_S = 5.0

#: A late queue is never planned to drain faster than this fraction of the SLO.
LATE_MIN_FRACTION = 0.4

#: A size within this fraction of the load counts as keeping up with it: the arrival rate is an
#: estimate, and a size at the load whose queue never drains must be judged on its own capacity.
KEEPS_UP_TOLERANCE = 0.1

#: Tasks counted between two readings from which the newest waiting task may be that recent.
ARRIVED_SOME = 0.5

#: Starting workers a fresh plan no longer needs are let go while tasks wait only when at least
#: this share of the group goes (one worker at least).
CUT_MIN_SHARE = 0.25

#: Time constant (s) of the arrival rate measured between fresh stats.
ARRIVAL_TAU_S = 10.0

#: The workers' reported mean task duration is taken only from at least this share of the
#: finished tasks behind the estimate it replaces (that count decaying over ``REPORTED_TAU_S``).
#: The census averages the workers alive now, and a shrinking group keeps those whose tasks ran
#: longest: at a fan-out's end the last survivor reported 12.4 s for 5 s tasks, and the next
#: fan-out was sized for 2.5x its work.
REPORTED_SHARE = 0.5
REPORTED_TAU_S = 60.0

#: Arrivals counted this many standard deviations (Poisson) below what the arrival rate predicts
#: mean the arrivals have fallen (a storm's end); this many above, a surge (a storm's start).
ARRIVALS_SIGMAS = 3.0

#: Time constant (s) of the in-flight average paired with Temporal's decaying rates.
RATE_TAU_S = 30.0

#: add and dispatch rates within this fraction of each other mark a steady stretch.
STEADY_TOLERANCE = 0.1

#: Slots are not learned for this many mean task durations (at least ``RETIRE_GUARD_MIN_MS``)
#: after a scale-down: retiring workers' tasks still count as in flight.
RETIRE_GUARD_DURATIONS = 3.0
RETIRE_GUARD_MIN_MS = 5_000.0

#: The average load is capped by the highest in-flight count of this window, so that the group
#: shrinks soon after the work falls away (a burst's end) instead of following the average down.
PEAK_WINDOW_MS = 2_000

#: A backlog is never planned to drain faster than this many task durations.
MIN_DRAIN_DURATIONS = 1.5

#: A smaller size is chosen only if this fraction of a worker would still be spare.
DOWN_HYSTERESIS = 0.25

#: A smaller size must hold the queue this many worker startups longer than the planning horizon
#: (ski rental: a worker let go must stay gone at least as long as its relaunch is billed; and a
#: worker retired while it holds a long task keeps billing, its free slots idle, until it ends).
DOWN_HORIZON = 3.0

#: A group one worker above a stationary load lets that worker go while tasks wait, if the
#: smaller group keeps the newest waiting task within this share of the target wait.
STANDING_QUEUE_SHARE = 0.5

#: ... and only while the mean task takes at most this many worker startups.
STANDING_QUEUE_TASK_STARTUPS = 1.5

#: While the starts counted since a reading are this many standard deviations (Poisson) above
#: what the load predicts, a partly busy worker is not spare: the load average lags a burst's
#: start by its time constant (a real run went 2 -> 1 workers with 7 of 8 slots busy, 16 tasks
#: started in 2 s where the load said 10). One sigma, not ``ARRIVALS_SIGMAS``: keeping a busy
#: worker costs little, and three sigmas missed that burst.
BUSY_RISE_SIGMAS = 1.0

#: The server's default stats cache (``matching.TaskQueueInfoByBuildIdTTL``): how late a task on
#: an idle queue may show in the stats.
STATS_CACHE_MS = 5_000

#: Scale-down window before any worker startup has been timed (not a startup guess: those are
#: :data:`workerplane.scaling.slo_floor.DEFAULT_STARTUP_MS`, per strategy).
DEFAULT_SCALE_DOWN_DELAY_MS = 5_000.0

#: Bounds of the learned scale-down window.
MIN_DELAY_MS = 1_000.0
MAX_DELAY_MS = 60_000.0

#: Waiting tasks that must be drained are planned to start within this fraction of the SLO.
DRAIN_FRACTION = 0.8

#: Fraction of a worker's slots the group may be short before another worker is added.
ROUNDING_SLACK = 0.25


class SloDetails(ScalerDetails):
    """``scaler.details`` for ``type: slo``. Only the SLO and min/max need setting."""

    algorithm_name = "slo"

    schedule_to_start_slo_ms: Annotated[int, temporal_int(1)] = 5_000
    """The p95 schedule-to-start latency to meet."""

    min_count: Annotated[int, temporal_int(0, int32=True)] = 0
    """Never fewer workers than this (a warm pool, if the user wants one)."""

    max_count: Annotated[int, temporal_int(1, int32=True)] = 10
    """Never more workers than this."""

    target_per_worker: Annotated[float | None, temporal_float(0, exclusive=True)] = None
    """Slots per worker. When unset: what the workers report (``WorkerCensus.slots``), else
    learned from the census (in flight per ready worker)."""

    target_wait_fraction: Annotated[float, temporal_float(0, exclusive=True)] = 0.6
    """Plan the group so that the newest waiting task starts within this fraction of the SLO (the
    rest is headroom for the noise of arrivals, the stats cache and worker startups)."""

    scale_down_delay_ms: Annotated[int | None, temporal_int(0)] = None
    """Scale down to the highest size asked for during this window. Unset: the learned worker
    startup time (ski rental: an idle worker is kept as long as a replacement takes to start),
    5 s until a startup has been observed."""

    metrics_poll_interval_ms: Annotated[int, temporal_int(100)] = 1_000
    """How often the controller observes the group."""

    worker_startup_ms: Annotated[int | None, temporal_int(0)] = None
    """How long a worker takes from its start to its first poll, until one has been timed. It
    also sets the lowest SLO reachable from zero workers (``slo_floor.reachable_slo``)."""

    max_warm_idle_ms: Annotated[int | None, temporal_int(0)] = None
    """Keep one idle worker warm this long after the last task when a cold start cannot meet the
    SLO (ski rental with a bound: the user pays for the lower SLO). Unset: a worker is kept warm
    only while the expected gap to the next task costs less than a cold start."""

    prewarm: PrewarmDetails = PrewarmDetails()
    """Warm workers ahead of the Temporal Schedules that start work on the group's queues
    (:mod:`workerplane.planning.prewarm`, docs/prewarming.md)."""

    feedback: bool = True
    """Let the p95 schedule-to-start the workers measure adjust ``target_wait_fraction``
    (:mod:`workerplane.scaling.slo_feedback`). Off: the configured fraction, always."""

    @model_validator(mode="after")
    def _cross_field_rules(self) -> SloDetails:
        if self.min_count > self.max_count:
            raise rule_error(
                f"min_count ({self.min_count}) must not exceed max_count ({self.max_count})"
            )
        if self.target_wait_fraction > 1:
            raise rule_error("target_wait_fraction must be at most 1")
        return self


@dataclass(frozen=True)
class SloState:
    """What ``slo`` learns and remembers.

    Attributes:
        size: the size last asked for (``None`` before the first decision).
        slots: learned slots per worker (``None`` until a loaded worker has been seen).
        duration_s: learned mean task duration (``None`` until a steady stretch was seen).
        load: in-flight tasks, averaged over ``LOAD_TAU_S``.
        slow_load: in-flight tasks, averaged over ``RATE_TAU_S`` (pairs with Temporal's rates).
        last_stats: the task-queue stats of the previous observation (to spot cached copies).
        last_ms: time of the previous observation.
        last_scale_down_ms: time of the last scale-down.
        window: ``(t_ms, desired)`` samples of the last ``scale_down_delay_ms`` as a monotonic
            queue (the first entry is the window maximum).
        recent: ``(t_ms, in_flight)`` of the last ``PEAK_WINDOW_MS``, monotonic like ``window``.
        startup_ms: learned worker startup time (scale-up until every asked worker polls).
        scale_up_ms: when the scale-up being timed was asked for (``None``: none pending).
        scale_up_mark: the ready count that marks half of that scale-up's workers polling.
        backlog_est: waiting tasks now: the last fresh stats' backlog, carried forward between
            fresh copies by the arrival rate minus what the busy slots complete.
        last_up_ms: when the group last grew (its workers may still be starting).
        arrival_rate: tasks/s arriving between fresh stats, smoothed (``None`` until seen).
        arrival_sample: tasks/s arriving between the last two fresh stats, not smoothed.
        fresh_ms, fresh_backlog, fresh_in_flight: time, backlog and in-flight count of the last
            fresh stats (or of the last uncached reading that nothing waits), from which the
            arrivals are counted.
        surge_rate: the arrivals/s of the last count, when far above the average before it (a
            storm's start); ``None`` otherwise.
        done_since: tasks estimated to have completed since then (in flight / duration).
        last_in_flight: the in-flight count of the previous observation.
        littles_s: the task duration by Little's law alone (``None`` until a steady stretch).
        last_completed: the census's running total of completions at the previous observation.
        reported_s: the last task duration the workers reported that was trusted.
        reported_n: the finished tasks behind ``reported_s``, decayed over ``REPORTED_TAU_S``.
        idle_since_ms: since when nothing has run or waited (``None``: something does).
        idle_gaps: how long the group's last few idle stretches lasted (seconds, oldest
            first), each from its last task done to its next task seen:
            :func:`workerplane.scaling.slo_idle.learn_idle_gap`.
        release_now: scale down without the window: ski rental let the idle group go, or the
            counted starts say the arrivals have fallen and nothing waits.
        feedback: what the achieved schedule-to-start taught (:func:`wait_fraction`).
        waiting_since_ms: when the oldest waiting task arrived, while the group has no worker
            (before the duration is known, while anything waits; ``None`` otherwise):
            :mod:`workerplane.scaling.slo_first`, :func:`~workerplane.scaling.slo_idle.
            first_worker_deferred`.
        wait_paused: since ``waiting_since_ms``, what waits has stood still for a reading: it
            landed and stopped, as a storm does, where a stream goes on arriving.
        tail_ms: by when the newest waiting task had arrived: the last reading that counted
            arrivals (``None`` when nothing waits). A storm's tail ages while it waits.
        count_fell: the last count between fresh readings was far below the rate before it.
        young: the in-flight tasks younger than half a task's length, by when they started
            (:mod:`workerplane.scaling.slo_inflight`).
        warmed: a warm-up's floor has held since the feedback loop last judged a window
            (:mod:`workerplane.planning.prewarm` sets it): a miss then is the warm pool's size.
        lagging_since_ms: since when the census has shown fewer tasks started than left the
            queue (``None``: it has not), while the count of arrivals waits for it.
        workflows_since_ms: since when the workflow queue has shown workflow tasks dispatched
            (``None``: it does not now): :func:`activity_adds_settled`.
    """

    size: int | None = None
    slots: float | None = None
    duration_s: float | None = None
    load: float | None = None
    slow_load: float | None = None
    last_stats: QueueStats | None = None
    last_ms: int | None = None
    last_scale_down_ms: int | None = None
    window: tuple[tuple[int, int], ...] = ()
    recent: tuple[tuple[int, float], ...] = ()
    startup_ms: float | None = None
    scale_up_ms: int | None = None
    scale_up_mark: int = 0
    backlog_est: float = 0.0
    last_up_ms: int | None = None
    arrival_rate: float | None = None
    arrival_sample: float | None = None
    fresh_ms: int | None = None
    fresh_backlog: float = 0.0
    fresh_in_flight: float = 0.0
    surge_rate: float | None = None
    done_since: float = 0.0
    last_in_flight: float = 0.0
    littles_s: float | None = None
    last_completed: int | None = None
    reported_s: float | None = None
    reported_n: float = 0.0
    idle_since_ms: int | None = None
    idle_gaps: tuple[float, ...] = ()
    release_now: bool = False
    feedback: Feedback = field(default_factory=Feedback)
    waiting_since_ms: int | None = None
    wait_paused: bool = False
    tail_ms: int | None = None
    count_fell: bool = False
    young: Cohorts = ()
    warmed: bool = False
    lagging_since_ms: int | None = None
    workflows_since_ms: int | None = None


def wait_fraction(details: SloDetails, state: SloState) -> float:
    """The share of the SLO waiting tasks are planned to start within: ``target_wait_fraction``,
    scaled by the feedback of the achieved p95 when it is on (relaxed at most to
    ``MAX_FRACTION``)."""
    configured = details.target_wait_fraction
    if not details.feedback:
        return configured
    return min(max(configured, MAX_FRACTION), configured * state.feedback.scale)


#: Activities expected per waiting workflow task while the queue's rates cannot tell (no workflow
#: task ran lately): a workflow's first task usually schedules its first activity.
DEFAULT_ACTIVITIES_PER_WORKFLOW_TASK = 1.0

#: How long Temporal caches a task type's stats by default (``matching.TaskQueueInfoByBuildIdTTL``
#: and its relatives), each type on its own clock: one type's reply may be this much older than
#: another's.
SERVER_STATS_CACHE_S = 5.0


def workflows_dispatching_since(
    since_ms: int | None, metrics: GroupMetrics, now_ms: int
) -> int | None:
    """Since when the workflow queue has shown workflow tasks dispatched (kept from ``since_ms``
    while it still does), or ``None`` when it does not now."""
    workflow = metrics.by_type.get("WORKFLOW")
    if workflow is None or workflow.dispatch_rate <= IDLE_RATE_EPSILON:
        return None
    return now_ms if since_ms is None else since_ms


def activity_adds_settled(since_ms: int | None, now_ms: int, poll_s: float) -> bool:
    """Whether an activity add rate of zero can be believed: workflow tasks have been seen
    dispatched for longer than the server caches the activity queue's stats (and a poll).

    Before then, the activity reply may predate the first workflow tasks run: a wave's first
    workers run its workflow tasks (the workflow reply, fresh, shows them dispatched) while the
    activity reply, cached a few seconds earlier, shows no activity added yet. Read as "these
    workflows run no activities", that sized the wave's waiting workflow tasks as no work.
    """
    return since_ms is not None and now_ms - since_ms >= 1000.0 * (SERVER_STATS_CACHE_S + poll_s)


def activities_per_workflow_task(
    activity: QueueStats, workflow: QueueStats, *, adds_settled: bool = True
) -> float:
    """What each waiting workflow task will likely bring to the activity slots once a worker
    runs it: the activities the queue adds per workflow task it dispatches, at most one.

    Activities are scheduled by workflow tasks a worker ran, so the ratio is taken over the
    workflow tasks dispatched, not those added: a burst of new workflows on a group at zero adds
    workflow tasks at once and dispatches none until a worker polls, and over the add rate it
    read as 0 activities each (200 new workflows sized as one Lambda handler, its 24 others
    asked 4 s later). While no workflow task is dispatched the rates cannot tell, and each
    counts for one.

    The normal queue's workflow tasks are mostly a workflow's first (later ones go to the
    worker's sticky queue), so the ratio is near activities per workflow *over its life*: 0 for
    workflows that run none here, 1 for one activity each, hundreds for a fan-out, and also
    hundreds for a long-lived workflow that runs them one by one. The rates cannot tell the last
    two apart, so one new workflow is never taken for hundreds of activities at once; a fan-out
    shows its activities once a worker has run its first workflow task.

    A zero add rate on the activity queue counts as "no activities" only once ``adds_settled``
    (:func:`activity_adds_settled`); before that, each waiting workflow task counts for one.
    """
    if workflow.dispatch_rate <= IDLE_RATE_EPSILON:
        return DEFAULT_ACTIVITIES_PER_WORKFLOW_TASK
    if activity.add_rate <= IDLE_RATE_EPSILON and not adds_settled:
        return DEFAULT_ACTIVITIES_PER_WORKFLOW_TASK
    return min(1.0, activity.add_rate / workflow.dispatch_rate)


def sizing_stats(metrics: GroupMetrics, *, adds_settled: bool = True) -> tuple[QueueStats, bool]:
    """The stats that size the group's slots, and whether other task types wait for a poller.

    A worker's slots (and the census's ``in_flight``) are activity slots; workflow tasks run in a
    separate, much larger pool and take milliseconds. So when a group serves activities and other
    types, only the activity queue is sized in slots. Summing the types would count each
    workflow's two workflow tasks as work to give slots to, and make Little's law see three tasks
    where one activity runs.

    Waiting workflow tasks count for the activities they will schedule
    (:func:`activities_per_workflow_task`): a burst of new workflows on a group at zero shows
    first as workflow tasks only, and sized as one poller, its activities were seen a cycle or
    two later, once the first worker had run their workflow tasks (p95 3.7 s where sizing the
    burst at once gave 2.6 s, on a real server). ``adds_settled``: see
    :func:`activities_per_workflow_task`.
    """
    if not _sizes_activities_alone(metrics):
        return metrics.stats, False
    activity = metrics.by_type["ACTIVITY"]
    waiting = any(s.backlog_count > 0 for t, s in metrics.by_type.items() if t != "ACTIVITY")
    workflow = metrics.by_type.get("WORKFLOW")
    if workflow is not None and workflow.backlog_count > 0:
        per_task = activities_per_workflow_task(activity, workflow, adds_settled=adds_settled)
        coming = round(workflow.backlog_count * per_task)
        activity = replace(activity, backlog_count=activity.backlog_count + coming)
    return activity, waiting


def sized_backlog_read_now(metrics: GroupMetrics) -> bool:
    """Whether the backlog :func:`sizing_stats` sizes on was read uncached this cycle
    (``GroupMetrics.backlog_read_now``): the activity queue's, or every type's it sums."""
    read_now = metrics.backlog_read_now
    if _sizes_activities_alone(metrics):
        return "ACTIVITY" in read_now
    if not metrics.by_type:
        return ALL_TYPES in read_now
    return set(metrics.by_type) <= read_now


def _sizes_activities_alone(metrics: GroupMetrics) -> bool:
    """Whether the group serves activities and other types (:func:`sizing_stats`)."""
    return "ACTIVITY" in metrics.by_type and len(metrics.by_type) >= 2


def ewma(previous: float | None, sample: float, dt_s: float, tau_s: float) -> float:
    """A time-based exponentially weighted average (irregular sampling safe)."""
    if previous is None:
        return sample
    weight = 1.0 - math.exp(-max(dt_s, 0.0) / tau_s)
    return previous + weight * (sample - previous)
