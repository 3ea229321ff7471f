"""The warm-ups of upcoming runs: what a run brings (learned from the schedule's past runs or
from a recurrence, with the curve its tasks land on), how many workers start its tasks within the
scaler's target wait, and when they must be asked for so that they poll as it lands (a ramp that
follows the curve).

Pure, like the rest of the pre-warming plan (:mod:`workerplane.planning.prewarm` applies these
warm-ups as a floor under the group's size; docs/prewarming.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from workerplane.planning.status import Warmup
from workerplane.scaling.prewarm import PrewarmDetails

#: A warm-up's floor steps: ``(from, workers)``, earliest first (``Warmup.ramp``).
Ramp = tuple[tuple[float, int], ...]

#: Warmed workers are asked for a typical startup (the time until half of a scale-up polls)
#: ahead, plus the margin: the slower half polls while the run lands, and a run's tasks land
#: over its spread and may each wait the target wait, which the warm size already counts on.
#: No poll interval is added: the timed startup runs from the cycle that asked to the cycle that
#: saw half the workers poll, so it already holds the cycle's rounding (with it, each warmed
#: worker idled a second before the policy lab's scheduled storm; 1.5 startups ahead, two).
STARTUP_LEAD = 1.0

#: What a run brings is learned from at most this many of the schedule's latest finished runs.
LEARN_RUNS = 5

#: The run's spread counts at this weight in the window its tasks may start in: a slot takes its
#: first task as the run lands, so it has a little less than the spread to work through others
#: (set on the policy lab's scheduled storm, where the full spread leaves p95 just above the SLO).
SPREAD_WEIGHT = 0.9

#: The floor is held this many poll intervals after the run's last task was expected to land, so
#: that the scaler has seen the run (in flight or waiting) before the floor goes; and at least a
#: startup: a warm-up that came up slower than learned is still starting then, and releasing its
#: floor stopped its workers before they polled (100 schedules on a loaded dev server: five
#: workers asked 6 s ahead, not polling 1 s after the action, stopped by the scale-down).
HOLD_POLLS = 2

#: A run's arrival curve is kept as the offsets of its tasks from its first task at this many
#: evenly spaced shares of them (0, 10 %, ..., 100 %): enough to follow a storm's first seconds,
#: few enough to keep per schedule and to read in a status.
ARRIVAL_QUANTILES = 11


@dataclass(frozen=True)
class PastRun:
    """One finished run of a schedule, as its workflow's history tells it.

    Attributes:
        action_at: when the schedule fired (epoch seconds).
        tasks: activity tasks the run scheduled on the group's task queues.
        mean_task_s: their mean run time (``None`` when none completed).
        spread_s: from the run's first task to its last (when they were scheduled).
        arrivals: how its tasks landed: :func:`arrival_curve` of their scheduled times; empty
            when unknown (taken as landing evenly over ``spread_s``).
    """

    action_at: float
    tasks: int
    mean_task_s: float | None
    spread_s: float
    arrivals: tuple[float, ...] = ()


@dataclass(frozen=True)
class RunWork:
    """What a schedule's next run is expected to bring, learned from ``runs`` past runs
    (``arrivals``: the curve its tasks land on, :func:`arrival_curve`; empty: evenly)."""

    tasks: int
    mean_task_s: float | None
    spread_s: float
    runs: int
    arrivals: tuple[float, ...] = ()


@dataclass(frozen=True)
class UpcomingRun:
    """A run a schedule will start on the group's queues.

    Attributes:
        schedule_id: the schedule.
        at: its action time (epoch seconds).
        work: what it is expected to bring; ``None`` until a past run has been seen (only a hint
            then warms for it).
        basis: what its time is based on when no schedule announced it (an inferred period,
            :mod:`workerplane.planning.recurrence`); empty for a schedule's run.
    """

    schedule_id: str
    at: float
    work: RunWork | None = None
    basis: str = ""


@dataclass(frozen=True)
class WarmupSizing:
    """What turns a run's work into workers and its action time into a warm-up window."""

    startup_s: float
    poll_s: float
    margin_s: float
    slots: float
    target_wait_s: float
    max_count: int
    startup_lead: float = STARTUP_LEAD

    @property
    def lead_s(self) -> float:
        """How long before the action time the workers are asked for (the floor is applied on
        the first cycle from then on)."""
        return self.startup_lead * self.startup_s + self.margin_s


