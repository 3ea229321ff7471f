"""workerplane's default ``backlog`` scaler (both strategies).

Decision rule, per observation:

* ``in_flight`` is the provider's count of executing tasks. When the provider cannot tell
  (``None``) and the queue shows any activity (backlog, or an add/dispatch rate above
  :data:`IDLE_RATE_EPSILON`), every ready worker (every running one if readiness is unknown) is
  assumed fully busy (``ready * target_per_worker``), so a queue whose work is still running is
  never taken for idle. With no activity at all the estimate is 0.
* Workers still starting are capacity on its way, not load. A provider that reports readiness
  says which they are (``running - ready``). An invoke provider that cannot (Lambda) leaves the
  scaler to infer it: a worker it asked for within the last :data:`STARTUP_WINDOW_MS` that the
  server does not yet list among the queue's pollers is starting. So invokes are sized to the
  backlog minus the slots already on their way, instead of asking for more every cycle until the
  first poller shows up. After the window a worker counts as polling (the conservative reading:
  a worker the server forgot, or one that exited idle and is still counted by the provider, is
  taken as busy, never as free capacity).
* ``desired = clamp(ceil((backlog + in_flight) / target_per_worker), min_count, max_count)``.
* Backlog-age SLO (optional): when tasks wait and the oldest has waited longer than
  ``backlog_age_slo_ms``, ``desired`` is raised to ``max(desired + 1, ceil(1.5 * desired))``
  (still capped at ``max_count``).
* Up: at once, on the first observation that needs more workers (optionally at most
  ``max_scale_up_step`` per decision; ``min_count`` always wins over the step).
* Down (worker-set only): to the highest ``desired`` seen during the last
  ``scale_down_cooldown_ms`` (the HPA's stabilization window), and only once the scaler has
  observed the group for a whole window. So scaling to zero needs the group to have been idle
  (no backlog, nothing in flight) for the whole cooldown, and a partial scale-down needs
  ``desired`` to have stayed below the current size for the whole cooldown. A size above
  ``max_count`` (the config was lowered) is cut to ``max_count`` at once.
* Invoke strategy: ``StartWorkers(desired - running)`` when positive, else hold: invoke workers
  leave by themselves when idle (``workerplane.worker``), the scaler never stops them.
* ``metrics=None``: hold, and count the cycle as "keep the current size" in the window, so a
  metrics outage can never end in a scale-down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import model_validator

from workerplane.scaling._fields import ScalerDetails, rule_error, temporal_float, temporal_int
from workerplane.scaling.no_sync import to_ms
from workerplane.scaling.types import (
    IDLE_RATE_EPSILON,
    Decision,
    GroupMetrics,
    Hold,
    SetSize,
    StartWorkers,
    Strategy,
)

#: Factor applied to ``desired`` while the backlog-age SLO is violated (at least +1 worker).
SLO_BOOST = 1.5

#: How long an invoked worker the server has not yet seen polling counts as starting. A cold
#: start (sandbox, interpreter, imports, first poll) takes a few seconds; past this, a worker
#: that never polled is taken as busy, so a lost invocation is replaced.
STARTUP_WINDOW_MS = 30_000


class BacklogDetails(ScalerDetails):
    """``scaler.details`` for ``type: backlog`` (a target number of tasks per worker)."""

    algorithm_name = "backlog"

    min_count: Annotated[int, temporal_int(0, int32=True)] = 0
    """Never fewer workers than this."""

    max_count: Annotated[int, temporal_int(1, int32=True)] = 10
    """Never more workers than this."""

    target_per_worker: Annotated[float, temporal_float(0, exclusive=True)] = 10.0
    """Tasks (waiting + executing) one worker should carry: typically its slot count."""

    scale_down_cooldown_ms: Annotated[int, temporal_int(0)] = 10_000
    """Idle time before scaling to zero; stabilization window for partial scale-downs."""

    metrics_poll_interval_ms: Annotated[int, temporal_int(100)] = 1_000
    """How often the controller observes the group."""

    backlog_age_slo_ms: Annotated[int | None, temporal_int(1)] = None
    """Add workers when the oldest waiting task has waited longer than this. Off by default."""

    max_scale_up_step: Annotated[int | None, temporal_int(1, int32=True)] = None
    """At most this many workers added per decision. Unlimited by default."""

    @model_validator(mode="after")
    def _cross_field_rules(self) -> BacklogDetails:
        if self.min_count > self.max_count:
            raise rule_error(
                f"min_count ({self.min_count}) must not exceed max_count ({self.max_count})"
            )
        return self


@dataclass(frozen=True)
class BacklogState:
    """What ``backlog`` remembers between observations.

    Attributes:
        size: the size last asked for (worker-set) or the last desired count (invoke); ``None``
            before the first decision.
        window: ``(t_ms, desired)`` samples of the last ``scale_down_cooldown_ms``, kept as a
            monotonic queue (each entry's desired is greater than every later one), so the
            window maximum is the first entry and the tuple stays at most ``max_count + 1`` long.
        observing_since_ms: the first observation; the window is complete one cooldown later.
        started: ``(t_ms, count)`` of the invokes asked for within the last
            :data:`STARTUP_WINDOW_MS` (invoke strategy): the workers that may still be starting.
    """

    size: int | None = None
    window: tuple[tuple[int, int], ...] = ()
    observing_since_ms: int | None = None
    started: tuple[tuple[int, int], ...] = ()

    def window_max(self) -> int | None:
        return self.window[0][1] if self.window else None

    def recently_started(self, now_ms: int) -> int:
        """Workers asked for within the startup window before ``now_ms``."""
        return sum(n for t, n in self.started if t > now_ms - STARTUP_WINDOW_MS)


def _push(state: BacklogState, now_ms: int, desired: int, cooldown_ms: int) -> BacklogState:
    """Add a sample to the stabilization window and drop what fell out of it."""
    kept = [(t, v) for t, v in state.window if t >= now_ms - cooldown_ms and v > desired]
    kept.append((now_ms, desired))
    since = now_ms if state.observing_since_ms is None else state.observing_since_ms
    return replace(state, window=tuple(kept), observing_since_ms=since)


class BacklogScaler:
    """Sizes a group to its waiting + executing tasks; up at once, down after a cooldown."""

    strategy: Strategy

    def __init__(self, details: BacklogDetails, strategy: Strategy) -> None:
        self.details = details
        self.strategy = strategy

    @property
    def poll_interval_s(self) -> float:
        return self.details.metrics_poll_interval_ms / 1000.0

    def initial_state(self, now: float) -> BacklogState:
        return BacklogState()

    def desired(self, metrics: GroupMetrics, recently_started: int = 0) -> tuple[int, str]:
        """The desired worker count for one observation, and the inputs that produced it.

        ``recently_started``: workers asked for within the startup window; with no readiness
        from the provider, those the server does not list as pollers yet are still starting.
        """
        d = self.details
        stats, census = metrics.stats, metrics.workers
        backlog = max(0, stats.backlog_count)
        if census.in_flight is not None:
            in_flight = max(0, census.in_flight)
            in_flight_txt = f"in_flight={in_flight}"
        else:
            active = (
                backlog > 0
                or stats.dispatch_rate > IDLE_RATE_EPSILON
                or stats.add_rate > IDLE_RATE_EPSILON
            )
            # Workers still starting (running but not yet ready) are capacity on its way, not
            # load: counting them as busy would start yet another worker every cycle until the
            # first poller shows up.
            if census.ready is not None:
                busy = min(census.ready, census.running)
                starting_txt = ""
            else:
                unseen = max(0, census.running - stats.pollers)
                starting = min(recently_started, unseen)
                busy = census.running - starting
                starting_txt = f", {starting} starting" if starting else ""
            in_flight = math.ceil(busy * d.target_per_worker) if active else 0
            in_flight_txt = (
                f"in_flight~{in_flight} (unknown; {busy} polling workers assumed "
                f"{'busy' if active else 'idle'}{starting_txt}, "
                f"dispatch={stats.dispatch_rate:g}/s add={stats.add_rate:g}/s)"
            )
        raw = math.ceil((backlog + in_flight) / d.target_per_worker)
        desired = min(max(raw, d.min_count), d.max_count)
        txt = (
            f"backlog={backlog} {in_flight_txt} target={d.target_per_worker:g}/worker "
            f"-> desired {raw}"
        )
        if desired != raw:
            txt += f", clamped to {'max' if raw > desired else 'min'} {desired}"
        slo = d.backlog_age_slo_ms
        age_ms = stats.backlog_age_s * 1000.0
        if slo is not None and backlog > 0 and age_ms > slo:
            boosted = min(d.max_count, max(desired + 1, math.ceil(desired * SLO_BOOST)))
            if boosted > desired:
                txt += f"; backlog age {age_ms:.0f}ms > SLO {slo}ms -> {boosted}"
                desired = boosted
            else:
                txt += f"; backlog age {age_ms:.0f}ms > SLO {slo}ms but already at max"
        return desired, txt

    def decide(
        self, state: BacklogState, metrics: GroupMetrics | None, now: float
    ) -> tuple[BacklogState, Decision]:
        d = self.details
        now_ms = to_ms(now)
        cooldown = d.scale_down_cooldown_ms
        if metrics is None:
            # A blind cycle counts as "keep the current size": it can never lead to a scale-down.
            if state.size is not None:
                state = _push(state, now_ms, state.size, cooldown)
            return state, Hold(reason="metrics unavailable: holding the current size")

        invoke = self.strategy is Strategy.INVOKE
        desired, inputs = self.desired(metrics, state.recently_started(now_ms) if invoke else 0)
        state = _push(state, now_ms, desired, cooldown)
        running = metrics.workers.running

        if invoke:
            started = tuple((t, n) for t, n in state.started if t > now_ms - STARTUP_WINDOW_MS)
            state = replace(state, size=desired, started=started)
            missing = desired - running
            if missing <= 0:
                return state, Hold(
                    reason=f"{inputs}; {running} running: enough (idle workers exit by themselves)"
                )
            count = missing if d.max_scale_up_step is None else min(missing, d.max_scale_up_step)
            step = f" (step limit {d.max_scale_up_step})" if count < missing else ""
            state = replace(state, started=(*started, (now_ms, count)))
            return state, StartWorkers(
                count=count, reason=f"{inputs}; {running} running -> start {count}{step}"
            )

        # Worker-set: the provider's desired size is the truth when it reports one.
        census_size = metrics.workers.desired
        if census_size is not None:
            current = census_size
        elif state.size is not None:
            current = state.size
        else:
            current = running
        if desired > current:
            target = desired
            if d.max_scale_up_step is not None:
                target = max(d.min_count, min(desired, current + d.max_scale_up_step))
            step = f" (step limit {d.max_scale_up_step})" if target < desired else ""
            state = replace(state, size=target)
            return state, SetSize(size=target, reason=f"{inputs}; size {current} -> {target}{step}")
        if desired == current:
            return replace(state, size=current), Hold(reason=f"{inputs}; size {current}: steady")
        # desired < current
        if current > d.max_count:
            state = replace(state, size=d.max_count)
            return state, SetSize(
                size=d.max_count, reason=f"{inputs}; size {current} above max -> {d.max_count}"
            )
        peak = state.window_max()
        assert peak is not None  # the window holds at least the sample just pushed
        since = state.observing_since_ms if state.observing_since_ms is not None else now_ms
        observed_ms = now_ms - since
        if observed_ms < cooldown:
            state = replace(state, size=current)
            return state, Hold(
                reason=f"{inputs}; size {current}: scale-down waits until the group has been "
                f"observed for the {cooldown}ms cooldown ({observed_ms}ms so far)"
            )
        if peak >= current:
            state = replace(state, size=current)
            return state, Hold(
                reason=f"{inputs}; size {current}: desired reached {peak} within the last "
                f"{cooldown}ms cooldown, holding"
            )
        state = replace(state, size=peak)
        why = "idle" if peak == 0 else f"highest desired {peak}"
        return state, SetSize(
            size=peak,
            reason=f"{inputs}; size {current} -> {peak} ({why} over the whole {cooldown}ms "
            "cooldown)",
        )
