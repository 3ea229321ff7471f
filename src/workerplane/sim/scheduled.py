"""What a pre-warming policy learns of a scheduled trace: the schedule's upcoming runs, with the
work its finished runs brought, as the controller reads them from Temporal
(:mod:`workerplane.temporal.schedules`).

A trace's ``actions`` are the schedule's action times; run ``i`` is every task arriving from
action ``i`` until the next one. A run counts as past (its work learned) once its last task would
have ended had it started on arrival, as a run's history is read once its workflow has closed.
The schedule ran before the trace starts, as a real one has when a controller starts watching it:
one period before the first action it brought what the first run brings (so the first run of the
trace is warmed like the others; a schedule that never ran is only warmed for by a hint).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace

import numpy as np

from workerplane.planning.warmups import PastRun, UpcomingRun, arrival_curve, learn_run_work
from workerplane.sim.traces import Trace

#: The schedule id the simulated runs report.
SCHEDULE_ID = "storm"

#: Upcoming runs the reader returns (Temporal lists the next ten).
NEXT_RUNS = 3

#: Runs that fired this long ago are still returned, so the warm floor holds while one lands
#: (the controller's reader returns the schedule's recent actions the same way).
RECENT_S = 300.0


@dataclass(frozen=True)
class _Run:
    past: PastRun
    finished_at: float


class TraceSchedule:
    """The schedule behind a trace, as a pre-warming policy sees it at any time."""

    def __init__(self, trace: Trace) -> None:
        self.actions = sorted(trace.actions)
        self.runs: list[_Run] = []
        bounds = [*self.actions, np.inf]
        for start, end in zip(self.actions, bounds[1:], strict=False):
            mask = (trace.arrivals >= start) & (trace.arrivals < end)
            arrivals, durations = trace.arrivals[mask], trace.durations[mask]
            if not len(arrivals):
                continue
            past = PastRun(
                action_at=start,
                tasks=len(arrivals),
                mean_task_s=float(durations.mean()),
                spread_s=float(arrivals.max() - arrivals.min()),
                arrivals=arrival_curve([float(a) for a in arrivals]),
            )
            self.runs.append(_Run(past, float((arrivals + durations).max())))
        if len(self.actions) > 1 and self.runs:
            period = self.actions[1] - self.actions[0]
            first = self.runs[0].past
            before = replace(first, action_at=first.action_at - period)
            self.runs.insert(0, _Run(before, -np.inf))

    def upcoming(self, now: float) -> tuple[UpcomingRun, ...]:
        """The runs firing from ``RECENT_S`` ago on (at most ``NEXT_RUNS`` ahead), each with the
        work learned from the runs finished by ``now``."""
        if not self.actions:
            return ()
        work = learn_run_work([r.past for r in self.runs if r.finished_at <= now])
        first = bisect_left(self.actions, now - RECENT_S)
        ahead = bisect_left(self.actions, now)
        chosen = self.actions[first : ahead + NEXT_RUNS]
        return tuple(UpcomingRun(SCHEDULE_ID, at, work) for at in chosen)
