"""The schedule-to-start a group's tasks achieved, kept per minute, and judged against its SLO.

Each cycle the census brings the workers' growing latency sketch
(:attr:`~workerplane.scaling.types.WorkerCensus.schedule_to_start`). :class:`LatencyWindow`
keeps the difference from the previous one per wall-clock minute for the last hour, so the
status can report any window up to that without keeping single tasks. Longer windows come from
the telemetry store, which keeps each cycle's difference (:attr:`LatencyWindow.latest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from workerplane.scaling.latency import AchievedLatency, GroupFacts, LatencySketch, achieved
from workerplane.scaling.slo import SloScaler, SloState
from workerplane.scaling.slo_floor import reachable_slo
from workerplane.scaling.slo_model import wait_fraction

#: Minutes of per-minute sketches a group keeps in memory.
RETAINED_MINUTES = 60
#: The window the status reports (the console's default chart window).
STATUS_WINDOW_S = 900.0


@dataclass(frozen=True)
class LatencyWindow:
    """A group's achieved schedule-to-start, per minute.

    Attributes:
        last: the cumulative sketch last observed (``None`` before the first one).
        minutes: ``(epoch minute, sketch of the tasks measured in it)``, oldest first.
        latest: the tasks measured between the last two observations.
    """

    last: LatencySketch | None = None
    minutes: tuple[tuple[int, LatencySketch], ...] = ()
    latest: LatencySketch = field(default_factory=LatencySketch)

    def observe(self, cumulative: LatencySketch | None, wall_time: float) -> LatencyWindow:
        """The window after a census that brought ``cumulative`` at ``wall_time``. The first
        observation is the baseline: what the workers measured before it is not known to be
        recent (e.g. workers adopted by a restarted controller)."""
        if cumulative is None:
            return LatencyWindow(self.last, self.minutes)
        if self.last is None:
            return LatencyWindow(cumulative, self.minutes)
        delta = cumulative.since(self.last)
        minute = int(wall_time // 60)
        kept = [(m, s) for m, s in self.minutes if m > minute - RETAINED_MINUTES]
        if delta.count:
            if kept and kept[-1][0] == minute:
                kept[-1] = (minute, kept[-1][1].merge(delta))
            else:
                kept.append((minute, delta))
        return LatencyWindow(cumulative, tuple(kept), delta)

    def over(self, window_s: float, wall_time: float) -> LatencySketch:
        """The tasks measured in the last ``window_s`` (to the minute)."""
        first = int((wall_time - window_s) // 60)
        result = LatencySketch()
        for minute, sketch in self.minutes:
            if minute >= first:
                result = result.merge(sketch)
        return result


@dataclass(frozen=True)
class LatencyTarget:
    """A group's schedule-to-start SLO, what bounds it, and the share of it the scaler plans
    waiting tasks to start within (see :func:`latency_target`)."""

    slo_s: float
    max_count: int
    startup_s: float
    signal_delay_s: float
    wait_fraction: float | None = None
    configured_wait_fraction: float | None = None
    feedback: str | None = None


def latency_target(
    scaler: object, scaler_state: object, *, fresh_signals: bool = True
) -> LatencyTarget | None:
    """The SLO of a group whose scaler has one (``slo``), with the worker startup it has learned
    (or assumes), the delay before a new task can be seen, and the target wait its feedback
    set; ``None`` for scalers without an SLO."""
    if not isinstance(scaler, SloScaler):
        return None
    reach = reachable_slo(scaler.details, scaler.strategy, fresh_signals=fresh_signals)
    state = scaler_state if isinstance(scaler_state, SloState) else SloState()
    learned = state.startup_ms
    return LatencyTarget(
        slo_s=scaler.details.schedule_to_start_slo_ms / 1000,
        max_count=scaler.details.max_count,
        startup_s=(learned if learned is not None else reach.startup_ms) / 1000,
        signal_delay_s=(reach.signal_ms + reach.poll_ms) / 1000,
        wait_fraction=wait_fraction(scaler.details, state),
        configured_wait_fraction=scaler.details.target_wait_fraction,
        feedback=state.feedback.summary(),
    )


def in_effect(
    target: LatencyTarget | None, reported: AchievedLatency | None
) -> LatencyTarget | None:
    """``target`` (built from the spec alone) with the target wait the controller last reported
    in effect: the feedback's share lives in the controller's scaler state, which only the
    group's status carries, so a window read back from the telemetry store is shown with it."""
    if target is None or reported is None or reported.target_wait_fraction is None:
        return target
    return replace(target, wait_fraction=reported.target_wait_fraction, feedback=reported.feedback)


def achieved_over(
    window: LatencyWindow,
    window_s: float,
    wall_time: float,
    target: LatencyTarget | None,
    workers: int | None,
) -> AchievedLatency | None:
    """What the group achieved in the window, against ``target``; ``None`` before the workers
    report any measurement (a provider that cannot collect them)."""
    if window.last is None:
        return None
    return judge(window.over(window_s, wall_time), window_s, target, workers)


def judge(
    sketch: LatencySketch, window_s: float, target: LatencyTarget | None, workers: int | None
) -> AchievedLatency:
    """``sketch`` (the tasks of a ``window_s`` window) against ``target``; ``workers`` is what
    the group ran (to tell a capped group)."""
    facts = GroupFacts(
        desired=workers,
        max_count=target.max_count if target else None,
        startup_s=target.startup_s if target else None,
        signal_delay_s=target.signal_delay_s if target else 0.0,
    )
    result = achieved(sketch, window_s, target.slo_s if target else None, facts)
    if target is None:
        return result
    return replace(
        result,
        target_wait_fraction=target.wait_fraction,
        configured_wait_fraction=target.configured_wait_fraction,
        feedback=target.feedback,
    )
