"""Closed-loop feedback for ``slo``: the schedule-to-start the tasks really got adjusts how much of
the SLO the scaler plans waiting tasks to start within.

The scaler sizes a group from queue statistics so that the newest waiting task starts within
``target_wait_fraction`` (0.6) of the SLO. That model is pessimistic where it cannot see the
slack (a storm's warm pool sized to absorb every task within 0.6 of the SLO gets a p95 well
under it) and optimistic where it cannot see the delays. The workers measure what every task got
(:mod:`workerplane.scaling.latency`), and the census brings their growing sketch each cycle. So:

* **a window**: the tasks measured since the window opened (the census's sketch less the
  previous one), judged once it holds ``MIN_TASKS`` tasks over at least ``MIN_WINDOW_S``; a
  window that gathers fewer in ``MAX_WINDOW_S`` is too sparse to judge and starts over;
* **the verdict** on its p95, with hysteresis: above the SLO, a miss, tightens (a smaller scale)
  when capacity can fix it (:func:`~workerplane.scaling.latency.miss_cause` says
  ``CAPACITY``: not at ``max_count``, and a task finding no worker could still meet the SLO);
  with this window's p95 and the one before below ``RELAX_BELOW`` of the SLO it relaxes (a
  larger scale); in between, holds;
* **a bounded step**: the scale moves towards ``GOAL`` of the SLO in proportion to the
  p95's distance from it (the queue's share of the wait grows with the planned wait), at most
  ``MAX_RELAX_STEP`` up or ``MAX_TIGHTEN_STEP`` down per window, within ``[MIN_SCALE,
  MAX_SCALE]``; after a miss, relaxing stops one step below the scale that missed (that
  ceiling lifts by ``CEILING_LIFT`` per window without a miss), so the loop cannot swing
  between the two;
* **decay**: when no new measurement has come for ``STALE_S`` (a provider that collects none,
  or a group long idle), the scale returns to 1 with time constant ``DECAY_TAU_S``. A group
  whose workers never report stays at exactly 1: it is sized as without feedback.

With an SLO below what a task that finds no worker can get (``slo_floor.reachable_slo``) more
capacity cannot make the SLO: a miss there only undoes a relaxation, never tightens below 1.

Pure: the sketch comes in with the census, times are the scaler's ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from workerplane.scaling.latency import GroupFacts, LatencySketch, MissCause, miss_cause

#: A window is judged once it holds this many tasks (a p95 of fewer is three tasks' word) ...
MIN_TASKS = 50
#: ... and spans at least this long (a storm's tasks, reported over a few cycles, in one window).
MIN_WINDOW_S = 120.0
#: A window that has not gathered ``MIN_TASKS`` in this long is dropped: too sparse to judge.
MAX_WINDOW_S = 1800.0

#: A p95 below this share of the SLO is comfortably under it: relax. Between it and the SLO the
#: scale holds (the hysteresis band).
RELAX_BELOW = 0.8
#: Where the proportional step aims the p95, as a share of the SLO.
GOAL = 0.85
#: The largest step per window, as a share of the scale (up, down).
MAX_RELAX_STEP = 0.25
MAX_TIGHTEN_STEP = 0.25
#: Bounds of the scale on the configured ``target_wait_fraction`` ...
MIN_SCALE = 0.5
MAX_SCALE = 1.5
#: ... and the largest fraction a relaxation reaches (a configured larger one is kept): the
#: p95 is not proportional to the planned wait near the SLO. A cron storm at a 30 s SLO waited
#: 12 s at 0.75 of the SLO, 32 s at 0.9; at a 5 s SLO, before the plan held the tail of the
#: queue waiting now to the target too, a storm planned at 0.8 got p95 5.5 s. With it, 0.85
#: keeps every seed of the built-in traces within 5 s (p95 4.56 s at most over 10 seeds).
MAX_FRACTION = 0.85
#: After a miss, the ceiling of relaxations lifts by this share per window judged without one.
CEILING_LIFT = 0.05

#: With no new measurement for this long the scale decays back to 1 ...
STALE_S = 1800.0
#: ... with this time constant.
DECAY_TAU_S = 900.0


@dataclass(frozen=True)
class Verdict:
    """The last judged window: what it measured and what the loop did about it.

    Attributes:
        count: tasks in the window.
        p95_s: their p95 schedule-to-start.
        slo_s: the SLO it was judged against.
        action: ``"relaxed"``, ``"tightened"``, ``"held"``, ``"held (not capacity: ...)"``.
    """

    count: int
    p95_s: float
    slo_s: float
    action: str


@dataclass(frozen=True)
class Feedback:
    """What the feedback loop remembers.

    Attributes:
        scale: the factor on ``target_wait_fraction`` (1: the configured fraction).
        ceiling: the largest scale a relaxation may reach again (lowered after a miss).
        baseline: the census's cumulative sketch last seen (``None`` before the first).
        window: the tasks measured since the window opened.
        opened_ms: when the window opened (its first task was reported); ``None``: empty.
        peak_size: the largest size asked for while the window was open.
        measured_ms: when the last new measurement came (``None``: never).
        decayed_ms: when the decay was last applied.
        verdict: the last window judged (``None`` before the first).
    """

    scale: float = 1.0
    ceiling: float = MAX_SCALE
    baseline: LatencySketch | None = None
    window: LatencySketch = field(default_factory=LatencySketch)
    opened_ms: int | None = None
    peak_size: int = 0
    measured_ms: int | None = None
    decayed_ms: int | None = None
    verdict: Verdict | None = None

    def summary(self) -> str | None:
        """The last verdict, when it moved the scale from the default (``None`` otherwise)."""
        v = self.verdict
        if self.scale == 1.0 or v is None:
            return None
        return f"p95 {v.p95_s:.2f}s/{v.slo_s:g}s over {v.count} tasks: {v.action}"

    def describe(self, fraction: float) -> str:
        """Why the target wait is what it is, for the decision's reason (empty at the default)."""
        summary = self.summary()
        if summary is None:
            return ""
        return f"; feedback: wait target {fraction:.2f} of the SLO ({summary})"