def arrival_curve(instants: Sequence[float]) -> tuple[float, ...]:
    """When a run's tasks landed, as offsets from its first task at ``ARRIVAL_QUANTILES`` evenly
    spaced shares of them (the first 0.0, the last the run's spread); empty without a task."""
    ordered = sorted(instants)
    if not ordered:
        return ()
    last = len(ordered) - 1
    return tuple(
        _between(ordered, last * k / (ARRIVAL_QUANTILES - 1)) - ordered[0]
        for k in range(ARRIVAL_QUANTILES)
    )


def _between(values: Sequence[float], position: float) -> float:
    """``values`` at a fractional ``position`` (0 to ``len - 1``), linear between its points."""
    below = min(len(values) - 1, math.floor(position))
    above = min(len(values) - 1, below + 1)
    return values[below] + (position - below) * (values[above] - values[below])


def learn_run_work(past: Sequence[PastRun]) -> RunWork | None:
    """The work of a schedule's next run: the median tasks and duration of its latest runs, the
    widest spread, and the earliest each share of their tasks landed (the arrival curves of the
    runs that have one, point by point: a warm-up that follows it is early rather than late)."""
    recent = sorted(past, key=lambda r: r.action_at)[-LEARN_RUNS:]
    if not recent:
        return None
    durations = [r.mean_task_s for r in recent if r.mean_task_s is not None]
    curves = [r.arrivals for r in recent if len(r.arrivals) == ARRIVAL_QUANTILES]
    return RunWork(
        tasks=int(statistics.median_high(r.tasks for r in recent)),
        mean_task_s=statistics.median(durations) if durations else None,
        spread_s=max(r.spread_s for r in recent),
        runs=len(recent),
        arrivals=tuple(min(points) for points in zip(*curves, strict=True)) if curves else (),
    )


def landed_by(work: RunWork, share: float) -> float:
    """How long after its first task ``share`` of the run's tasks has landed: on its arrival
    curve (linear between its points), else evenly over its spread."""
    share = min(1.0, max(0.0, share))
    if len(work.arrivals) != ARRIVAL_QUANTILES:
        return share * work.spread_s
    return _between(work.arrivals, share * (ARRIVAL_QUANTILES - 1))


def slots_for(work: RunWork, sizing: WarmupSizing) -> float:
    """Slots that start every task of the run within the scaler's target wait.

    Tasks land over ``spread_s`` and each may wait ``target_wait_s``: a slot starts one task at
    once and another every task duration of that window, so ``tasks * d / (d + window)`` slots
    suffice (every task its own slot while the duration is unknown; the spread weighs
    ``SPREAD_WEIGHT``).
    """
    if work.tasks <= 0:
        return 0.0
    d = work.mean_task_s
    window = SPREAD_WEIGHT * work.spread_s + sizing.target_wait_s
    return float(work.tasks) if d is None or d <= 0 else work.tasks * d / (d + window)


def workers_for(work: RunWork, sizing: WarmupSizing) -> int:
    """Workers for :func:`slots_for` the run, never above ``max_count``."""
    return min(sizing.max_count, math.ceil(slots_for(work, sizing) / sizing.slots - 1e-9))


def ramp_for(work: RunWork, workers: int, sizing: WarmupSizing, action_at: float) -> Ramp:
    """The steps a learned warm-up's floor rises by, following the run's arrival curve: each
    worker is asked a lead before its share of the run lands.

    The run's tasks take fresh slots in the order they land (the first ``slots`` tasks the first
    worker's, the next ``slots`` the second's...), so a worker is needed when the first task of
    its share lands; the workers whose share begins within a tenth of the tasks are asked at the
    start of that tenth. A step less than a poll interval after the one before is asked with it:
    the floor is applied once a cycle, and a worker asked a cycle late polls late, which a storm's
    first tasks pay for (the policy lab's scheduled storm, whose 51 workers are all needed within
    0.8 s: asking 13 of them a cycle later put 60 of its first 500 tasks above the 2 s SLO, not
    31). The run's first task is taken to land at the action time: its offset from it is not
    learned, because in a run that found no worker polling, the workflow task that schedules the
    activities waited a cold start."""
    per_worker = sizing.slots / max(1, work.tasks)
    steps: list[tuple[float, int]] = []
    for k in range(ARRIVAL_QUANTILES - 1):
        share_after = (k + 1) / (ARRIVAL_QUANTILES - 1)
        needed = min(workers, math.ceil(share_after / per_worker - 1e-9))
        at = action_at + landed_by(work, k / (ARRIVAL_QUANTILES - 1)) - sizing.lead_s
        if steps and at - steps[-1][0] < sizing.poll_s:
            steps[-1] = (steps[-1][0], needed)
        elif not steps or needed > steps[-1][1]:
            steps.append((at, needed))
        if needed >= workers:
            break
    return tuple(steps)


def plan_warmups(
    runs: Sequence[UpcomingRun], details: PrewarmDetails, sizing: WarmupSizing, now: float
) -> tuple[Warmup, ...]:
    """The next warm-up of each schedule (not yet released at ``now``), earliest first. A hint
    replaces what was learned; a run with neither is not warmed for. Learned runs that land
    together are sized together (:func:`share_landing_together`)."""
    planned: dict[str, Warmup] = {}
    learned: dict[str, RunWork] = {}
    for run in sorted(runs, key=lambda r: r.at):
        if run.schedule_id in planned:
            continue
        hint = details.schedules.get(run.schedule_id)
        spread = run.work.spread_s if run.work is not None else 0.0
        if hint is not None:
            workers = min(hint.workers, sizing.max_count)
            basis = f"hint: {hint.workers} workers"
        elif run.work is not None:
            workers = workers_for(run.work, sizing)
            basis = describe_work(run.work)
            if run.basis:
                basis = f"{run.basis}; {basis}"
        else:
            continue
        ends = run.at + spread + max(HOLD_POLLS * sizing.poll_s, sizing.startup_s)
        if workers <= 0 or ends <= now:
            continue
        if hint is None and run.work is not None:
            learned[run.schedule_id] = run.work
        planned[run.schedule_id] = Warmup(
            schedule_id=run.schedule_id,
            action_at=run.at,
            starts_at=run.at - sizing.lead_s,
            ends_at=ends,
            workers=workers,
            basis=basis,
        )
    planned.update(share_landing_together(planned, learned, sizing))
    for schedule_id, work in learned.items():
        warmup = planned[schedule_id]
        ramp = ramp_for(work, warmup.workers, sizing, warmup.action_at)
        if len(ramp) > 1:
            planned[schedule_id] = replace(warmup, ramp=ramp)
    return tuple(sorted(planned.values(), key=lambda w: w.starts_at))


def share_landing_together(
    planned: Mapping[str, Warmup], learned: Mapping[str, RunWork], sizing: WarmupSizing
) -> dict[str, Warmup]:
    """The learned warm-ups of runs that land together (each fires before the others' tasks
    have all landed), re-sized on their summed slots: a hundred schedules that each start one
    short task at the same minute need the slots of a hundred tasks, not a worker each. The
    group's workers go to its schedules by largest share (some get none; the status still
    lists them, with the group they share)."""
    ordered = sorted(learned, key=lambda s: (planned[s].action_at, s))
    groups: list[list[str]] = []
    lands_until = -math.inf
    for schedule_id in ordered:
        warmup = planned[schedule_id]
        if groups and warmup.action_at <= lands_until:
            groups[-1].append(schedule_id)
        else:
            groups.append([schedule_id])
            lands_until = -math.inf
        lands_until = max(lands_until, warmup.action_at + learned[schedule_id].spread_s)
    shared: dict[str, Warmup] = {}
    for group in (g for g in groups if len(g) > 1):
        shares = {s: slots_for(learned[s], sizing) / sizing.slots for s in group}
        total = min(sizing.max_count, math.ceil(sum(shares.values()) - 1e-9))
        workers = {s: math.floor(shares[s]) for s in group}
        by_remainder = sorted(group, key=lambda s: (workers[s] - shares[s], s))
        for schedule_id in by_remainder[: max(0, total - sum(workers.values()))]:
            workers[schedule_id] += 1
        for schedule_id in group:
            warmup = planned[schedule_id]
            basis = f"{warmup.basis}; {total} workers shared by {len(group)} schedules"
            shared[schedule_id] = replace(warmup, workers=workers[schedule_id], basis=basis)
    return shared


def describe_work(work: RunWork) -> str:
    """What a learned warm-up is based on, in a few words."""
    duration = "?" if work.mean_task_s is None else f"{work.mean_task_s:.1f}s"
    runs = "run" if work.runs == 1 else f"{work.runs} runs"
    return f"learned: {work.tasks} tasks of {duration} over {work.spread_s:.1f}s (last {runs})"