def observe(
    fb: Feedback,
    cumulative: LatencySketch | None,
    now_ms: int,
    size: int,
    slo_s: float,
    facts: GroupFacts,
) -> Feedback:
    """The loop after a census that brought ``cumulative`` at ``now_ms`` (the group asked for
    ``size`` workers). ``facts`` say what bounds the group, to tell a miss capacity can fix."""
    if cumulative is None or fb.baseline is None:
        # The first sketch is the baseline: what was measured before is not known to be recent.
        return _decay(replace(fb, baseline=cumulative or fb.baseline), now_ms)
    new = cumulative.since(fb.baseline)
    fb = replace(fb, baseline=cumulative)
    if new.count:
        fb = replace(
            fb,
            window=fb.window.merge(new),
            opened_ms=fb.opened_ms if fb.opened_ms is not None else now_ms,
            measured_ms=now_ms,
            decayed_ms=None,
        )
    opened = fb.opened_ms
    if opened is None:
        return _decay(fb, now_ms)
    fb = replace(fb, peak_size=max(fb.peak_size, size))
    span_ms = now_ms - opened
    if fb.window.count < MIN_TASKS or span_ms < MIN_WINDOW_S * 1000:
        if span_ms > MAX_WINDOW_S * 1000:
            return replace(fb, window=LatencySketch(), opened_ms=None, peak_size=0)
        return fb
    p95 = fb.window.quantile(0.95)
    assert p95 is not None  # the window holds tasks
    count, facts = fb.window.count, replace(facts, desired=fb.peak_size)
    fb = replace(fb, window=LatencySketch(), opened_ms=None, peak_size=0)
    return judged(fb, p95, count, slo_s, facts)


def judged(fb: Feedback, p95_s: float, count: int, slo_s: float, facts: GroupFacts) -> Feedback:
    """The loop after a window of ``count`` tasks whose p95 was ``p95_s``."""
    ceiling = min(MAX_SCALE, fb.ceiling * (1.0 + CEILING_LIFT))
    # Relaxing needs this window and the one before comfortably under (one storm or fan-out
    # per window is noisy); a miss tightens at once.
    worst = max(p95_s, fb.verdict.p95_s) if fb.verdict is not None else p95_s
    if p95_s > slo_s:
        cause = miss_cause(slo_s, facts)
        # After a miss, relaxing stops one step below the scale that missed.
        ceiling = max(MIN_SCALE, min(fb.ceiling, fb.scale / (1.0 + MAX_RELAX_STEP)))
        floor = MIN_SCALE if cause is MissCause.CAPACITY else min(1.0, fb.scale)
        step = max(1.0 - MAX_TIGHTEN_STEP, GOAL * slo_s / p95_s)
        scale = max(floor, fb.scale * step)
        action = "tightened" if scale < fb.scale else f"held (not capacity: {cause.value})"
    elif worst < RELAX_BELOW * slo_s:
        step = min(1.0 + MAX_RELAX_STEP, GOAL * slo_s / max(worst, 1e-3))
        scale = max(fb.scale, min(ceiling, fb.scale * step))
        action = "relaxed" if scale > fb.scale else "held (at its bound)"
    else:
        scale, action = fb.scale, "held"
    return replace(fb, scale=scale, ceiling=ceiling, verdict=Verdict(count, p95_s, slo_s, action))


def _decay(fb: Feedback, now_ms: int) -> Feedback:
    """``fb`` with its scale (and ceiling) decayed towards the default once stale."""
    if fb.scale == 1.0 and fb.ceiling == MAX_SCALE:
        return fb
    stale_at = None if fb.measured_ms is None else fb.measured_ms + STALE_S * 1000
    if stale_at is not None and now_ms <= stale_at:
        return fb
    since = fb.decayed_ms if fb.decayed_ms is not None else (stale_at or now_ms)
    keep = math.exp(-max(0, now_ms - since) / (DECAY_TAU_S * 1000))
    scale = 1.0 + (fb.scale - 1.0) * keep
    ceiling = MAX_SCALE + (fb.ceiling - MAX_SCALE) * keep
    if abs(scale - 1.0) < 0.01 and MAX_SCALE - ceiling < 0.01:
        return replace(fb, scale=1.0, ceiling=MAX_SCALE, decayed_ms=now_ms)
    return replace(fb, scale=scale, ceiling=ceiling, decayed_ms=now_ms)
